"""The filter stage: a verdict for every raw reply, and the clean subset.

Judges whatever raw records are under `data/raw/` (generated here or dropped in), appending one
verdict per record to `data/verdicts/<teacher>.jsonl`; uids already judged are skipped, so a
restart resumes and a rerun is idempotent. The clean subset is then rebuilt from the verdicts,
the keep policy and the manual overrides: raw lines copied unchanged, written atomically. The
raw subset is never modified, and a new policy needs no new verification.
"""

from __future__ import annotations

import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from rchain.config import FilterSection, LlmJudgeSection
from rchain.errors import ConfigError, DataError
from rchain.events import FilterProgress
from rchain.records import ChatMessage, JsonlAppender, Override, Verdict, iter_decoded, iter_lines
from rchain.runs import write_atomic
from rchain.stages import StageContext
from rchain.verify.judge import ANSWERLESS_REASONS, Comparison, Decision, precheck
from rchain.verify.pool import TIMED_OUT, VerifyPool, WorkerError
from rchain.verify.symbolic import settle_symbolic
from rchain.verify.quality import ContaminationIndex, benchmark_texts, quality_flags

REPORT_EVERY_S = 0.5
MAX_BAD_LINES_SHOWN = 20
LABELS = ("correct", "wrong", "unverifiable", "malformed")

_encode = msgspec.json.Encoder().encode


class _RawView(msgspec.Struct):
    """The fields of a raw record the filter reads; others (usage, latency, ...) are ignored."""

    uid: str
    messages: list[ChatMessage]
    id: str = ""
    source: str = ""
    problem: str = ""
    solution: str = ""
    finish_reason: str = "stop"
    sample_index: int = 0


_raw_decoder = msgspec.json.Decoder(_RawView)
_verdict_decoder = msgspec.json.Decoder(Verdict)
_override_decoder = msgspec.json.Decoder(Override)


def assistant_of(record: _RawView) -> str:
    for message in reversed(record.messages):
        if message.role == "assistant":
            return message.content
    return ""


def read_verdicts(path: Path) -> dict[str, Verdict]:
    return {verdict.uid: verdict for verdict in iter_decoded(path, _verdict_decoder)}


def read_overrides(path: Path) -> dict[str, str]:
    """uid -> "accept" or "reject"; the last decision for a uid wins."""
    return {o.uid: o.decision for o in iter_decoded(path, _override_decoder) if o.decision in ("accept", "reject")}


class _Tally:
    def __init__(self, teacher: str, total: int) -> None:
        self.teacher = teacher
        self.total = total
        self.by_source: dict[str, Counter[str]] = defaultdict(Counter)
        self.flags: dict[str, Counter[str]] = defaultdict(Counter)
        self.reasons: Counter[str] = Counter()
        self.judged = 0
        self.timeouts = 0
        self.kept = -1

    def add(self, verdict: Verdict) -> None:
        self.judged += 1
        self.by_source[verdict.source][verdict.label] += 1
        self.reasons[verdict.reason] += 1
        self.timeouts += verdict.reason == "parse_timeout"
        for flag in verdict.flags:
            self.flags[verdict.source][flag] += 1

    def event(self) -> FilterProgress:
        return FilterProgress(
            teacher=self.teacher,
            judged=self.judged,
            total=self.total,
            by_source={source: dict(labels) for source, labels in sorted(self.by_source.items())},
            reasons=dict(self.reasons.most_common()),
            kept=self.kept,
            timeouts=self.timeouts,
            flags={source: dict(flags) for source, flags in sorted(self.flags.items())},
        )


def judge_in_worker(item: tuple[str, str, str, str, str] | Comparison) -> Decision | Comparison | str:
    """The pool's work: a raw reply's (source, problem, solution, assistant, finish_reason) through
    the string rules, and a Comparison they return (sent back by the stage) through sympy. Both
    run in workers, on every core, each within the time limit; the stage's own process only reads
    and writes records. A Comparison comes back to the stage first so that a sympy that passes the
    limit still has its gold and predicted answers on record."""
    if isinstance(item, Comparison):
        return settle_symbolic(item)
    return precheck(*item)


class Settled(NamedTuple):
    """One reply's rule verdict, and the worker's failure where it cost the reply its verdict."""

    label: str
    reason: str
    gold: str
    predicted: str
    flags: tuple[str, ...] = ()
    error: WorkerError | None = None


def judge_replies(pool: VerifyPool, replies: Iterable[tuple[Any, tuple[str, str, str, str, str]]]) -> Iterator[tuple[Any, Settled]]:
    """(key, Settled) for each (key, (source, problem, solution, assistant, finish_reason)), in the
    order the workers finish them; `pool` runs `judge_in_worker`. A Comparison the string rules
    return is sent to a worker once more; when the rules themselves fail or pass the limit, the
    reply is unverifiable (parse_error, parse_timeout) with no answers on record."""
    comparisons: dict[Any, Comparison] = {}
    for key, result in pool.map(replies):
        if isinstance(result, Comparison):  # the rules leave it to sympy: once more, to a worker
            comparisons[key] = result
            pool.submit(key, result)
            continue
        comparison = comparisons.pop(key, None)
        error = result if isinstance(result, WorkerError) else None
        if isinstance(result, Decision):
            yield key, Settled(result.label, result.reason, result.gold, result.predicted, result.flags)
        elif comparison is None:
            yield key, Settled("unverifiable", "parse_timeout" if result is TIMED_OUT else "parse_error", "", "", (), error)
        else:
            label, reason = comparison.verdict(result)
            yield key, Settled(label, reason, comparison.gold, comparison.predicted, comparison.flags, error)


def problem_flags(record: _RawView, index: ContaminationIndex | None, cache: dict[str, list[str]]) -> list[str]:
    key = record.id or record.problem
    flags = cache.get(key)
    if flags is None:
        flags = quality_flags(record.problem)
        if index is not None:
            flags = [f"contaminated:{name}" for name in index.hits(record.problem)] + flags
        cache[key] = flags
    return flags


class _Entry(NamedTuple):
    """What rebuilding the clean subset needs of one raw line (the record itself is not kept:
    a raw file of a million 10 KB replies is read as a stream, never held in memory)."""

    lineno: int
    uid: str
    problem_id: str
    sample_index: int
    length: int


def filter_teacher(ctx: StageContext, policy: FilterSection, teacher: str, pool: VerifyPool, index: ContaminationIndex | None = None) -> _Tally:
    run = ctx.run
    raw_path = run.raw_path(teacher)
    verdicts_path = run.verdicts_path(teacher)
    verdicts = read_verdicts(verdicts_path)
    tally = _Tally(teacher, sum(1 for _ in iter_lines(raw_path)))
    for verdict in verdicts.values():
        tally.add(verdict)
    entries: list[_Entry] = []
    out = JsonlAppender(verdicts_path)
    waiting: dict[str, _RawView] = {}  # sent to the pool, not judged yet
    judge = policy.llm_judge if policy.llm_judge.enabled else None
    held: dict[str, tuple[_RawView, str, str, str, str, tuple[str, ...]]] = {}  # uid -> the rule verdict, for the judge
    flag_cache: dict[str, list[str]] = {}
    last_report = 0.0

    def settle(record: _RawView, label: str, reason: str, gold: str, predicted: str, reply_flags: tuple[str, ...] = ()) -> None:
        """A rule verdict: recorded, or held back for the LLM judge."""
        if judge is not None and reason in judge.reasons:
            held[record.uid] = (record, label, reason, gold, predicted, reply_flags)
        else:
            record_verdict(record, label, reason, gold, predicted, reply_flags)

    def record_verdict(record: _RawView, label: str, reason: str, gold: str, predicted: str, reply_flags: tuple[str, ...] = ()) -> None:
        nonlocal last_report
        verdict = Verdict(
            uid=record.uid, id=record.id, teacher=teacher, source=record.source, label=label,
            reason=reason, gold=gold[:500], predicted=predicted[:500],
            flags=[*reply_flags, *problem_flags(record, index, flag_cache)], t=time.time(),
        )
        out.append(_encode(verdict))
        verdicts[verdict.uid] = verdict
        tally.add(verdict)
        if time.monotonic() - last_report >= REPORT_EVERY_S:
            ctx.events.emit(tally.event())
            last_report = time.monotonic()

    def jobs():
        bad = 0
        seen: set[str] = set()
        for lineno, raw in iter_lines(raw_path):
            try:
                record = _raw_decoder.decode(raw)
            except msgspec.DecodeError as exc:
                bad += 1
                if bad <= MAX_BAD_LINES_SHOWN:
                    ctx.message(f"{raw_path}:{lineno}: skipped, not a raw record: {exc}", level="warning")
                continue
            assistant = assistant_of(record)
            entries.append(_Entry(lineno, record.uid, record.id or record.uid, record.sample_index, len(assistant)))
            if record.uid in verdicts or record.uid in seen:
                continue
            seen.add(record.uid)
            waiting[record.uid] = record
            yield record.uid, (record.source, record.problem, record.solution, assistant, record.finish_reason)
        if bad > MAX_BAD_LINES_SHOWN:
            ctx.message(f"{raw_path}: {bad - MAX_BAD_LINES_SHOWN} more bad lines skipped", level="warning")

    failed = 0
    try:
        for uid, settled in judge_replies(pool, jobs()):
            record = waiting.pop(uid)
            if settled.error is not None:
                failed += 1
                if failed <= MAX_BAD_LINES_SHOWN:
                    ctx.message(f"{raw_path}: uid {uid}: {settled.error} (recorded as unverifiable, parse_error)", level="warning")
            settle(record, settled.label, settled.reason, settled.gold, settled.predicted, settled.flags)
        if held:
            ask_judge(ctx, judge, held, record_verdict)
    finally:
        out.close()
    tally.kept = write_clean(ctx, policy, teacher, entries, verdicts)
    ctx.events.emit(tally.event())
    return tally


def ask_judge(ctx: StageContext, judge: LlmJudgeSection, held: dict, record_verdict: Callable[..., None]) -> None:
    """Settle the held-back replies with the LLM judge (see rchain.verify.llm_judge)."""
    import asyncio

    from rchain.verify.extract import reply_parts
    from rchain.verify.llm_judge import Question, ask_all

    api_key = os.environ.get(judge.api_key_env) if judge.api_key_env else None
    if judge.api_key_env and not api_key:
        raise ConfigError(f"filter.llm_judge.api_key_env: the environment variable {judge.api_key_env} is not set")
    questions = [Question(uid, record.problem, record.solution, reply_parts(assistant_of(record)).answer) for uid, (record, *_) in held.items()]
    outcomes: Counter[str] = Counter()

    def answer(question: Question, said: bool | None, note: str) -> None:
        record, label, reason, gold, predicted, flags = held.pop(question.uid)
        if said is None:
            outcomes["failed"] += 1
            if outcomes["failed"] <= MAX_BAD_LINES_SHOWN:
                ctx.message(f"llm judge, {record.uid}: {note}; the rule verdict ({reason}) stands", level="warning")
            record_verdict(record, label, reason, gold, predicted, (*flags, "llm_judge_failed"))
            return
        outcomes["match" if said else "mismatch"] += 1
        judged = ("correct", "llm_judge_match") if said else ("wrong", "llm_judge_mismatch")
        record_verdict(record, *judged, gold, predicted, (*flags, "llm_judge", f"rule:{reason}"))

    ctx.message(f"llm judge: asking {judge.model} about {len(questions):,} replies the rules could not settle")
    asyncio.run(ask_all(judge, api_key, questions, answer))
    ctx.message(f"llm judge: {outcomes['match']:,} agree with the reference, {outcomes['mismatch']:,} do not, {outcomes['failed']:,} unsettled")


def write_clean(ctx: StageContext, policy: FilterSection, teacher: str, entries: list[_Entry], verdicts: dict[str, Verdict]) -> int:
    """Rebuild `data/clean/<teacher>.jsonl` from verdicts, keep policy and overrides."""
    run = ctx.run
    overrides = read_overrides(run.overrides_path)

    def eligible(uid: str) -> bool:
        if uid in overrides:
            return overrides[uid] == "accept"
        verdict = verdicts.get(uid)
        if verdict is None:
            return False
        if any(flag.startswith("contaminated:") for flag in verdict.flags):
            return False
        if verdict.label == "correct":
            return True
        return policy.unverifiable == "keep" and verdict.label == "unverifiable" and verdict.reason in ANSWERLESS_REASONS

    chosen: dict[str, list[_Entry]] = defaultdict(list)
    seen: set[str] = set()
    for entry in entries:
        if entry.uid not in seen and eligible(entry.uid):
            seen.add(entry.uid)
            chosen[entry.problem_id].append(entry)
    keep_lines: set[int] = set()
    for group in chosen.values():
        if policy.keep == "all":
            picked = group
        elif policy.keep == "one_per_problem":
            picked = [min(group, key=lambda e: (e.sample_index, e.lineno))]
        else:  # shortest
            picked = [min(group, key=lambda e: (e.length, e.lineno))]
        keep_lines.update(e.lineno for e in picked)
    written = 0

    def kept() -> Iterator[bytes]:  # streamed: a raw file of any size is never held in memory
        nonlocal written
        for lineno, raw in iter_lines(run.raw_path(teacher)):
            if lineno in keep_lines:
                written += 1
                yield raw

    write_atomic(run.clean_path(teacher), kept())
    return written


def run(ctx: StageContext) -> None:
    if ctx.config is None:
        raise ConfigError(f"{ctx.run.root}: no pipeline.toml in the run directory")
    policy = ctx.config.filter
    raw_dir = ctx.run.root / "data" / "raw"
    teachers = sorted(p.stem for p in raw_dir.glob("*.jsonl") if ctx.target in (None, p.stem))
    if not teachers:
        raise DataError(f"{raw_dir}: no raw records to filter (run generate, or put <teacher>.jsonl files there)")
    import math_verify  # noqa: F401  (loaded once here, inherited by every forked worker)

    from rchain.present import filter_lines

    index = contamination_index(ctx)
    workers = policy.workers or os.cpu_count() or 1
    with VerifyPool(judge_in_worker, workers=workers, timeout_s=policy.timeout_s) as pool:
        for teacher in teachers:
            tally = filter_teacher(ctx, policy, teacher, pool, index)
            for line in filter_lines(tally.event()):
                print(line, flush=True)
        if pool.killed:
            ctx.message(f"{pool.killed} verifications passed the {policy.timeout_s:g}s limit (parse_timeout)", level="warning")


def contamination_index(ctx: StageContext) -> ContaminationIndex | None:
    """8-gram index of the benchmarks' questions, from the local copies named in the config."""
    config = ctx.config
    if not config.filter.decontaminate:
        return None
    paths = {name: Path(path) for name, path in config.eval.local_paths.items() if name in config.eval.benchmarks}
    missing = [name for name in config.eval.benchmarks if name not in paths]
    if missing:
        ctx.message(
            f"decontamination: no local copy of {', '.join(missing)} in eval.local_paths; those benchmarks are not checked",
            level="warning",
        )
    texts = {}
    for name, path in paths.items():
        if not path.exists():
            raise DataError(f"eval.local_paths.{name}: {path}: no such file or folder")
        texts[name] = benchmark_texts(path)
        ctx.message(f"decontamination: {len(texts[name]):,} {name} questions from {path}")
    return ContaminationIndex(texts) if texts else None
