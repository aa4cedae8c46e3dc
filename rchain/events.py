"""Typed, versioned progress events: the only thing stages tell the outside world while they run.

Each line of `stages/<stage>/events.jsonl` is one event:

    {"kind": "progress", "v": 1, "t": 1764061234.5, "stage": "generate", ...fields}

Stages emit aggregated snapshots a few times a second, never one event per token. Readers skip a
torn last line, a line that does not parse, an unknown kind and a newer schema version: a newer
rchain writing into an older console's run never breaks it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Literal

import msgspec

from rchain.records import JsonlAppender
from rchain.secrets import Redactor

SCHEMA_VERSION = 1


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    #: Snapshot events name the field that says what they are a snapshot of (a teacher, a
    #: variant): the fold keeps the latest one per (kind, that field).
    topic_field: ClassVar[str | None] = None

    v: int = SCHEMA_VERSION
    #: Unix time the event was emitted; filled in by the writer.
    t: float = 0.0
    #: Stage id (`generate`, `train:MathR-Distill-7B`); filled in by the writer.
    stage: str = ""


class StageStarted(Event, frozen=True, kw_only=True, tag="stage_started"):
    pid: int


class StageFinished(Event, frozen=True, kw_only=True, tag="stage_finished"):
    status: Literal["done", "failed", "stopped"]
    exit_code: int
    reason: str = ""


class Message(Event, frozen=True, kw_only=True, tag="message"):
    """A line worth showing a person (a warning, a pre-flight result, a milestone)."""

    level: Literal["info", "warning", "error"] = "info"
    text: str


class Progress(Event, frozen=True, kw_only=True, tag="progress"):
    """Generic progress of a stage that has no richer event kind of its own."""

    done: int
    total: int | None = None
    unit: str = "items"
    note: str = ""


class GenerateProgress(Event, frozen=True, kw_only=True, tag="generate_progress"):
    """A snapshot of one teacher's generation, emitted a few times a second."""

    topic_field: ClassVar[str | None] = "teacher"

    teacher: str
    #: Replies finished (including those found on disk when the stage resumed).
    done: int
    total: int
    #: Replies that failed after their last attempt (retried on the next resume).
    failed: int = 0
    resumed: int = 0
    in_flight: int = 0
    concurrency_limit: int = 0
    cooling_down: bool = False
    #: Retries so far, by cause (http_429, http_5xx, dropped_stream, empty_body, stalled, ...).
    retries: dict[str, int] = {}
    requests_per_min: float = 0.0
    reasoning_tokens_per_s: float = 0.0
    answer_tokens_per_s: float = 0.0
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None
    eta_s: float | None = None
    cost_usd: float = 0.0
    projected_cost_usd: float | None = None
    #: Replies that hit max_tokens (finish_reason length); kept and marked.
    truncated: int = 0
    #: Replies kept with a mark: empty reasoning or empty answer.
    flagged: int = 0


class FilterProgress(Event, frozen=True, kw_only=True, tag="filter_progress"):
    """A snapshot of one teacher's filtering: verdicts by source and label, and the reasons."""

    topic_field: ClassVar[str | None] = "teacher"

    teacher: str
    judged: int
    total: int
    #: source -> label -> count (labels: correct, wrong, unverifiable, malformed).
    by_source: dict[str, dict[str, int]] = {}
    #: reason code -> count.
    reasons: dict[str, int] = {}
    #: Replies in the clean subset (after keep policy and overrides); -1 until it is written.
    kept: int = -1
    timeouts: int = 0
    #: source -> flag -> count (contaminated:<benchmark>, figure_missing, multi_part).
    flags: dict[str, dict[str, int]] = {}


class Check(msgspec.Struct, frozen=True, kw_only=True):
    """One pre-flight check: what was checked, pass/warn/fail, and a line saying what was found."""

    name: str
    level: Literal["pass", "warn", "fail"]
    text: str


class Preflight(Event, frozen=True, kw_only=True, tag="preflight"):
    """The checks run before a launch (train: batch arithmetic, lengths, EOS, GPUs, disk)."""

    topic_field: ClassVar[str | None] = "subject"

    #: What was checked (a variant name).
    subject: str
    checks: list[Check] = []


class TrainProgress(Event, frozen=True, kw_only=True, tag="train_progress"):
    """A snapshot of one variant's training, from ms-swift's logging.jsonl, steps deduplicated."""

    topic_field: ClassVar[str | None] = "variant"

    variant: str
    step: int = 0
    max_steps: int = 0
    epoch: float | None = None
    loss: float | None = None
    eval_loss: float | None = None
    learning_rate: float | None = None
    grad_norm: float | None = None
    token_acc: float | None = None
    seconds_per_step: float | None = None
    elapsed_s: float | None = None
    remaining_s: float | None = None
    #: Steps of the complete checkpoints on disk (those with trainer_state.json).
    checkpoints: list[int] = []
    #: (step, loss) and (step, eval loss), thinned to at most a few hundred points.
    loss_curve: list[tuple[int, float]] = []
    eval_loss_curve: list[tuple[int, float]] = []
    #: Step training resumed from in this attempt (0: a fresh start).
    resumed_from: int = 0
    #: True once ms-swift wrote its final summary line (finished, or stopped with SIGINT).
    finished: bool = False


class GpuInfo(msgspec.Struct, frozen=True, kw_only=True):
    index: int
    name: str
    utilization: float
    memory_used_mib: float
    memory_total_mib: float
    temperature_c: float | None = None
    power_w: float | None = None
    #: pid -> used memory in MiB of the compute processes on this GPU.
    processes: dict[int, float] = {}


class GpuSample(Event, frozen=True, kw_only=True, tag="gpu_sample"):
    """NVML readings of every visible GPU; an empty list and a note when there is none."""

    topic_field: ClassVar[str | None] = "host"

    host: str
    gpus: list[GpuInfo] = []
    note: str = ""


class ServerStatus(Event, frozen=True, kw_only=True, tag="server_status"):
    """A deployed model server: starting, then ready (its /v1/models answered) or gone."""

    topic_field: ClassVar[str | None] = "model"

    model: str
    status: Literal["starting", "ready", "stopped"]
    url: str
    backend: str = ""
    checkpoint: str = ""


class EvalProgress(Event, frozen=True, kw_only=True, tag="eval_progress"):
    """Generations done on one benchmark, and the accuracy of those reviewed so far."""

    topic_field: ClassVar[str | None] = "benchmark"

    model: str
    benchmark: str
    done: int
    #: problems x repeats; None when evalscope downloads the benchmark and the count is unknown.
    total: int | None = None
    reviewed: int = 0
    accuracy: float | None = None


class EvalResult(Event, frozen=True, kw_only=True, tag="eval_result"):
    """The result of one model on one benchmark (the full record is eval/<model>/results.json)."""

    topic_field: ClassVar[str | None] = "key"

    #: "<model>/<benchmark>".
    key: str
    model: str
    benchmark: str
    pass1: float
    stderr: float
    repeat_accuracies: list[float] = []
    #: "k" -> pass@k.
    pass_at_k: dict[str, float] = {}
    truncation_rate: float = 0.0
    mean_output_tokens: float = 0.0
    problems: int = 0


EVENT_TYPES: tuple[type[Event], ...] = (
    StageStarted,
    StageFinished,
    Message,
    Progress,
    GenerateProgress,
    FilterProgress,
    Preflight,
    TrainProgress,
    GpuSample,
    ServerStatus,
    EvalProgress,
    EvalResult,
)
AnyEvent = (
    StageStarted
    | StageFinished
    | Message
    | Progress
    | GenerateProgress
    | FilterProgress
    | Preflight
    | TrainProgress
    | GpuSample
    | ServerStatus
    | EvalProgress
    | EvalResult
)


def topic(event: Event) -> str | None:
    """`generate_progress:MathR` for snapshot events; None for the others."""
    if event.topic_field is None:
        return None
    kind = type(event).__struct_config__.tag
    return f"{kind}:{getattr(event, event.topic_field)}"

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(AnyEvent)


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)


def decode_event(line: bytes) -> Event | None:
    """The event on a line, or None for a line a reader must skip."""
    try:
        event = _decoder.decode(line)
    except msgspec.DecodeError:  # not JSON, unknown kind, wrong fields
        return None
    return event if event.v <= SCHEMA_VERSION else None


class EventWriter:
    """Appends events of one stage; stamps time and stage id; masks secrets."""

    def __init__(
        self,
        path: Path,
        stage: str,
        *,
        redactor: Redactor | None = None,
        clock: Callable[[], float] = time.time,
        observer: Callable[[Event], object] | None = None,
    ) -> None:
        self._out = JsonlAppender(path)
        self._stage = stage
        self._redactor = redactor or Redactor(())
        self._clock = clock
        #: Called with each event right after it is appended, under the writer's lock (the
        #: stage's view checkpoint, see rchain.runs.ViewCheckpoint).
        self._observer = observer
        self._lock = threading.Lock()  # stages emit from several threads (GPU monitor, watchers)

    def emit(self, event: Event) -> Event:
        event = msgspec.structs.replace(event, t=event.t or self._clock(), stage=self._stage)
        line = self._redactor.bytes(encode_event(event))
        with self._lock:
            self._out.append(line)
            if self._observer is not None:
                # What the checkpoint keeps must be what the file says: the redacted event.
                self._observer(decode_event(line) or event)
        return event

    def close(self) -> None:
        self._out.close()


class EventFollower:
    """`tail -f` for an events file: yields each complete new line once.

    Survives the file not existing yet, being truncated (starts again from the top) and being
    replaced (rotation: a new inode is read from its start). A partial last line stays buffered
    until its newline arrives; if it never does, it is never yielded.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._inode: int | None = None
        self._offset = 0
        self._partial = b""
        #: Lines that could not be decoded (torn in the middle, unknown kinds, newer versions).
        self.skipped = 0
        self._size = 0

    def start_at(self, inode: int, offset: int) -> None:
        """Continue from `offset` of the file with `inode` (where a checkpoint left off)."""
        self._inode, self._offset, self._partial = inode, offset, b""

    @property
    def behind(self) -> bool:
        """Whether the last poll left part of the file unread."""
        return self._offset < self._size

    def poll(self, max_bytes: int | None = None) -> list[Event]:
        """The events of the complete lines written since the last call; at most `max_bytes`
        of the file are read (call again while `behind`), so a huge backlog never sits in
        memory at once."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return []
        if st.st_ino != self._inode or st.st_size < self._offset:
            self._inode, self._offset, self._partial = st.st_ino, 0, b""
        self._size = st.st_size
        if st.st_size == self._offset:
            return []
        want = st.st_size - self._offset if max_bytes is None else min(max_bytes, st.st_size - self._offset)
        with open(self.path, "rb") as fh:
            fh.seek(self._offset)
            chunk = fh.read(want)
        self._offset += len(chunk)
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()
        events = []
        for line in lines:
            if not line.strip():
                continue
            event = decode_event(line)
            if event is None:
                self.skipped += 1
            else:
                events.append(event)
        return events


def read_events(path: Path) -> list[Event]:
    """Every complete, readable event in a file."""
    return EventFollower(path).poll()
