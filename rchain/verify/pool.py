"""Verification in worker processes, with a wall-clock limit per item.

math-verify times out with SIGALRM, which only works in a process's main thread, and sympy can
hang on inputs such as `2^{2^{100}}`. So each item runs in the main thread of a worker process;
the parent watches the clock, and a worker that passes the limit is killed and replaced and its
item reported as TIMED_OUT. A hanging input costs its time limit, never the stage.

Items travel in chunks and results come back a chunk at a time: one message per item, each sent
when the last was answered, cost more than the string work most items carry. So that the limit
still applies to each item, a worker writes which item it is on, and since when, into memory it
shares with the parent; the parent reads that, not the messages, to find an item past its limit.
The parent never sends a busy worker more than its pipe holds: a worker stuck on an item reads
nothing, and a parent waiting to write to it would never see the limit pass.
"""

from __future__ import annotations

import collections
import fcntl
import itertools
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.reduction import ForkingPickler
from multiprocessing.sharedctypes import RawArray
from typing import Any

TIMED_OUT = object()

# The slots of a worker's shared array: how many items it has taken, and since when (by
# time.monotonic, which is one clock for every process) it has been on the last of them; 0.0
# between items.
_TAKEN, _SINCE = 0, 1
#: The pipe to a worker is made this large where the system allows (Linux lets any user have 1 MiB).
_PIPE_BYTES = 1 << 20


class WorkerError(Exception):
    """An exception raised by the work function in a worker (its repr travels back)."""


def _worker_main(inbox: Connection, outbox: Connection, work: Callable[[Any], Any], progress: Any) -> None:
    # The stage's stop signals are for the parent; the supervisor's SIGTERM to the process group
    # still ends workers through the default action.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    taken = 0
    while True:
        try:
            chunk = ForkingPickler.loads(inbox.recv_bytes())
        except EOFError:
            return
        if chunk is None:
            return
        results = []
        for key, payload in chunk:
            taken += 1
            progress[_TAKEN] = taken
            progress[_SINCE] = time.monotonic()
            try:
                result = work(payload)
            except Exception as exc:  # returned to the parent as a value, named there
                result = WorkerError(f"{type(exc).__name__}: {exc}")
            progress[_SINCE] = 0.0
            results.append((key, result))
        outbox.send(results)


def _pipe_capacity(conn: Connection) -> int:
    """Bytes the pipe behind `conn` holds, made as large as the system allows."""
    if not hasattr(fcntl, "F_SETPIPE_SZ"):
        return 16 * 1024  # a pipe holds at least this much on macOS and the BSDs
    try:
        fcntl.fcntl(conn.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
    except OSError:
        pass  # over the system's limit (/proc/sys/fs/pipe-max-size): the size it has
    return fcntl.fcntl(conn.fileno(), fcntl.F_GETPIPE_SZ)


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    inbox: Connection  # chunks to the worker
    outbox: Connection  # its answers, a chunk's at a time
    capacity: int  # bytes the inbox's pipe holds
    progress: Any  # the shared array, see _TAKEN and _SINCE
    #: Items sent and not answered yet, in the order the worker takes them.
    in_flight: collections.deque[tuple[Any, Any]] = field(default_factory=collections.deque)
    #: (items, bytes) of each chunk sent and not answered yet.
    chunks: collections.deque[tuple[int, int]] = field(default_factory=collections.deque)
    #: Items it has answered.
    answered: int = 0

    @property
    def busy(self) -> bool:
        return bool(self.in_flight)

    def unread_bytes(self) -> int:
        """Bytes sent that may still be in the pipe: the chunks it has not started on."""
        taken, first, unread = int(self.progress[_TAKEN]), self.answered + 1, 0
        for items, size in self.chunks:
            if taken < first:
                unread += size
            first += items
        return unread

    def overdue(self, now: float, limit: float) -> int | None:
        """The place in `in_flight` of an item the worker has been on for more than `limit` s."""
        since = self.progress[_SINCE]
        if not self.in_flight or not since or now - since <= limit:
            return None
        place = int(self.progress[_TAKEN]) - 1 - self.answered
        return place if 0 <= place < len(self.in_flight) else None


def _ended(process: multiprocessing.process.BaseProcess) -> str:
    process.join(timeout=1)
    code = process.exitcode
    if code is not None and code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"exit code {code}"


class VerifyPool:
    """`map` work over items in `workers` processes, each item limited to `timeout_s` seconds."""

    def __init__(self, work: Callable[[Any], Any], *, workers: int = 0, timeout_s: float = 5.0, chunk: int = 32) -> None:
        self._work = work
        self._size = workers or os.cpu_count() or 1
        self.timeout_s = timeout_s
        #: Items sent to a worker in one message at most; it holds two chunks, so that it starts
        #: on the second while its answers to the first are read.
        self.chunk = max(1, chunk)
        # fork: workers start instantly with sympy and math-verify already imported by the parent.
        self._ctx = multiprocessing.get_context("fork")
        self._workers: list[_Worker] = []
        #: Items given with `submit`, sent before any more are taken from `map`'s iterable.
        self._submitted: collections.deque[tuple[Any, Any]] = collections.deque()
        #: Workers killed for passing the limit.
        self.killed = 0

    def __enter__(self) -> VerifyPool:
        self._workers = [self._spawn() for _ in range(self._size)]
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spawn(self) -> _Worker:
        inbox_reader, inbox = self._ctx.Pipe(duplex=False)
        outbox, outbox_writer = self._ctx.Pipe(duplex=False)
        progress = RawArray("d", 2)
        process = self._ctx.Process(target=_worker_main, args=(inbox_reader, outbox_writer, self._work, progress), daemon=True)
        process.start()
        inbox_reader.close()
        outbox_writer.close()
        return _Worker(process, inbox, outbox, _pipe_capacity(inbox), progress)

    def submit(self, key: Any, payload: Any) -> None:
        """One more item for the `map` in progress (a follow-up that a result asked for), sent
        before any more are taken from its iterable; its result is yielded by that `map`."""
        self._submitted.append((key, payload))

    def map(self, items: Iterable[tuple[Any, Any]]) -> Iterator[tuple[Any, Any]]:
        """Yield (key, result) as results arrive (any order); result is TIMED_OUT or a WorkerError
        for items that could not be judged.

        An item's time limit starts when its worker takes it; the items queued behind one that
        passes the limit are sent again. `items` is read ahead of the workers, two chunks for
        each, so that every worker is given its share even while the others are busy."""
        pending = iter(items)
        self._submitted.clear()
        queue: collections.deque[tuple[Any, Any]] = collections.deque()
        exhausted = False

        def feed(worker: _Worker) -> None:
            """One more chunk for `worker`, unless it has one still to start on, or unless the
            pipe to it could not take the chunk while it is busy."""
            nonlocal exhausted
            while not exhausted and len(queue) < 2 * self.chunk * len(self._workers):
                item = next(pending, None)
                if item is None:
                    exhausted = True
                else:
                    queue.append(item)
            waiting = len(self._submitted) + len(queue)
            if not waiting or len(worker.in_flight) > self.chunk:
                return
            share = min(self.chunk, -(-waiting // len(self._workers)))  # a few heavy items go one to each worker
            while True:
                chunk = list(itertools.islice(itertools.chain(self._submitted, queue), share))
                data = ForkingPickler.dumps(chunk)
                # A busy worker reads its next chunk only when it is done with this one: what is
                # sent must fit in the pipe beside what it has not read (an idle one reads it all).
                if not worker.busy or worker.unread_bytes() + len(data) + 64 <= worker.capacity:
                    break
                if share == 1:
                    return  # sent when it has answered more
                share //= 2
            for _ in chunk:
                (self._submitted if self._submitted else queue).popleft()
            try:
                worker.inbox.send_bytes(data)
            except OSError:  # it died; if it was busy, its answers' pipe says so and it is replaced there
                self._submitted.extendleft(reversed(chunk))
                if not worker.busy:
                    self._replace(worker, None)
                return
            worker.in_flight.extend(chunk)
            worker.chunks.append((len(chunk), len(data)))

        while True:
            for _ in range(2):  # two chunks each: one to go on with while its answers are read
                for worker in list(self._workers):
                    feed(worker)
            busy = [w for w in self._workers if w.busy]
            if not busy:
                return
            for conn in wait([w.outbox for w in busy], timeout=min(0.05, self.timeout_s)):
                worker = next(w for w in busy if w.outbox is conn)
                try:
                    results = conn.recv()
                except (EOFError, OSError):  # the worker died (a crash in native code, the OOM killer)
                    place = int(worker.progress[_TAKEN]) - 1 - worker.answered
                    if place < 0:  # before it took any of them: they all go again
                        self._replace(worker, None)
                    else:
                        yield self._replace(worker, min(place, len(worker.in_flight) - 1), WorkerError(f"the worker process died ({_ended(worker.process)})"))
                    continue
                for _ in results:
                    worker.in_flight.popleft()
                worker.answered += len(results)
                worker.chunks.popleft()
                feed(worker)  # more work before its answers are handled, so that it never waits on them
                yield from results
            now = time.monotonic()
            for worker in self._workers:
                place = worker.overdue(now, self.timeout_s)
                if place is not None:
                    self.killed += 1
                    yield self._replace(worker, place, TIMED_OUT)

    def _replace(self, worker: _Worker, place: int | None, result: Any = None) -> tuple[Any, Any]:
        """Kill `worker` and start another in its place. The item it was on, at `place` in its
        queue, has `result`; the others, answered but not yet sent back or never taken, go again
        (all of them when `place` is None)."""
        key = None
        if place is not None:
            key, _ = worker.in_flight[place]
            del worker.in_flight[place]
        self._kill(worker)
        self._workers[self._workers.index(worker)] = self._spawn()
        self._submitted.extendleft(reversed(worker.in_flight))
        return key, result

    def _kill(self, worker: _Worker) -> None:
        worker.process.kill()
        worker.process.join(timeout=5)
        worker.inbox.close()
        worker.outbox.close()

    def close(self) -> None:
        for worker in self._workers:
            if worker.busy:
                self._kill(worker)
                continue
            try:
                worker.inbox.send_bytes(ForkingPickler.dumps(None))  # an idle worker's pipe is empty
            except (BrokenPipeError, OSError):
                pass
        for worker in self._workers:
            worker.process.join(timeout=2)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.inbox.close()
            worker.outbox.close()
        self._workers = []
