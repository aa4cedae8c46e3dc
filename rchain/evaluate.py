"""The eval stage: evalscope against a deployed model, and the comparison report.

evalscope does the work (prompts, answer extraction, math-verify grading, pass@k); this module
builds its TaskConfig from the pipeline config, converts local benchmark copies into the layout
evalscope reads, watches its prediction files for progress, and reads its reviews and reports
back into one result per model and benchmark: Pass@1 (mean accuracy over the repeats), each
repeat's accuracy with mean and standard error, pass@k, truncation, output length, MATH-500 by
level and subject, and the protocol that produced the numbers.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
import threading
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from rchain.config import PipelineConfig
from rchain.errors import DataError, NotFound, StageFailed
from rchain.events import EvalProgress, EvalResult
from rchain.present import BENCHMARK_NAMES
from rchain.records import iter_jsonl, iter_objects
from rchain.runs import RunDir

#: evalscope's local layout: the split file each benchmark's adapter loads.
SPLIT_FILE = {"math_500": "test.jsonl", "gpqa_diamond": "train.jsonl"}
GPQA_KEYS = ("Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")
RESULTS_FILE = "results.json"
PROGRESS_EVERY_S = 2.0


# -- benchmark data ------------------------------------------------------------------------------


def _read_rows(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(where, row) for each row of a .jsonl, .json, .csv or .parquet file, or of the first
    such file in a folder; `where` is `file:line` for messages."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in {".jsonl", ".json", ".csv", ".parquet"})
        if not files:
            raise DataError(f"{path}: no .jsonl, .json, .csv or .parquet file in this folder")
        path = files[0]
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as fh:
            return [(f"{path}:{i + 2}", row) for i, row in enumerate(csv.DictReader(fh))]
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return [(f"{path}: row {i + 1}", row) for i, row in enumerate(pq.read_table(path).to_pylist())]
    if path.suffix == ".json":
        data = orjson.loads(path.read_bytes())
        return [(f"{path}: item {i + 1}", row) for i, row in enumerate(data)]
    out = []
    for lineno, row in iter_jsonl(path):
        if not isinstance(row, dict):
            raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
        out.append((f"{path}:{lineno}", row))
    return out


def _require(where: str, row: dict[str, Any], key: str) -> Any:
    value = row.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DataError(f"{where}: missing field {key!r}")
    return value


def _math_row(where: str, row: dict[str, Any], index: int) -> dict[str, Any]:
    level = row.get("level", 0)
    if isinstance(level, str):  # "Level 3" in some copies
        digits = "".join(ch for ch in level if ch.isdigit())
        level = int(digits) if digits else 0
    return {
        "problem": _require(where, row, "problem"),
        "solution": row.get("solution") or "",
        "answer": str(_require(where, row, "answer")),
        "subject": row.get("subject") or row.get("type") or "",
        "level": int(level),
        "unique_id": row.get("unique_id") or f"rchain/{index}",
    }


def _gpqa_row(where: str, row: dict[str, Any], index: int) -> dict[str, Any]:
    return {key: str(_require(where, row, key)).strip() for key in GPQA_KEYS}


CONVERTERS = {"math_500": _math_row, "gpqa_diamond": _gpqa_row}


def prepare_benchmark(name: str, source: Path, dest: Path, limit: int = 0) -> int:
    """Convert a local copy of benchmark `name` into evalscope's layout under `dest`; the first
    `limit` rows (0: all). Returns the number of problems."""
    rows = _read_rows(source)
    if limit:
        rows = rows[:limit]
    converted = [CONVERTERS[name](where, row, i) for i, (where, row) in enumerate(rows)]
    if not converted:
        raise DataError(f"{source}: no {name} rows")
    dest.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in converted)
    target = dest / SPLIT_FILE[name]
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")
    return len(converted)


def prepare_benchmarks(config: PipelineConfig, run: RunDir) -> dict[str, tuple[Path, int] | None]:
    """benchmark -> (local folder, problems) for the benchmarks with a local copy; None for the
    ones evalscope downloads itself."""
    out: dict[str, tuple[Path, int] | None] = {}
    for name in config.eval.benchmarks:
        source = config.eval.local_paths.get(name)
        if source is None:
            out[name] = None
            continue
        if not Path(source).exists():
            raise DataError(f"eval.local_paths.{name}: {source}: no such file or folder")
        dest = run.root / "eval" / "data" / name
        out[name] = (dest, prepare_benchmark(name, Path(source), dest, config.eval.limit))
    return out


# -- the task ------------------------------------------------------------------------------------


def task_arguments(
    config: PipelineConfig, model: str, url: str, data: dict[str, tuple[Path, int] | None], work_dir: Path
) -> dict[str, Any]:
    """evalscope TaskConfig arguments (plain data: the dry run prints them as they are)."""
    ev = config.eval
    dataset_args: dict[str, Any] = {}
    for name in ev.benchmarks:
        args: dict[str, Any] = {"aggregation": "mean_and_pass_at_k"}
        local = data.get(name)
        if local is not None:
            args["local_path"] = str(local[0])
        dataset_args[name] = args
    task: dict[str, Any] = {
        "model": model,
        "api_url": url,
        "api_key": "EMPTY",
        "eval_type": "openai_api",
        "datasets": list(ev.benchmarks),
        "dataset_args": dataset_args,
        "repeats": ev.repeats,
        "eval_batch_size": ev.concurrency,
        "generation_config": {"max_tokens": ev.max_tokens, "temperature": ev.temperature, "top_p": ev.top_p},
        "work_dir": str(work_dir),
        "no_timestamp": True,
    }
    if (work_dir / "predictions").is_dir():
        task["use_cache"] = str(work_dir)  # a stopped eval resumes without regenerating
    return task


def _task_config(arguments: dict[str, Any]):
    from evalscope import TaskConfig
    from evalscope.api.metric.semantics import MetricSelector

    arguments = json.loads(json.dumps(arguments))
    # With several metrics (mean and pass@k) evalscope needs the primary one as an object.
    for args in arguments["dataset_args"].values():
        args["primary_metric"] = MetricSelector(name="accuracy", aggregation="pass_at_k", dimensions={"k": 1})
    return TaskConfig(**arguments)


def dry_run(config: PipelineConfig, run: RunDir, name: str) -> str:
    from rchain.serve import base_url

    data = {n: ((run.root / "eval" / "data" / n), 0) if n in config.eval.local_paths else None for n in config.eval.benchmarks}
    args = task_arguments(config, name, base_url(config, name), data, run.eval_dir(name))
    args.pop("use_cache", None)
    for bench in args["dataset_args"].values():
        bench["primary_metric"] = "accuracy pass_at_k k=1"
    return "evalscope TaskConfig:\n" + json.dumps(args, indent=2)


# -- results -------------------------------------------------------------------------------------


@dataclass
class BenchmarkResult:
    model: str
    benchmark: str
    problems: int
    repeats: int
    #: Mean accuracy over every generation: Pass@1 averaged over the repeats.
    pass1: float
    #: Accuracy of each repeat (generation index 0..repeats-1), their mean and standard error.
    repeat_accuracies: list[float]
    mean: float
    stderr: float
    #: k -> unbiased pass@k from the same generations.
    pass_at_k: dict[int, float]
    #: Share of generations that stopped at max_tokens.
    truncation_rate: float
    mean_output_tokens: float
    by_level: dict[str, float] = field(default_factory=dict)
    by_subject: dict[str, float] = field(default_factory=dict)
    protocol: dict[str, Any] = field(default_factory=dict)


def _files(folder: Path, benchmark: str) -> list[Path]:
    # One file per subset: `math_500_Level 1.jsonl`, `gpqa_diamond_default.jsonl`.
    return sorted(p for p in folder.glob(f"{benchmark}_*.jsonl"))


def collect_results(work_dir: Path, model: str, config: PipelineConfig, data: dict[str, tuple[Path, int] | None]) -> list[BenchmarkResult]:
    results = []
    for benchmark in config.eval.benchmarks:
        report_path = work_dir / "reports" / model / f"{benchmark}.json"
        if not report_path.is_file():
            raise StageFailed(f"evalscope wrote no report for {benchmark}: {report_path} is missing")
        report = orjson.loads(report_path.read_bytes())
        reviews = [r for f in _files(work_dir / "reviews" / model, benchmark) for r in iter_objects(f)]
        predictions = [p for f in _files(work_dir / "predictions" / model, benchmark) for p in iter_objects(f)]
        results.append(_result(model, benchmark, report, reviews, predictions, config, data.get(benchmark)))
    return results


def _score(review: dict[str, Any]) -> float:
    return float(review["sample_score"]["score"]["value"].get("accuracy", 0.0))


def _result(model, benchmark, report, reviews, predictions, config, local) -> BenchmarkResult:
    by_repeat: dict[int, list[float]] = defaultdict(list)
    for review in reviews:
        by_repeat[int(review["sample_score"].get("generation_index", 0))].append(_score(review))
    repeat_acc = [statistics.fmean(by_repeat[r]) for r in sorted(by_repeat)]
    stderr = statistics.stdev(repeat_acc) / math.sqrt(len(repeat_acc)) if len(repeat_acc) > 1 else 0.0
    pass_at_k: dict[int, float] = {}
    pass1 = None
    by_level: dict[str, float] = {}
    for metric in report.get("metrics", []):
        identity = metric.get("identity", {})
        if identity.get("aggregation") == "pass_at_k":
            pass_at_k[int(identity.get("dimensions", {}).get("k", 0))] = float(metric["score"])
        elif identity.get("aggregation") == "mean":
            pass1 = float(metric["score"])
            for category in metric.get("categories", []):
                for subset in category.get("subsets", []):
                    if str(subset.get("name", "")).startswith("Level"):
                        by_level[subset["name"]] = float(subset["score"])
    if pass1 is None:
        raise StageFailed(f"evalscope's {benchmark} report has no mean accuracy")
    stops = [p["model_output"]["choices"][0].get("stop_reason") for p in predictions if p.get("model_output") and p["model_output"].get("choices")]
    tokens = [p["model_output"].get("usage", {}).get("output_tokens") or 0 for p in predictions if p.get("model_output")]
    return BenchmarkResult(
        model=model,
        benchmark=benchmark,
        # (group ids restart in each subset, such as MATH-500's levels: count generations)
        problems=len(reviews) // len(repeat_acc) if repeat_acc else 0,
        repeats=len(repeat_acc),
        pass1=pass1,
        repeat_accuracies=repeat_acc,
        mean=statistics.fmean(repeat_acc) if repeat_acc else 0.0,
        stderr=stderr,
        pass_at_k=dict(sorted(pass_at_k.items())),
        truncation_rate=sum(1 for s in stops if s in {"max_tokens", "length"}) / len(stops) if stops else 0.0,
        mean_output_tokens=statistics.fmean(tokens) if tokens else 0.0,
        by_level=dict(sorted(by_level.items())),
        by_subject=_by_subject(reviews, local),
        protocol=_protocol(config, predictions),
    )


def _by_subject(reviews: list[dict[str, Any]], local: tuple[Path, int] | None) -> dict[str, float]:
    subjects: dict[str, str] = {}
    if local is not None and (local[0] / SPLIT_FILE["math_500"]).is_file():
        for line in (local[0] / SPLIT_FILE["math_500"]).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            subjects[row.get("unique_id", "")] = row.get("subject", "")
    scores: dict[str, list[float]] = defaultdict(list)
    for review in reviews:
        question = (review["sample_score"].get("sample_metadata") or {}).get("question_id")
        if not question:
            continue
        subject = subjects.get(question) or (question.split("/")[1].replace("_", " ").title() if question.count("/") >= 2 else "")
        if subject:
            scores[subject].append(_score(review))
    return {s: statistics.fmean(v) for s, v in sorted(scores.items())}


def _protocol(config: PipelineConfig, predictions: list[dict[str, Any]]) -> dict[str, Any]:
    import evalscope

    messages = predictions[0].get("messages", []) if predictions else []
    system = next((m.get("content") for m in messages if m.get("role") == "system"), None)
    user = next((m.get("content") for m in messages if m.get("role") == "user"), None)
    return {
        "harness": f"evalscope {evalscope.__version__}",
        "eval_type": "openai_api",
        "repeats": config.eval.repeats,
        "temperature": config.eval.temperature,
        "top_p": config.eval.top_p,
        "max_tokens": config.eval.max_tokens,
        "system_prompt": system if isinstance(system, str) else None,
        "example_prompt": user if isinstance(user, str) else json.dumps(user),
    }


def read_results(run: RunDir) -> list[BenchmarkResult]:
    out = []
    eval_root = run.root / "eval"
    for path in sorted(eval_root.glob(f"*/{RESULTS_FILE}")):
        for item in orjson.loads(path.read_bytes()):
            item["pass_at_k"] = {int(k): v for k, v in item["pass_at_k"].items()}
            out.append(BenchmarkResult(**item))
    return out


# -- the report ----------------------------------------------------------------------------------


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_report(run: RunDir, config: PipelineConfig | None) -> tuple[str, list[Path]]:
    """Write report.md, report.csv and report.json into the run; return the Markdown table."""
    results = read_results(run)
    if not results:
        raise NotFound(f"{run.root / 'eval'}: no evaluation results yet", hint="run the eval stage first")
    order = ([v.name for v in config.variants] + [_baseline(b) for b in config.eval.baselines]) if config else None
    from rchain.present import comparison

    header, rows = comparison(results, order)
    table = markdown_table(header, rows)
    protocols = {r.benchmark: r.protocol for r in results}
    notes = "".join(f"\n{BENCHMARK_NAMES.get(b, b)}: {p.get('harness')}, {p.get('repeats')} samples per problem, temperature {p.get('temperature')}, top_p {p.get('top_p')}, max_tokens {p.get('max_tokens')}" for b, p in protocols.items())
    md = "# Evaluation\n\nPass@1 is the mean accuracy over the samples, ± the standard error over the repeats (percent).\n\n" + table + notes + "\n"
    out_csv = io.StringIO()
    writer = csv.writer(out_csv)
    writer.writerow(header)
    writer.writerows(rows)
    paths = [run.root / "report.md", run.root / "report.csv", run.root / "report.json"]
    paths[0].write_text(md, encoding="utf-8")
    paths[1].write_text(out_csv.getvalue(), encoding="utf-8")
    paths[2].write_bytes(orjson.dumps([asdict(r) for r in results], option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    return table, paths


def _baseline(model: str) -> str:
    from rchain.serve import baseline_name

    return baseline_name(model)


# -- the stage -----------------------------------------------------------------------------------


class PredictionWatcher:
    """Counts evalscope's prediction lines per benchmark while it runs, and the accuracy of the
    reviewed ones, into EvalProgress events."""

    def __init__(self, ctx, model: str, work_dir: Path, totals: dict[str, int | None]) -> None:
        self.ctx, self.model, self.work_dir, self.totals = ctx, model, work_dir, totals
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="eval-progress", daemon=True)
        self._last: dict[str, tuple[int, int]] = {}

    def __enter__(self) -> PredictionWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.poll()

    def _loop(self) -> None:
        while not self._stop.wait(PROGRESS_EVERY_S):
            self.poll()

    def poll(self) -> None:
        for benchmark, total in self.totals.items():
            done = sum(_count_lines(p) for p in _files(self.work_dir / "predictions" / self.model, benchmark))
            reviews = [r for f in _files(self.work_dir / "reviews" / self.model, benchmark) for r in iter_objects(f)]
            key = (done, len(reviews))
            if self._last.get(benchmark) == key:
                continue
            self._last[benchmark] = key
            accuracy = statistics.fmean(_score(r) for r in reviews) if reviews else None
            self.ctx.events.emit(EvalProgress(model=self.model, benchmark=benchmark, done=done, total=total, reviewed=len(reviews), accuracy=accuracy))


def _count_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def run(ctx) -> None:
    from rchain.serve import base_url, served_models

    config: PipelineConfig = ctx.config
    name = ctx.target
    url = base_url(config, name)
    served = served_models(url)
    if served is None or name not in served:
        found = "nothing answers" if served is None else f"it serves {', '.join(served) or 'no model'}"
        raise NotFound(
            f"{name} is not served at {url} ({found})",
            hint=f"rchain eval and rchain run deploy it themselves; or: rchain start {ctx.run.config_path} deploy:{name}",
        )
    data = prepare_benchmarks(config, ctx.run)
    work_dir = ctx.run.eval_dir(name)
    work_dir.mkdir(parents=True, exist_ok=True)
    arguments = task_arguments(config, name, url, data, work_dir)
    if "use_cache" in arguments:
        ctx.message(f"resuming from the predictions in {work_dir}")
    totals = {b: (data[b][1] * config.eval.repeats if data.get(b) else None) for b in config.eval.benchmarks}
    for bench, local in data.items():
        ctx.message(f"{bench}: " + (f"{local[1]} problems from {config.eval.local_paths[bench]}" if local else "from the hub"))

    from evalscope import run_task

    with PredictionWatcher(ctx, name, work_dir, totals):
        run_task(task_cfg=_task_config(arguments))
    results = collect_results(work_dir, name, config, data)
    (work_dir / RESULTS_FILE).write_bytes(orjson.dumps([asdict(r) for r in results], option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    for r in results:
        ctx.events.emit(
            EvalResult(
                key=f"{r.model}/{r.benchmark}",
                model=r.model,
                benchmark=r.benchmark,
                pass1=r.pass1,
                stderr=r.stderr,
                repeat_accuracies=r.repeat_accuracies,
                pass_at_k={str(k): v for k, v in r.pass_at_k.items()},
                truncation_rate=r.truncation_rate,
                mean_output_tokens=r.mean_output_tokens,
                problems=r.problems,
            )
        )
        ctx.message(f"{BENCHMARK_NAMES.get(r.benchmark, r.benchmark)}: Pass@1 {100 * r.pass1:.1f} ± {100 * r.stderr:.1f} over {r.repeats} repeats of {r.problems} problems")
