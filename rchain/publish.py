"""The publish stage: each teacher's dataset laid out as the seed's MathR is, with a provenance card.

`<run>/publish/<teacher>/` holds the `raw` and `clean` subsets as JSONL shards and a README.md
whose YAML header declares both configs (so `datasets.load_dataset(DIR, "clean")` reads them) and
whose body records how the data was made: teacher and generation parameters, prompt and reply
template, dates, counts and pass rates per source, the verdict reasons, filter and keep policy,
decontamination, library versions and the pipeline config. Uploads go to ModelScope (modelscope's
HubApi) or the HuggingFace Hub (huggingface_hub), token from an environment variable.

Shards hold `publish.shard_rows` lines each, in the order of the JSONL they come from. The raw
subset only ever grows at its end, so a full shard never changes: `ProgressivePublisher` uploads
each one as generation fills it, and the publish stage later writes the same files again (the hubs
store identical content once) plus the last, partial shard and the final card.
"""

from __future__ import annotations

import importlib.metadata
import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import orjson

from rchain.config import PipelineConfig, Teacher
from rchain.errors import ConfigError, NotFound
from rchain.records import iter_lines
from rchain.runs import RunDir, write_atomic

SHARD_ROWS = 50_000
SUBSETS = ("raw", "clean")
LIBRARIES = ("rchain", "openai", "math-verify", "ms-swift", "evalscope", "datasets")
REPLY_TEMPLATE = "<think>{reasoning_content}</think>\\n\\n<answer>{content}</answer>"


def shard_name(index: int) -> str:
    return f"train-{index:05d}.jsonl"


def write_shards(source: Path, folder: Path, rows_per_shard: int = SHARD_ROWS) -> int:
    """Copy a JSONL file's lines, unchanged, into `train-00000.jsonl`, `train-00001.jsonl`, ...
    of `rows_per_shard` lines each (the last may be shorter)."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("train-*.jsonl"):
        old.unlink()
    lines = [raw.rstrip(b"\n") for _, raw in iter_lines(source)] if source.exists() else []
    shards = max(1, -(-len(lines) // rows_per_shard))
    for i in range(shards):
        chunk = lines[i * rows_per_shard : (i + 1) * rows_per_shard]
        (folder / shard_name(i)).write_bytes(b"".join(line + b"\n" for line in chunk))
    return len(lines)


def _versions() -> dict[str, str]:
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _stats(run: RunDir, teacher: str) -> dict:
    by_source: dict[str, Counter[str]] = defaultdict(Counter)
    reasons: Counter[str] = Counter()
    flags: Counter[str] = Counter()
    for _, raw in iter_lines(run.verdicts_path(teacher)) if run.verdicts_path(teacher).exists() else ():
        verdict = orjson.loads(raw)
        by_source[verdict["source"]][verdict["label"]] += 1
        reasons[verdict["reason"]] += 1
        flags.update(verdict.get("flags", []))
    return {"by_source": by_source, "reasons": reasons, "flags": flags}


def _date(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts)) if ts else "-"


def dataset_card(config: PipelineConfig, run: RunDir, teacher: Teacher, counts: dict[str, int]) -> str:
    """The card; its YAML header declares a config for each subset in `counts`."""
    stats = _stats(run, teacher.name)
    generate = run.read_state("generate")
    header = [
        "---",
        "language:",
        "- en",
        "- zh",
        "tags:",
        "- math",
        "- reasoning",
        "- distillation",
        "configs:",
    ]
    for subset in counts:
        header += [f"- config_name: {subset}", "  data_files:", "  - split: train", f"    path: {subset}/train-*.jsonl"]
    header += ["---", ""]
    g = teacher.generation
    lines = [
        f"# {teacher.name}",
        "",
        f"Replies of `{teacher.model}` to NuminaMath-CoT problems, made with rchain: `raw` holds every reply,",
        "`clean` the replies whose final answer checks out against the reference solution.",
        "",
        "| subset | rows |",
        "|---|---|",
        *[f"| {subset} | {counts[subset]:,} |" for subset in counts],
        "",
        "## Generation",
        "",
        f"- teacher: `{teacher.model}` at an OpenAI-compatible API; {teacher.samples_per_problem} sample(s) per problem",
        f"- sampling: temperature {g.temperature}, top_p {g.top_p}, max_tokens {g.max_tokens}",
        f"- user prompt: the problem, a newline, then `{config.prompt.instruction}`",
        f"- system prompt stored in `messages`{' and sent' if config.prompt.send_system else ' (not sent to the API)'}: `{config.prompt.system}`",
        f"- assistant content: `{REPLY_TEMPLATE}`",
        f"- problems: `{Path(config.problems.dataset).name if Path(config.problems.dataset).exists() else config.problems.dataset}`, split `{config.problems.split}`",
        f"- generated: {_date(generate.started_at if generate else None)} to {_date(generate.ended_at if generate else None)}",
        "",
        "## Filter",
        "",
        f"- rule-based answer checking per source (multiple choice, numbers, math-verify equivalence); unverifiable replies: {config.filter.unverifiable}; keep: {config.filter.keep}",
        f"- decontamination against {', '.join(config.eval.benchmarks)} (8-gram overlap): {'on' if config.filter.decontaminate else 'off'}; "
        f"replies flagged: {sum(n for f, n in stats['flags'].items() if f.startswith('contaminated'))}",
        "",
        "| source | replies | correct | wrong | unverifiable | malformed | pass rate |",
        "|---|---|---|---|---|---|---|",
    ]
    for source, labels in sorted(stats["by_source"].items()):
        seen = sum(labels.values())
        lines.append(
            f"| {source} | {seen:,} | {labels['correct']:,} | {labels['wrong']:,} | {labels['unverifiable']:,} | {labels['malformed']:,} | {100 * labels['correct'] / seen:.1f}% |"
        )
    lines += ["", "Verdict reasons:", "", "| reason | replies |", "|---|---|"]
    lines += [f"| {reason} | {n:,} |" for reason, n in stats["reasons"].most_common()]
    if stats["flags"]:
        lines += ["", "Problem flags: " + ", ".join(f"{flag} {n:,}" for flag, n in sorted(stats["flags"].items()))]
    lines += ["", "## Software", "", *[f"- {name} {version}" for name, version in _versions().items()]]
    frozen = run.config_path.read_text(encoding="utf-8") if run.config_path.exists() else ""
    lines += ["", "## Pipeline config", "", "```toml", frozen.rstrip(), "```", ""]
    return "\n".join(header + lines)


def export(config: PipelineConfig, run: RunDir, teacher: Teacher) -> Path:
    """Write one teacher's dataset folder; return it."""
    folder = run.root / "publish" / teacher.name
    if not run.raw_path(teacher.name).exists():
        raise NotFound(f"{run.raw_path(teacher.name)}: no raw replies of teacher {teacher.name!r} to publish", hint="run the generate stage first")
    rows = config.publish.shard_rows
    counts = {subset: write_shards(path, folder / subset, rows) for subset, path in (("raw", run.raw_path(teacher.name)), ("clean", run.clean_path(teacher.name)))}
    (folder / "README.md").write_text(dataset_card(config, run, teacher, counts), encoding="utf-8")
    return folder


def repo_for(config: PipelineConfig, teacher: str) -> str:
    """The repository a teacher's dataset goes to: publish.repo_id, with {teacher} filled in."""
    repo = config.publish.repo_id
    if "{teacher}" in repo:
        return repo.replace("{teacher}", teacher)
    if len(config.teachers) > 1:
        raise ConfigError(f"publish.repo_id: {repo!r} names one repository for {len(config.teachers)} teachers; put {{teacher}} in it")
    return repo


def upload(config: PipelineConfig, folder: Path, repo_id: str, files: list[str] | None = None, message: str = "") -> str:
    """Upload a dataset folder (or only `files`, paths relative to it); returns where it went.
    The token comes from publish.token_env."""
    section = config.publish
    token = os.environ.get(section.token_env, "")
    if not token:
        raise ConfigError(f"publish.token_env: the environment variable {section.token_env} holding the {section.hub} token is not set")
    message = message or f"rchain {_versions()['rchain']}: raw and clean subsets"
    if section.hub == "modelscope":
        return _upload_modelscope(section, token, folder, repo_id, files, message)
    from huggingface_hub import HfApi

    api = HfApi(endpoint=section.endpoint or None, token=token)
    api.create_repo(repo_id, repo_type="dataset", private=section.private, exist_ok=True)
    commit = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="dataset", commit_message=message, allow_patterns=files)
    return str(commit.commit_url)


def _upload_modelscope(section, token: str, folder: Path, repo_id: str, files: list[str] | None, message: str) -> str:
    from modelscope.hub.api import HubApi

    api = HubApi(endpoint=section.endpoint or None, token=token)
    api.create_repo(repo_id, repo_type="dataset", visibility="private" if section.private else "public", exist_ok=True)
    api.upload_folder(
        repo_id=repo_id,
        folder_path=str(folder),
        repo_type="dataset",
        commit_message=message,
        allow_patterns=files,
        # Its resumable-upload cache would otherwise sit inside the dataset folder.
        tracker_path=str(folder.parent / f".{folder.name}.upload-cache"),
        disable_tqdm=True,
    )
    return f"{api.endpoint.rstrip('/')}/datasets/{repo_id}"


class ProgressivePublisher:
    """Uploads a teacher's raw subset while generation writes it: each time `shard_rows` more
    complete lines are on disk, the next shard goes up with a provisional card, in a thread of
    its own so that generation never waits for the hub. What was uploaded is remembered in
    `publish/.<teacher>.progress.json`, so a resumed run goes on from there. An upload that fails
    is reported and tried again a minute later; the data stays on disk either way."""

    RETRY_S = 60.0

    def __init__(self, config: PipelineConfig, run: RunDir, teacher: Teacher, report: Callable[[str, str], object]) -> None:
        self.config, self.run, self.teacher, self.report = config, run, teacher, report
        self.folder = run.root / "publish" / teacher.name
        self.state_path = run.root / "publish" / f".{teacher.name}.progress.json"
        state = orjson.loads(self.state_path.read_bytes()) if self.state_path.exists() else {}
        self.shards, self.offset = int(state.get("shards", 0)), int(state.get("offset", 0))
        self.repo = repo_for(config, teacher.name)
        self._thread: threading.Thread | None = None
        self._retry_at = 0.0
        self._shrunk = False

    def poll(self) -> None:
        """Start an upload if a shard is full and none is running; returns at once."""
        if (self._thread and self._thread.is_alive()) or time.monotonic() < self._retry_at:
            return
        self._thread = threading.Thread(target=self._upload_full_shards, name=f"publish-{self.teacher.name}", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 120.0) -> None:
        """Wait for an upload in flight (generation has ended)."""
        if self._thread:
            self._thread.join(timeout)

    def _next_shard(self) -> tuple[bytes, int] | None:
        """The next full shard's bytes and the raw file's offset after it, or None."""
        raw = self.run.raw_path(self.teacher.name)
        rows = self.config.publish.shard_rows
        if not raw.exists():
            return None
        if raw.stat().st_size < self.offset:
            if not self._shrunk:
                self._shrunk = True
                self.report(
                    f"{self.teacher.name}: {raw} is shorter than the {self.shards} shard(s) already uploaded; progressive upload stops "
                    f"(delete {self.state_path} to start over)",
                    "warning",
                )
            return None
        with raw.open("rb") as f:
            f.seek(self.offset)
            lines = []
            for line in f:
                if not line.endswith(b"\n"):
                    break  # a line still being written (or torn): not part of a shard
                lines.append(line)
                if len(lines) == rows:
                    return b"".join(lines), self.offset + sum(map(len, lines))
        return None

    def _upload_full_shards(self) -> None:
        while (shard := self._next_shard()) is not None:
            data, offset = shard
            name = f"raw/{shard_name(self.shards)}"
            (self.folder / "raw").mkdir(parents=True, exist_ok=True)
            (self.folder / name).write_bytes(data)
            rows = (self.shards + 1) * self.config.publish.shard_rows
            # Only `raw` is declared until the publish stage adds `clean`: a config without files would not load.
            (self.folder / "README.md").write_text(dataset_card(self.config, self.run, self.teacher, {"raw": rows}), encoding="utf-8")
            try:
                where = upload(self.config, self.folder, self.repo, files=[name, "README.md"], message=f"rchain: {name} ({rows:,} raw replies so far)")
            except Exception as error:  # a hub or network error must not stop generation
                self._retry_at = time.monotonic() + self.RETRY_S
                self.report(f"{self.teacher.name}: uploading {name} to {self.config.publish.hub} failed ({error}); trying again in a minute", "warning")
                return
            self.shards, self.offset = self.shards + 1, offset
            write_atomic(self.state_path, orjson.dumps({"shards": self.shards, "offset": self.offset, "repo": self.repo}))
            self.report(f"{self.teacher.name}: {name} uploaded to {self.config.publish.hub} {self.repo} ({where}); {rows:,} raw replies published", "info")


def run(ctx) -> None:
    config: PipelineConfig = ctx.config
    for teacher in config.teachers:
        folder = export(config, ctx.run, teacher)
        ctx.message(f"{teacher.name}: dataset laid out in {folder}")
        if config.publish.repo_id:
            repo = repo_for(config, teacher.name)
            url = upload(config, folder, repo)
            ctx.message(f"{teacher.name}: uploaded to {config.publish.hub} {repo} ({url})")
