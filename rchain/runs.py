"""The run directory, which is the contract between stages, the CLI and the console.

    runs/<name>/
      pipeline.toml                 frozen copy of the config (absolute paths, no secrets)
      stages/<stage>/state.json     lifecycle: status, pid, start/end time, exit code, argv
      stages/<stage>/events.jsonl   typed progress events (rchain.events)
      stages/<stage>/output.log     the stage's stdout and stderr
      data/raw|verdicts|clean/<teacher>.jsonl, data/overrides.jsonl
      train/<variant>/, eval/<variant>/

This module also holds the one fold from a run's files to a plain view model (`RunView`), which
`rchain status` and the console both render.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import msgspec

from rchain.events import Event, EventFollower, Message, Progress, StageFinished, StageStarted, decode_event, encode_event, topic

StageStatus = Literal["starting", "running", "done", "failed", "stopped"]
#: What a person sees: the recorded status, plus `pending` (never started), `crashed` (the
#: process vanished without recording its exit) and `unknown` (started on another host).
ViewStatus = Literal[
    "pending", "starting", "running", "done", "failed", "stopped", "crashed", "unknown"
]
ACTIVE: frozenset[str] = frozenset({"starting", "running"})
POLL_CHUNK_BYTES = 4 * 2**20
LOG_TAIL_LINES = 15


class StageState(msgspec.Struct, frozen=True, kw_only=True):
    """Contents of `stages/<stage>/state.json`."""

    stage: str
    status: StageStatus
    argv: list[str]
    started_at: float
    host: str
    pid: int | None = None
    #: Process start time as psutil reports it (epoch seconds).
    create_time: float | None = None
    #: Seconds after boot at which the process started: guards against a recycled pid, and unlike
    #: `create_time` does not move when the wall clock is stepped (NTP) under a running stage.
    started_after_boot: float | None = None
    ended_at: float | None = None
    exit_code: int | None = None
    reason: str = ""


def stage_name(stage_id: str) -> str:
    """`train:MathR-Distill-7B` -> `train`."""
    return stage_id.split(":", 1)[0]


def stage_target(stage_id: str) -> str | None:
    """`train:MathR-Distill-7B` -> `MathR-Distill-7B`; None for a stage without one."""
    return stage_id.split(":", 1)[1] if ":" in stage_id else None


class RunDir:
    """Paths of one run directory. Creates nothing until asked."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def __repr__(self) -> str:
        return f"RunDir({str(self.root)!r})"

    @property
    def config_path(self) -> Path:
        return self.root / "pipeline.toml"

    @property
    def stages_dir(self) -> Path:
        return self.root / "stages"

    def stage_dir(self, stage_id: str) -> Path:
        if not stage_id or "/" in stage_id or stage_id.startswith("."):
            raise ValueError(f"invalid stage id {stage_id!r}")
        return self.stages_dir / stage_id

    def state_path(self, stage_id: str) -> Path:
        return self.stage_dir(stage_id) / "state.json"

    def events_path(self, stage_id: str) -> Path:
        return self.stage_dir(stage_id) / "events.jsonl"

    def log_path(self, stage_id: str) -> Path:
        return self.stage_dir(stage_id) / "output.log"

    def raw_path(self, teacher: str) -> Path:
        return self.root / "data" / "raw" / f"{teacher}.jsonl"

    def verdicts_path(self, teacher: str) -> Path:
        return self.root / "data" / "verdicts" / f"{teacher}.jsonl"

    def clean_path(self, teacher: str) -> Path:
        return self.root / "data" / "clean" / f"{teacher}.jsonl"

    def failures_path(self, teacher: str) -> Path:
        return self.root / "data" / "failures" / f"{teacher}.jsonl"

    @property
    def overrides_path(self) -> Path:
        return self.root / "data" / "overrides.jsonl"

    def train_dir(self, variant: str) -> Path:
        return self.root / "train" / variant

    def eval_dir(self, variant: str) -> Path:
        return self.root / "eval" / variant

    def stage_ids(self) -> list[str]:
        """Stages that have a directory (started at least once), sorted."""
        if not self.stages_dir.is_dir():
            return []
        return sorted(p.name for p in self.stages_dir.iterdir() if p.is_dir())

    # -- state.json ---------------------------------------------------------------------------

    def read_state(self, stage_id: str) -> StageState | None:
        try:
            return msgspec.json.decode(self.state_path(stage_id).read_bytes(), type=StageState)
        except (FileNotFoundError, msgspec.DecodeError):
            return None

    def write_state(self, state: StageState) -> None:
        write_atomic(self.state_path(state.stage), msgspec.json.encode(state) + b"\n")


def write_atomic(path: Path, data: bytes | Iterable[bytes]) -> None:
    """Write a file so that readers see the old or the new contents, never a mix. `data` may be
    pieces written one after another (a clean subset copied line by line from a raw file of any
    size, never held whole in memory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            if isinstance(data, bytes):
                fh.write(data)
            else:
                fh.writelines(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------------------------
# Process liveness


def process_create_time(pid: int) -> float | None:
    """Start time of a live (non-zombie) process, or None if there is none."""
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc.create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def process_started_after_boot(pid: int) -> float | None:
    """Seconds after boot at which a live (non-zombie) process started, or None. psutil's start
    time is the kernel's (ticks since boot) plus the boot time in epoch seconds, which the kernel
    derives from the wall clock: a clock step moves it. Taking the boot time off again leaves what
    never changes for one process."""
    import psutil

    created = process_create_time(pid)
    return None if created is None else created - psutil.boot_time()


def is_alive(state: StageState) -> bool | None:
    """Whether the stage's process still runs; None when it ran on another host."""
    if state.host != socket.gethostname():
        return None
    if state.pid is None:
        return False
    # The same pid with another start time is a different process that reused the number.
    if state.started_after_boot is not None:
        started = process_started_after_boot(state.pid)
        return started is not None and abs(started - state.started_after_boot) < 1.0
    created = process_create_time(state.pid)  # a state written before started_after_boot was
    if created is None:
        return False
    return state.create_time is None or abs(created - state.create_time) < 1.0


def view_status(state: StageState | None) -> ViewStatus:
    if state is None:
        return "pending"
    if state.status not in ACTIVE:
        return state.status
    alive = is_alive(state)
    if alive is None:
        return "unknown"
    if alive:
        return state.status
    # `starting` without a pid: the supervisor is between writing state and spawning.
    if state.status == "starting" and state.pid is None and time.time() - state.started_at < 10:
        return "starting"
    return "crashed"


def log_tail(path: Path, lines: int = LOG_TAIL_LINES, max_bytes: int = 16384) -> tuple[str, ...]:
    """The last lines of a log, with tqdm's carriage-return redraws collapsed."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - max_bytes))
            data = fh.read()
    except FileNotFoundError:
        return ()
    text = data.decode("utf-8", errors="replace")
    out = [line.rsplit("\r", 1)[-1] for line in text.split("\n")]
    while out and not out[-1].strip():
        out.pop()
    return tuple(out[-lines:])


# ---------------------------------------------------------------------------------------------
# View model


@dataclass(frozen=True)
class StageView:
    id: str
    status: ViewStatus = "pending"
    pid: int | None = None
    started_at: float | None = None
    ended_at: float | None = None
    exit_code: int | None = None
    #: Why it failed, crashed or stopped, in one line.
    reason: str = ""
    progress: Progress | None = None
    last_message: Message | None = None
    warnings: int = 0
    #: Last lines of output.log, kept for failed and crashed stages.
    log_tail: tuple[str, ...] = ()
    #: The latest snapshot event per topic (`generate_progress:MathR` -> GenerateProgress).
    snapshots: dict[str, Event] = dataclasses.field(default_factory=dict)

    def snapshots_of(self, kind: type[Event]) -> list[Event]:
        return [e for e in self.snapshots.values() if isinstance(e, kind)]

    @property
    def name(self) -> str:
        return stage_name(self.id)

    @property
    def target(self) -> str | None:
        return stage_target(self.id)

    def elapsed(self, now: float) -> float | None:
        if self.started_at is None:
            return None
        return max(0.0, (self.ended_at or now) - self.started_at)


@dataclass(frozen=True)
class RunView:
    root: str
    name: str
    stages: tuple[StageView, ...]
    at: float

    def stage(self, stage_id: str) -> StageView:
        for stage in self.stages:
            if stage.id == stage_id:
                return stage
        raise KeyError(stage_id)

    def to_dict(self) -> dict[str, object]:
        return {
            "root": self.root,
            "name": self.name,
            "at": self.at,
            "stages": [
                {
                    **{f.name: getattr(s, f.name) for f in dataclasses.fields(s) if f.name not in {"progress", "last_message", "log_tail", "snapshots"}},
                    "elapsed": s.elapsed(self.at),
                    "progress": msgspec.to_builtins(s.progress) if s.progress else None,
                    "last_message": msgspec.to_builtins(s.last_message) if s.last_message else None,
                    "log_tail": list(s.log_tail),
                    "snapshots": {key: msgspec.to_builtins(event) for key, event in s.snapshots.items()},
                }
                for s in self.stages
            ],
        }


def fold_event(view: StageView, event: Event) -> StageView:
    """Apply one event to a stage's view. Pure: the same events always give the same view."""
    return fold_events(view, [event])


def fold_events(view: StageView, events: list[Event]) -> StageView:
    """Apply a batch of events, building the view once: a week of events folds in seconds.

    A StageStarted begins a new attempt: earlier progress and messages no longer describe it."""
    if not events:
        return view
    pid, started_at, ended_at = view.pid, view.started_at, view.ended_at
    exit_code, reason, progress = view.exit_code, view.reason, view.progress
    last_message, warnings, snapshots = view.last_message, view.warnings, dict(view.snapshots)
    base = view
    for event in events:
        if isinstance(event, StageStarted):
            base = StageView(id=view.id, status=view.status)
            pid, started_at, ended_at, exit_code, reason = event.pid, event.t, None, None, ""
            progress, last_message, warnings, snapshots = None, None, 0, {}
        elif isinstance(event, StageFinished):
            ended_at, exit_code, reason = event.t, event.exit_code, event.reason or reason
        elif isinstance(event, Progress):
            progress = event
        elif isinstance(event, Message):
            last_message, warnings = event, warnings + (event.level != "info")
        else:
            key = topic(event)
            if key is not None:
                snapshots[key] = event
    return dataclasses.replace(
        base,
        pid=pid,
        started_at=started_at,
        ended_at=ended_at,
        exit_code=exit_code,
        reason=reason,
        progress=progress,
        last_message=last_message,
        warnings=warnings,
        snapshots=snapshots,
    )


def apply_state(
    view: StageView,
    state: StageState | None,
    status: ViewStatus,
    tail: tuple[str, ...] = (),
    last_seen: float | None = None,
) -> StageView:
    """Lifecycle facts from state.json win over what the events said. `last_seen` is when the
    stage last wrote anything; a crashed stage's clock stops there."""
    if state is None:
        return dataclasses.replace(view, status=status)
    reason = state.reason or view.reason
    ended_at = state.ended_at
    if status == "crashed":
        reason = state.reason or "the process vanished without recording its exit (killed, or out of memory?)"
        # Its last sign of life: nothing records the moment it died.
        ended_at = last_seen
    return dataclasses.replace(
        view,
        status=status,
        pid=state.pid,
        started_at=state.started_at,
        ended_at=ended_at,
        exit_code=state.exit_code,
        reason=reason,
        log_tail=tail,
    )


CHECKPOINT_EVERY_S = 5.0


class ViewCheckpoint:
    """A stage's own fold of the events it writes, saved beside them (`view.json`) every few
    seconds and at the end, with the events file's inode and the offset it covers. A reader of a
    week-long events file starts from it and folds only what came after, so the first screen of
    a console does not depend on how long a run has been going."""

    def __init__(self, run: RunDir, stage_id: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.events_path = run.events_path(stage_id)
        self.path = run.stage_dir(stage_id) / "view.json"
        self.view = StageView(id=stage_id)
        self._pending: list[Event] = []
        self._clock = clock
        self._saved_at = clock()

    def observe(self, event: Event) -> None:
        """Called by the EventWriter right after appending `event` (under its lock)."""
        self._pending.append(event)
        if self._clock() - self._saved_at >= CHECKPOINT_EVERY_S or isinstance(event, StageFinished):
            self.save()

    def save(self) -> None:
        self.view = fold_events(self.view, self._pending)
        self._pending = []
        self._saved_at = self._clock()
        try:
            st = os.stat(self.events_path)
        except FileNotFoundError:
            return
        v = self.view
        kept = [e for e in (v.progress, v.last_message, *v.snapshots.values()) if e is not None]
        payload = {
            "inode": st.st_ino,
            "offset": st.st_size,
            "pid": v.pid,
            "started_at": v.started_at,
            "ended_at": v.ended_at,
            "exit_code": v.exit_code,
            "reason": v.reason,
            "warnings": v.warnings,
            "events": [msgspec.json.decode(encode_event(e)) for e in kept],
        }
        write_atomic(self.path, msgspec.json.encode(payload))


def load_checkpoint(run: RunDir, stage_id: str) -> tuple[int, int, StageView] | None:
    """(inode, offset, view) of a stage's checkpoint when it matches its events file."""
    try:
        data = msgspec.json.decode((run.stage_dir(stage_id) / "view.json").read_bytes())
        st = os.stat(run.events_path(stage_id))
    except (FileNotFoundError, msgspec.DecodeError):
        return None
    if not isinstance(data, dict) or data.get("inode") != st.st_ino or not 0 <= data.get("offset", -1) <= st.st_size:
        return None
    view = StageView(
        id=stage_id,
        pid=data.get("pid"),
        started_at=data.get("started_at"),
        ended_at=data.get("ended_at"),
        exit_code=data.get("exit_code"),
        reason=data.get("reason") or "",
        warnings=int(data.get("warnings") or 0),
    )
    events = [e for e in (decode_event(msgspec.json.encode(obj)) for obj in data.get("events", [])) if e is not None]
    progress = next((e for e in events if isinstance(e, Progress)), None)
    message = next((e for e in events if isinstance(e, Message)), None)
    snapshots = {key: e for e in events if (key := topic(e)) is not None}
    return st.st_ino, int(data["offset"]), dataclasses.replace(view, progress=progress, last_message=message, snapshots=snapshots)


class RunWatcher:
    """Folds a run directory into `RunView` snapshots, reading only what is new each time."""

    def __init__(
        self, run: RunDir, plan: Iterable[str] = (), *, name: str = "", clock: Callable[[], float] = time.time
    ) -> None:
        self.run = run
        self.plan = list(plan)
        self.name = name or run.root.name
        self._clock = clock
        self._followers: dict[str, EventFollower] = {}
        self._folded: dict[str, StageView] = {}

    def stage_ids(self) -> list[str]:
        extra = [s for s in self.run.stage_ids() if s not in self.plan]
        return self.plan + extra

    def snapshot(self) -> RunView:
        stages = []
        for stage_id in self.stage_ids():
            follower = self._followers.get(stage_id)
            if follower is None:
                follower = self._followers[stage_id] = EventFollower(self.run.events_path(stage_id))
                checkpoint = load_checkpoint(self.run, stage_id)
                if checkpoint is not None:
                    inode, offset, self._folded[stage_id] = checkpoint
                    follower.start_at(inode, offset)
            view = self._folded.get(stage_id, StageView(id=stage_id))
            while True:  # a big backlog is read and folded a few megabytes at a time
                view = fold_events(view, follower.poll(max_bytes=POLL_CHUNK_BYTES))
                if not follower.behind:
                    break
            self._folded[stage_id] = view
            state = self.run.read_state(stage_id)
            status = view_status(state)
            tail: tuple[str, ...] = ()
            last_seen = None
            if status in {"failed", "crashed"}:
                tail = log_tail(self.run.log_path(stage_id))
            if status == "crashed":
                last_seen = _last_write(self.run, stage_id)
            stages.append(apply_state(view, state, status, tail, last_seen))
        return RunView(root=str(self.run.root), name=self.name, stages=tuple(stages), at=self._clock())


def _last_write(run: RunDir, stage_id: str) -> float | None:
    times = []
    for path in (run.log_path(stage_id), run.events_path(stage_id), run.state_path(stage_id)):
        try:
            times.append(path.stat().st_mtime)
        except FileNotFoundError:
            continue
    return max(times, default=None)


def hostname() -> str:
    return socket.gethostname()
