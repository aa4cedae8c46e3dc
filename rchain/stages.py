"""Stage processes: what runs inside `python -m rchain.stage_process RUN_DIR STAGE_ID`.

Every stage has the same shape: a function `run(ctx: StageContext) -> None` that reads the run
directory and writes records and events. This module resolves the function, records the stage's
lifecycle in state.json (running, then done / failed / stopped with the exit code and a one-line
reason), and turns SIGTERM/SIGINT into a clean stop. A stage killed with SIGKILL records nothing;
readers then see it as crashed.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from rchain.config import PipelineConfig, dump_config, load_config
from rchain.errors import NotBuiltYet, RchainError
from rchain.events import EventWriter, Message, Progress, StageFinished, StageStarted
from rchain.runs import RunDir, StageState, ViewCheckpoint, hostname, process_create_time, process_started_after_boot, stage_name, stage_target, write_atomic
from rchain.secrets import RedactingStream, Redactor

#: Stage name -> entry point ("module:function"). A stage not built yet points at `not_built`.
ENTRY_POINTS: dict[str, str] = {
    "generate": "rchain.generate.runner:run",
    "filter": "rchain.verify.runner:run",
    "train": "rchain.train:run",
    "deploy": "rchain.serve:run",
    "eval": "rchain.evaluate:run",
    "publish": "rchain.publish:run",
    # Servers and the orchestrator: they run until stopped (teachers, deploy) or until the plan is.
    "teachers": "rchain.demo.teacher_server:run_stage",
    "pipeline": "rchain.pipeline:run",
}
STAGE_NAMES: tuple[str, ...] = tuple(ENTRY_POINTS)
#: Stage name -> "module:function(config, run, target) -> str" printing what the stage would run.
DRY_RUNS: dict[str, str] = {
    "train": "rchain.train:dry_run",
    "deploy": "rchain.serve:dry_run",
    "eval": "rchain.evaluate:dry_run",
}


def plan_stages(config: PipelineConfig) -> list[str]:
    """Stage ids of a run, in the order `rchain run` executes them.

    Every variant is trained first (the GPUs are busy with one job at a time), then each variant
    and each baseline model is deployed and evaluated in turn, its server stopped before the next
    one starts.
    """
    from rchain.serve import baseline_name

    stages = ["teachers"] if config.teacher_server.enabled else []
    stages += ["generate", "filter"]
    stages += [f"train:{v.name}" for v in config.variants]
    served = [v.name for v in config.variants] + [baseline_name(b) for b in config.eval.baselines]
    for name in served:
        stages += [f"deploy:{name}", f"eval:{name}"]
    if config.publish.enabled:
        stages.append("publish")
    return stages


def prepare_run(config: PipelineConfig) -> RunDir:
    """Create the run directory and freeze the config into it.

    When the config changed since the last start, the earlier frozen copy is kept beside it as
    `pipeline.<unix time>.toml`, so what each attempt ran with stays on record.
    """
    run = RunDir(config.run_dir)
    run.root.mkdir(parents=True, exist_ok=True)
    text = dump_config(config)
    if run.config_path.exists():
        old = run.config_path.read_text(encoding="utf-8")
        if old == text:
            return run
        run.config_path.rename(run.root / f"pipeline.{int(time.time())}.toml")
    write_atomic(run.config_path, text.encode())
    return run


class StageStopped(BaseException):
    """Raised in a stage's main thread by SIGTERM/SIGINT. A BaseException, so that a stage's
    `except Exception` does not swallow the stop."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass
class StageContext:
    """What a stage function gets: its run, its config, and a way to report progress."""

    run: RunDir
    stage_id: str
    config: PipelineConfig | None
    events: EventWriter
    redactor: Redactor
    stop_requested: threading.Event = field(default_factory=threading.Event)
    #: When True, a stop signal only sets `stop_requested` (the stage polls it and winds down,
    #: e.g. an asyncio loop finishing in-flight writes); otherwise StageStopped is raised.
    cooperative_stop: bool = False

    @property
    def name(self) -> str:
        return stage_name(self.stage_id)

    @property
    def target(self) -> str | None:
        return stage_target(self.stage_id)

    def message(self, text: str, level: str = "info") -> None:
        print(f"[{level}] {text}", flush=True)
        self.events.emit(Message(level=level, text=self.redactor.text(text)))  # type: ignore[arg-type]

    def progress(self, done: int, total: int | None = None, unit: str = "items", note: str = "") -> None:
        self.events.emit(Progress(done=done, total=total, unit=unit, note=note))


StageFunction = Callable[[StageContext], None]


def not_built(ctx: StageContext) -> None:
    raise NotBuiltYet(f"the {ctx.name} stage is not built yet in rchain {_version()}")


def resolve_entry(entry: str) -> StageFunction:
    module_name, _, func_name = entry.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, func_name or "run")


def _version() -> str:
    from rchain import __version__

    return __version__


def execute(run: RunDir, stage_id: str, entry: str | None = None) -> int:
    """Run one stage in this process, recording its lifecycle. Returns the exit code."""
    entry = entry or ENTRY_POINTS.get(stage_name(stage_id))
    if entry is None:
        print(f"unknown stage {stage_id!r}", file=sys.stderr)
        return 2
    config = None
    config_error = None
    if run.config_path.exists():
        try:
            config = load_config(run.config_path)
        except RchainError as exc:
            config_error = exc
    redactor = Redactor.from_env(config.secret_env_names() if config else ())
    if redactor:
        sys.stdout = RedactingStream(sys.stdout, redactor)
        sys.stderr = RedactingStream(sys.stderr, redactor)
    pid = os.getpid()
    previous = run.read_state(stage_id)
    started_at = previous.started_at if previous and previous.pid == pid else time.time()
    state = StageState(
        stage=stage_id,
        status="running",
        # `python -m` puts the module's file path in argv[0]; record a command that can be rerun.
        argv=[redactor.text(a) for a in (sys.executable, "-m", "rchain.stage_process", *sys.argv[1:])],
        started_at=started_at,
        host=hostname(),
        pid=pid,
        create_time=process_create_time(pid),
        started_after_boot=process_started_after_boot(pid),
    )
    run.write_state(state)
    checkpoint = ViewCheckpoint(run, stage_id)
    events = EventWriter(run.events_path(stage_id), stage_id, redactor=redactor, observer=checkpoint.observe)
    events.emit(StageStarted(pid=pid, t=started_at))
    ctx = StageContext(run=run, stage_id=stage_id, config=config, events=events, redactor=redactor)

    def on_signal(signum: int, _frame: object) -> None:
        first = not ctx.stop_requested.is_set()
        ctx.stop_requested.set()
        if first and not ctx.cooperative_stop:
            raise StageStopped(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    status, exit_code, reason = "done", 0, ""
    try:
        if config_error is not None:
            raise config_error
        resolve_entry(entry)(ctx)
        if ctx.stop_requested.is_set():
            status, exit_code, reason = "stopped", 128 + signal.SIGTERM, "stopped on request"
    except StageStopped as stop:
        status, exit_code, reason = "stopped", 128 + stop.signum, f"stopped by {stop}"
    except RchainError as exc:
        status, exit_code, reason = "failed", int(exc.exit_code), redactor.text(exc.message)
        print(f"error: {reason}", file=sys.stderr, flush=True)
    except Exception as exc:  # a stage's bug must still be recorded as a failure
        traceback.print_exc()
        status, exit_code = "failed", 1
        reason = redactor.text(f"{type(exc).__name__}: {exc}".splitlines()[0])
    finally:
        # No second signal may cut the bookkeeping short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    final = msgspec.structs.replace(
        state, status=status, ended_at=time.time(), exit_code=exit_code, reason=reason
    )
    run.write_state(final)
    events.emit(StageFinished(status=status, exit_code=exit_code, reason=reason))  # type: ignore[arg-type]
    events.close()
    return exit_code


def _await_supervisor() -> None:
    """Block until the supervisor closes our stdin: it has recorded our pid by then, so our own
    state.json writes can never be overwritten by its `starting` record."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except (OSError, ValueError):
        pass
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m rchain.stage_process")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("stage_id")
    parser.add_argument("--entry", default=None, help="module:function to run instead of the built-in stage")
    args = parser.parse_args(argv)
    _await_supervisor()
    sys.exit(execute(RunDir(args.run_dir), args.stage_id, args.entry))

