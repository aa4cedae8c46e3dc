"""The publish stage: each teacher's dataset laid out as the seed's MathR is, with a provenance card.

`<run>/publish/<teacher>/` holds the `raw` and `clean` subsets as JSONL shards and a README.md
whose YAML header declares both configs (so `datasets.load_dataset(DIR, "clean")` reads them) and
whose body records how the data was made: teacher and generation parameters, prompt and reply
template, dates, counts and pass rates per source, the verdict reasons, filter and keep policy,
decontamination, library versions and the pipeline config. The upload goes to the HuggingFace
Hub through huggingface_hub (ModelScope's upload is not built yet), token from an environment
variable.
"""

from __future__ import annotations

import importlib.metadata
import os
import time
from collections import Counter, defaultdict
from pathlib import Path

import orjson

from rchain.config import PipelineConfig, Teacher
from rchain.errors import ConfigError, NotBuiltYet, NotFound
from rchain.records import iter_lines
from rchain.runs import RunDir

SHARD_ROWS = 50_000
SUBSETS = ("raw", "clean")
LIBRARIES = ("rchain", "openai", "math-verify", "ms-swift", "evalscope", "datasets")
REPLY_TEMPLATE = "<think>{reasoning_content}</think>\\n\\n<answer>{content}</answer>"


def write_shards(source: Path, folder: Path, rows_per_shard: int = SHARD_ROWS) -> int:
    """Copy a JSONL file's lines, unchanged, into `train-0000i-of-0000n.jsonl` shards."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("train-*.jsonl"):
        old.unlink()
    lines = [raw.rstrip(b"\n") for _, raw in iter_lines(source)] if source.exists() else []
    shards = max(1, -(-len(lines) // rows_per_shard))
    for i in range(shards):
        chunk = lines[i * rows_per_shard : (i + 1) * rows_per_shard]
        (folder / f"train-{i:05d}-of-{shards:05d}.jsonl").write_bytes(b"".join(line + b"\n" for line in chunk))
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
    for subset in SUBSETS:
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
        *[f"| {subset} | {counts[subset]:,} |" for subset in SUBSETS],
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
    counts = {subset: write_shards(path, folder / subset) for subset, path in (("raw", run.raw_path(teacher.name)), ("clean", run.clean_path(teacher.name)))}
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


def upload(config: PipelineConfig, folder: Path, repo_id: str) -> str:
    """Upload a dataset folder; returns the commit URL. The token comes from publish.token_env."""
    section = config.publish
    token = os.environ.get(section.token_env, "")
    if not token:
        raise ConfigError(f"publish.token_env: the environment variable {section.token_env} holding the {section.hub} token is not set")
    if section.hub != "huggingface":
        raise NotBuiltYet(f"the dataset is laid out in {folder}; uploading to {section.hub} is not built yet (hub = \"huggingface\" is)")
    from huggingface_hub import HfApi

    api = HfApi(endpoint=section.endpoint or None, token=token)
    api.create_repo(repo_id, repo_type="dataset", private=section.private, exist_ok=True)
    commit = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="dataset", commit_message=f"rchain {_versions()['rchain']}: raw and clean subsets")
    return str(commit.commit_url)


def run(ctx) -> None:
    config: PipelineConfig = ctx.config
    for teacher in config.teachers:
        folder = export(config, ctx.run, teacher)
        ctx.message(f"{teacher.name}: dataset laid out in {folder}")
        if config.publish.repo_id:
            repo = repo_for(config, teacher.name)
            url = upload(config, folder, repo)
            ctx.message(f"{teacher.name}: uploaded to {config.publish.hub} {repo} ({url})")
