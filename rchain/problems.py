"""NuminaMath-CoT problems: load from ModelScope, the HF hub or a local file; select; stable ids.

The dataset has no ids, so a problem's id is derived from its content (source and problem text):
the same problem gets the same id on every box and every run, which is what makes resume and
sharding safe. Duplicate problems are counted and skipped. A bad row (undecodable line, missing
field, wrong type) is reported with its file and line and skipped; the run goes on.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rchain.config import LOCAL_DATA_SUFFIXES, NUMINA_SOURCES, ProblemsSection
from rchain.errors import DataError

REQUIRED_FIELDS = ("source", "problem", "solution")


@dataclass(frozen=True)
class Problem:
    id: str
    source: str
    problem: str
    solution: str


@dataclass
class LoadReport:
    """What loading found besides good problems, for the stage's log and events."""

    rows: int = 0
    bad_rows: list[str] = field(default_factory=list)
    duplicates: int = 0
    unknown_sources: int = 0
    selected: int = 0

    def summary(self) -> str:
        return (
            f"{self.rows:,} rows read, {len(self.bad_rows):,} bad, {self.duplicates:,} duplicates, "
            f"{self.selected:,} selected"
        )


def problem_id(source: str, problem: str) -> str:
    """Stable, content-derived id (the dataset has none)."""
    digest = hashlib.sha256(f"{source}\n{problem.strip()}".encode()).hexdigest()
    return digest[:16]


def row_to_problem(row: object, where: str, report: LoadReport) -> Problem | None:
    """Validate one row; a bad one is reported (naming `where`) and skipped."""
    if not isinstance(row, dict):
        report.bad_rows.append(f"{where}: expected a JSON object, got {type(row).__name__}")
        return None
    missing = [name for name in REQUIRED_FIELDS if name not in row or row[name] is None]
    if missing:
        report.bad_rows.append(f"{where}: missing field {', '.join(missing)}")
        return None
    wrong = [name for name in REQUIRED_FIELDS if not isinstance(row[name], str)]
    if wrong:
        kinds = ", ".join(f"{n} is {type(row[n]).__name__}" for n in wrong)
        report.bad_rows.append(f"{where}: expected strings, but {kinds}")
        return None
    if not row["problem"].strip():
        report.bad_rows.append(f"{where}: empty problem")
        return None
    source = row["source"]
    return Problem(problem_id(source, row["problem"]), source, row["problem"], row["solution"])


# ---------------------------------------------------------------------------------------------
# Readers: each yields (where, row) so errors can name the file and line or row.


def read_jsonl_rows(path: Path, report: LoadReport) -> Iterator[tuple[str, object]]:
    import orjson

    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                yield where, orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                report.bad_rows.append(f"{where}: not valid JSON ({exc})")


def read_table_rows(paths: list[Path], split: str | None = None) -> Iterator[tuple[str, object]]:
    """Parquet (or JSON) files as the hubs store them, read with `datasets`."""
    import datasets

    suffix = paths[0].suffix
    builder = "parquet" if suffix == ".parquet" else "json"
    table = datasets.load_dataset(builder, data_files=[str(p) for p in paths], split="train")
    for index, row in enumerate(table):
        yield f"{paths[0] if len(paths) == 1 else paths[0].parent}: row {index}", row


def hub_split_files(directory: Path, split: str) -> list[Path]:
    """Files of one split in a dataset repository laid out as on the hubs
    (`data/train-00000-of-00004.parquet`, or `train.jsonl` at the top)."""
    patterns = [f"data/{split}-*", f"data/{split}.*", f"{split}-*", f"{split}.*", f"**/{split}-*"]
    for pattern in patterns:
        found = sorted(p for p in directory.glob(pattern) if p.suffix in LOCAL_DATA_SUFFIXES)
        if found:
            return found
    raise DataError(f"{directory}: no files for split {split!r} (looked for data/{split}-*.parquet and similar)")


def download(dataset: str, hub: str, split: str) -> Path:
    """Fetch a dataset repository snapshot from its hub into the local cache; return the folder."""
    try:
        if hub == "modelscope":
            from modelscope.hub.snapshot_download import snapshot_download as ms_snapshot

            return Path(ms_snapshot(repo_id=dataset, repo_type="dataset", allow_patterns=[f"*{split}*"]))
        from huggingface_hub import snapshot_download as hf_snapshot

        return Path(hf_snapshot(repo_id=dataset, repo_type="dataset", allow_patterns=[f"*{split}*"]))
    except Exception as exc:  # every hub client has its own error types; all mean "not available"
        raise DataError(
            f"problems.dataset: cannot fetch {dataset!r} from {hub}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
            hint="offline? point problems.dataset at a local .jsonl/.parquet file or a downloaded copy",
        ) from None


def iter_rows(section: ProblemsSection, report: LoadReport, fetch: Callable[[str, str, str], Path] = download) -> Iterator[tuple[str, object]]:
    source = section.dataset
    path = Path(source)
    if path.is_absolute() or path.exists():
        if not path.exists():
            raise DataError(f"problems.dataset: {path}: no such file")
        if path.is_dir():
            yield from read_table_rows(hub_split_files(path, section.split))
        elif path.suffix == ".jsonl":
            yield from read_jsonl_rows(path, report)
        elif path.suffix in (".parquet", ".json"):
            yield from read_table_rows([path])
        else:
            raise DataError(f"problems.dataset: {path}: expected a .jsonl or .parquet file")
        return
    directory = fetch(source, section.hub, section.split)
    yield from read_table_rows(hub_split_files(directory, section.split))


# ---------------------------------------------------------------------------------------------
# Selection


def select(problems: Iterable[Problem], section: ProblemsSection, report: LoadReport) -> list[Problem]:
    """Filter by source, drop duplicates, take a seeded sample of `limit`, then this box's shard."""
    wanted = set(section.sources or NUMINA_SOURCES)
    seen: set[str] = set()
    kept: list[Problem] = []
    for problem in problems:
        if problem.source not in wanted:
            if problem.source not in NUMINA_SOURCES:
                report.unknown_sources += 1
            continue
        if problem.id in seen:
            report.duplicates += 1
            continue
        seen.add(problem.id)
        kept.append(problem)
    if section.limit and section.limit < len(kept):
        picked = sorted(random.Random(section.seed).sample(range(len(kept)), section.limit))
        kept = [kept[i] for i in picked]
    index, count = (int(part) for part in section.shard.split("/"))
    if count > 1:
        # By id, not position: every box computes the same split whatever order it read rows in.
        kept = [p for p in kept if int(p.id, 16) % count == index]
    report.selected = len(kept)
    return kept


def load_problems(section: ProblemsSection, fetch: Callable[[str, str, str], Path] = download) -> tuple[list[Problem], LoadReport]:
    report = LoadReport()

    def valid() -> Iterator[Problem]:
        for where, row in iter_rows(section, report, fetch):
            report.rows += 1
            problem = row_to_problem(row, where, report)
            if problem is not None:
                yield problem

    return select(valid(), section, report), report
