"""The generate stage: every problem x sample x teacher, crash-safe, into `data/raw/<teacher>.jsonl`.

A reply counts as done once its record is one complete, flushed JSONL line. After a kill -9 at
any moment, the next start repairs a torn last line, skips every uid already on disk and asks
only for the rest: no duplicate, no lost finished reply. A request that fails after its last
attempt goes to `data/failures/<teacher>.jsonl` and is asked again on the next start.
SIGTERM/SIGINT: no new requests, in-flight ones get a few seconds to land, then the stage exits.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import msgspec

from rchain.config import PipelineConfig, Teacher
from rchain.errors import ConfigError, DataError
from rchain.events import Progress
from rchain.generate.client import FlowControl, Reply, RequestError, StreamCounters, TeacherClient, preflight
from rchain.generate.replies import assistant_text, request_messages, split_reply, user_prompt
from rchain.generate.stats import TeacherStats, reply_cost
from rchain.problems import Problem, load_problems
from rchain.publish import ProgressivePublisher
from rchain.records import (
    ChatMessage,
    FailureRecord,
    GenerationConfig,
    JsonlAppender,
    RawRecord,
    TokenUsage,
    iter_decoded,
)
from rchain.stages import StageContext

REPORT_EVERY_S = 0.5
#: How long in-flight requests may still land after a stop request.
DRAIN_S = 3.0
MAX_BAD_ROWS_SHOWN = 20

_encode = msgspec.json.Encoder().encode


def reply_uid(problem_id: str, teacher: str, sample_index: int) -> str:
    return f"{problem_id}:{teacher}:{sample_index}"


class _ResumeInfo(msgspec.Struct):
    uid: str
    usage: TokenUsage = TokenUsage()


_resume_decoder = msgspec.json.Decoder(_ResumeInfo)


def scan_finished(path: Path, teacher: Teacher) -> tuple[set[str], float]:
    """Uids already on disk, and what they cost (so cost so far survives a resume)."""
    uids: set[str] = set()
    cost = 0.0
    for info in iter_decoded(path, _resume_decoder):
        if info.uid not in uids:
            uids.add(info.uid)
            cost += reply_cost(teacher, info.usage)
    return uids, cost


def build_record(config: PipelineConfig, teacher: Teacher, problem: Problem, sample_index: int, reply: Reply) -> RawRecord:
    split = split_reply(reply.reasoning, reply.content)
    flags = []
    if split.think_in_content:
        flags.append("think_in_content")
    if not split.reasoning.strip():
        flags.append("empty_reasoning")
    if not split.content.strip():
        flags.append("empty_content")
    if reply.finish_reason == "length":
        flags.append("truncated")
    gen = teacher.generation
    return RawRecord(
        uid=reply_uid(problem.id, teacher.name, sample_index),
        id=problem.id,
        source=problem.source,
        problem=problem.problem,
        solution=problem.solution,
        messages=[
            ChatMessage("system", config.prompt.system),
            ChatMessage("user", user_prompt(problem.problem, config.prompt)),
            ChatMessage("assistant", assistant_text(split.reasoning, split.content)),
        ],
        teacher=teacher.name,
        model=teacher.model,
        generation=GenerationConfig(gen.temperature, gen.top_p, gen.max_tokens),
        sample_index=sample_index,
        usage=reply.usage,
        finish_reason=reply.finish_reason,
        latency_s=round(reply.latency_s, 3),
        attempts=reply.attempts,
        flags=flags,
        created_at=time.time(),
    )


@dataclass
class TeacherJob:
    ctx: StageContext
    config: PipelineConfig
    teacher: Teacher
    problems: list[Problem]
    session: aiohttp.ClientSession

    def __post_init__(self) -> None:
        run = self.ctx.run
        self.raw_path = run.raw_path(self.teacher.name)
        finished, cost = scan_finished(self.raw_path, self.teacher)
        samples = self.teacher.samples_per_problem
        self.todo = [
            (problem, k)
            for problem in self.problems
            for k in range(samples)
            if reply_uid(problem.id, self.teacher.name, k) not in finished
        ]
        api_key = os.environ.get(self.teacher.api_key_env) if self.teacher.api_key_env else None
        if self.teacher.api_key_env and not api_key:
            raise ConfigError(f"teacher {self.teacher.name}: environment variable {self.teacher.api_key_env} is not set")
        self.flow = FlowControl(self.teacher)
        counters = StreamCounters()
        self.client = TeacherClient(self.teacher, self.session, api_key=api_key, counters=counters, flow=self.flow)
        total = len(self.problems) * samples
        self.stats = TeacherStats(
            self.teacher, total=total, resumed=total - len(self.todo), resumed_cost=cost, counters=counters, flow=self.flow
        )

    async def run(self, stop: asyncio.Event) -> None:
        if not self.todo:
            return
        raw = JsonlAppender(self.raw_path)
        if raw.repaired_bytes:
            self.ctx.message(f"{self.raw_path}: cut a torn last line ({raw.repaired_bytes} bytes) left by a crash", level="warning")
        failures = JsonlAppender(self.ctx.run.failures_path(self.teacher.name))
        queue = iter(self.todo)
        count = min(self.teacher.concurrency, len(self.todo))
        workers = [asyncio.create_task(self._worker(queue, raw, failures, stop)) for _ in range(count)]
        all_done = asyncio.gather(*workers)
        all_done.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved below
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait([all_done, stopping], return_when=asyncio.FIRST_COMPLETED)
            if not all_done.done():
                # Stop requested: replies already streaming get a moment to land, then are dropped.
                await asyncio.wait([all_done], timeout=DRAIN_S)
            for worker in workers:  # after an error or a stop; a no-op for finished workers
                worker.cancel()
            results = await asyncio.gather(*workers, return_exceptions=True)
        finally:
            stopping.cancel()
            raw.close()
            failures.close()
        errors = [r for r in results if isinstance(r, Exception)]
        if errors:
            raise errors[0]

    async def _worker(self, queue, raw: JsonlAppender, failures: JsonlAppender, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.flow.acquire()
            try:
                item = next(queue, None)
                if item is None or stop.is_set():
                    return
                problem, k = item
                messages = request_messages(problem.problem, self.config.prompt)
                try:
                    reply = await self.client.complete(messages, on_retry=self.stats.record_retry)
                except RequestError as error:
                    self.stats.record_failure()
                    failure = FailureRecord(
                        uid=reply_uid(problem.id, self.teacher.name, k),
                        id=problem.id,
                        teacher=self.teacher.name,
                        sample_index=k,
                        cause=error.cause,
                        detail=self.ctx.redactor.text(error.detail[:500]),
                        attempts=error.attempts,
                        t=time.time(),
                    )
                    failures.append(_encode(failure))
                    continue
                record = build_record(self.config, self.teacher, problem, k, reply)
                raw.append(_encode(record))  # one flushed line: from here on the reply is safe
                self.stats.record_reply(reply.latency_s, record.usage, record.flags)
            finally:
                await self.flow.release()


async def _report(ctx: StageContext, jobs: list[TeacherJob], stop: asyncio.Event, publishers: list[ProgressivePublisher]) -> None:
    while True:
        if ctx.stop_requested.is_set():
            stop.set()
        _emit_snapshots(ctx, jobs)
        for publisher in publishers:
            publisher.poll()
        await asyncio.sleep(REPORT_EVERY_S)


def _emit_snapshots(ctx: StageContext, jobs: list[TeacherJob]) -> None:
    done = total = 0
    for job in jobs:
        snapshot = job.stats.snapshot()
        ctx.events.emit(snapshot)
        done += snapshot.done
        total += snapshot.total
    ctx.events.emit(Progress(done=done, total=total, unit="replies"))


async def generate(ctx: StageContext, config: PipelineConfig, problems: list[Problem], teachers: list[Teacher]) -> None:
    stop = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
    async with aiohttp.ClientSession(connector=connector) as session:
        jobs = [TeacherJob(ctx, config, teacher, problems, session) for teacher in teachers]
        for job in jobs:
            if job.todo:
                for warning in await preflight(job.teacher, job.client.api_key):
                    ctx.message(warning, level="warning")
        for job in jobs:
            if job.stats.resumed:
                ctx.message(f"{job.teacher.name}: resuming, {job.stats.resumed:,} of {job.stats.total:,} replies already on disk")
        publishers = [ProgressivePublisher(config, ctx.run, job.teacher, ctx.message) for job in jobs] if config.publish.progressive else []
        reporter = asyncio.create_task(_report(ctx, jobs, stop, publishers))
        try:
            results = await asyncio.gather(*(job.run(stop) for job in jobs), return_exceptions=True)
        finally:
            reporter.cancel()
            _emit_snapshots(ctx, jobs)
            for publisher in publishers:  # the shards filled at the very end go up too
                publisher.close()
                publisher.poll()
                publisher.close()
        for result in results:
            if isinstance(result, BaseException):
                stop.set()
                raise result
    for job in jobs:
        if job.stats.failed:
            ctx.message(
                f"{job.teacher.name}: {job.stats.failed:,} requests failed after {job.teacher.max_attempts} attempts; "
                f"see {ctx.run.failures_path(job.teacher.name)} (they are retried on the next start)",
                level="warning",
            )


def run(ctx: StageContext) -> None:
    if ctx.config is None:
        raise ConfigError(f"{ctx.run.root}: no pipeline.toml in the run directory")
    config = ctx.config
    ctx.cooperative_stop = True
    teachers = [t for t in config.teachers if ctx.target in (None, t.name)]
    if not teachers:
        raise ConfigError("generate: no teacher configured" if ctx.target is None else f"generate: no teacher named {ctx.target!r}")
    problems, report = load_problems(config.problems)
    ctx.message(f"problems from {config.problems.dataset}: {report.summary()}")
    for line in report.bad_rows[:MAX_BAD_ROWS_SHOWN]:
        ctx.message(f"skipped bad row: {line}", level="warning")
    if len(report.bad_rows) > MAX_BAD_ROWS_SHOWN:
        ctx.message(f"... and {len(report.bad_rows) - MAX_BAD_ROWS_SHOWN} more bad rows", level="warning")
    if not problems:
        raise DataError(f"problems: nothing selected from {config.problems.dataset} ({report.summary()})")
    asyncio.run(generate(ctx, config, problems, teachers))
    if ctx.stop_requested.is_set():
        ctx.message("stopped on request; finished replies are on disk and the next start resumes")
