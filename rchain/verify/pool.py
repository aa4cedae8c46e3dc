"""Verification in worker processes, with a wall-clock limit per item.

math-verify times out with SIGALRM, which only works in a process's main thread, and sympy can
hang on inputs such as `2^{2^{100}}`. So each comparison runs in the main thread of a worker
process; the parent watches the clock, and a worker that passes the limit is killed and replaced
and its item reported as TIMED_OUT. A hanging input costs its time limit, never the stage.
"""

from __future__ import annotations

import collections
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

TIMED_OUT = object()


class WorkerError(Exception):
    """An exception raised by the work function in a worker (its repr travels back)."""


def _worker_main(conn: Connection, work: Callable[[Any], Any]) -> None:
    # The stage's stop signals are for the parent; the supervisor's SIGTERM to the process group
    # still ends workers through the default action.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        key, payload = message
        try:
            result = work(payload)
        except Exception as exc:  # returned to the parent as a value, named there
            result = WorkerError(f"{type(exc).__name__}: {exc}")
        conn.send((key, result))


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    conn: Connection
    key: Any = None
    started: float = 0.0

    @property
    def busy(self) -> bool:
        return self.started > 0


class VerifyPool:
    """`map` work over items in `workers` processes, each item limited to `timeout_s` seconds."""

    def __init__(self, work: Callable[[Any], Any], *, workers: int = 0, timeout_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._work = work
        self._size = workers or os.cpu_count() or 1
        self.timeout_s = timeout_s
        self._clock = clock
        # fork: workers start instantly with sympy and math-verify already imported by the parent.
        self._ctx = multiprocessing.get_context("fork")
        self._workers: list[_Worker] = []
        #: Workers killed for passing the limit.
        self.killed = 0
        #: Items taken ahead of the workers while all are busy (see `map`).
        self.read_ahead = 256

    def __enter__(self) -> VerifyPool:
        self._workers = [self._spawn() for _ in range(self._size)]
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(target=_worker_main, args=(child, self._work), daemon=True)
        process.start()
        child.close()
        return _Worker(process, parent)

    def map(self, items: Iterable[tuple[Any, Any]]) -> Iterator[tuple[Any, Any]]:
        """Yield (key, result) as results arrive (any order); result is TIMED_OUT or a WorkerError
        for items that could not be judged.

        While every worker is busy, up to `read_ahead` items are taken from `items` into a backlog
        rather than waiting: producing an item is work of its own (the filter's string prechecks),
        which goes on in this process while the workers run sympy. An item's time limit starts when
        a worker takes it."""
        pending = iter(items)
        backlog: collections.deque[tuple[Any, Any]] = collections.deque()
        exhausted = False

        def take() -> None:
            nonlocal exhausted
            item = next(pending, None)
            if item is None:
                exhausted = True
            else:
                backlog.append(item)

        while True:
            for worker in self._workers:
                if worker.busy:
                    continue
                if not backlog and not exhausted:
                    take()
                if not backlog:
                    break
                item = backlog.popleft()
                worker.conn.send(item)
                worker.key, worker.started = item[0], self._clock()
            busy = [w for w in self._workers if w.busy]
            if not busy:
                return
            read_ahead = not exhausted and len(backlog) < self.read_ahead
            ready = wait([w.conn for w in busy], timeout=0 if read_ahead else min(0.05, self.timeout_s))
            if read_ahead and not ready:
                take()
            for worker in busy:
                if worker.conn in ready:
                    key, result = worker.conn.recv()
                    worker.started = 0.0
                    yield key, result
            now = self._clock()
            for index, worker in enumerate(self._workers):
                if worker.busy and now - worker.started > self.timeout_s:
                    key = worker.key
                    self._kill(worker)
                    self.killed += 1
                    self._workers[index] = self._spawn()
                    yield key, TIMED_OUT

    def _kill(self, worker: _Worker) -> None:
        worker.process.kill()
        worker.process.join(timeout=5)
        worker.conn.close()

    def close(self) -> None:
        for worker in self._workers:
            if worker.busy:
                self._kill(worker)
                continue
            try:
                worker.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        for worker in self._workers:
            worker.process.join(timeout=2)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self._workers = []
