"""Aggregates one teacher's generation into GenerateProgress snapshots (a few a second).

The engine never pokes a display: it records facts here, and the runner turns a snapshot into an
event on a timer.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable

from rchain.config import Teacher
from rchain.events import GenerateProgress
from rchain.generate.client import FlowControl, StreamCounters
from rchain.records import TokenUsage

RATE_WINDOW_S = 60.0
TOKEN_WINDOW_S = 10.0


def reply_cost(teacher: Teacher, usage: TokenUsage) -> float:
    prices = teacher.prices
    uncached = max(0, usage.prompt_tokens - usage.cache_hit_tokens)
    return (uncached * prices.input + usage.cache_hit_tokens * prices.cache_hit + usage.completion_tokens * prices.output) / 1e6


def percentile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


class TeacherStats:
    def __init__(
        self,
        teacher: Teacher,
        *,
        total: int,
        resumed: int,
        resumed_cost: float,
        counters: StreamCounters,
        flow: FlowControl,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.teacher = teacher
        self.total = total
        self.resumed = resumed
        self.done = resumed
        self.failed = 0
        self.truncated = 0
        self.flagged = 0
        self.retries: Counter[str] = Counter()
        self.cost = resumed_cost
        self._new_cost = 0.0
        self._counters = counters
        self._flow = flow
        self._clock = clock
        self._started = clock()
        self._latencies: deque[float] = deque(maxlen=2000)
        self._finished_at: deque[float] = deque()
        self._token_samples: deque[tuple[float, int, int]] = deque()

    def record_reply(self, latency_s: float, usage: TokenUsage, flags: list[str]) -> None:
        self.done += 1
        self._latencies.append(latency_s)
        self._finished_at.append(self._clock())
        self.truncated += "truncated" in flags
        self.flagged += any(f in flags for f in ("empty_reasoning", "empty_content"))
        cost = reply_cost(self.teacher, usage)
        self.cost += cost
        self._new_cost += cost

    def record_failure(self) -> None:
        self.failed += 1

    def record_retry(self, cause: str) -> None:
        self.retries[cause] += 1

    def snapshot(self) -> GenerateProgress:
        now = self._clock()
        while self._finished_at and self._finished_at[0] < now - RATE_WINDOW_S:
            self._finished_at.popleft()
        window = min(RATE_WINDOW_S, max(now - self._started, 1e-9))
        per_s = len(self._finished_at) / window
        self._token_samples.append((now, self._counters.reasoning_chunks, self._counters.content_chunks))
        while len(self._token_samples) > 2 and self._token_samples[1][0] < now - TOKEN_WINDOW_S:
            self._token_samples.popleft()
        t0, r0, c0 = self._token_samples[0]
        span = now - t0
        reasoning_tps = (self._counters.reasoning_chunks - r0) / span if span > 0 else 0.0
        answer_tps = (self._counters.content_chunks - c0) / span if span > 0 else 0.0
        latencies = sorted(self._latencies)
        remaining = max(0, self.total - self.done - self.failed)
        new_done = self.done - self.resumed
        return GenerateProgress(
            teacher=self.teacher.name,
            done=self.done,
            total=self.total,
            failed=self.failed,
            resumed=self.resumed,
            in_flight=self._flow.in_flight,
            concurrency_limit=self._flow.limit,
            cooling_down=self._flow.cooling_down,
            retries=dict(self.retries),
            requests_per_min=per_s * 60,
            reasoning_tokens_per_s=reasoning_tps,
            answer_tokens_per_s=answer_tps,
            latency_p50_s=percentile(latencies, 0.5) if latencies else None,
            latency_p95_s=percentile(latencies, 0.95) if latencies else None,
            eta_s=(remaining / per_s) if per_s > 0 else (0.0 if remaining == 0 else None),
            cost_usd=self.cost,
            projected_cost_usd=(self.cost + self._new_cost / new_done * remaining) if new_done else None,
            truncated=self.truncated,
            flagged=self.flagged,
        )
