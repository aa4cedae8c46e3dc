"""Start, stop, restart and watch stage processes.

A stage runs detached: its own session and process group, stdout and stderr appended to
`output.log`, so closing the console or losing SSH never stops it. All the supervisor knows lives
in the run directory, so a supervisor in a new process (a new console after an SSH drop) sees and
controls stages that an earlier one started.

Stop is a signal to the whole process group (wrapped tools such as `swift sft` run the real job
as a grandchild), escalating to SIGKILL after a grace period. Clock, sleep and process spawner are
injectable so the stop logic can be tested without waiting.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import msgspec

from rchain.errors import Conflict
from rchain.runs import ACTIVE, RunDir, StageState, ViewStatus, hostname, is_alive, process_create_time, process_started_after_boot, stage_name, view_status

DEFAULT_GRACE_S = 10.0
#: The signals a stop sends, in order, before SIGKILL. ms-swift's trainer writes its summary on
#: SIGINT (KeyboardInterrupt) and dies without one on SIGTERM, so training gets SIGINT first.
STOP_SIGNALS: dict[str, tuple[int, ...]] = {"train": (signal.SIGINT, signal.SIGTERM)}
DEFAULT_STOP_SIGNALS: tuple[int, ...] = (signal.SIGTERM,)
#: Grace per signal where the default is too short: the pipeline stops the stage it runs first.
STOP_GRACE_S: dict[str, float] = {"pipeline": 60.0}
KILL_WAIT_S = 5.0
POLL_S = 0.05


class Supervisor:
    def __init__(
        self,
        run: RunDir,
        *,
        env: Mapping[str, str] | None = None,
        python: str = sys.executable,
        popen: Callable[..., Any] = subprocess.Popen,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.run = run
        self._env = dict(env) if env is not None else None
        self._python = python
        self._popen = popen
        self._clock = clock
        self._sleep = sleep
        # Children this supervisor spawned, so they can be reaped rather than linger as zombies.
        self._children: dict[str, Any] = {}

    # -- queries ------------------------------------------------------------------------------

    def status(self, stage_id: str) -> ViewStatus:
        self._reap(stage_id)
        return view_status(self.run.read_state(stage_id))

    def is_active(self, stage_id: str) -> bool:
        return self.status(stage_id) in ACTIVE

    # -- start ---------------------------------------------------------------------------------

    def start(self, stage_id: str, *, entry: str | None = None) -> StageState:
        """Launch a stage detached; return its recorded state. Conflict if it already runs."""
        current = self.status(stage_id)
        if current in ACTIVE or current == "unknown":
            where = "on another host" if current == "unknown" else f"(pid {self.run.read_state(stage_id).pid})"
            raise Conflict(f"stage {stage_id} is already running {where}", hint=f"rchain stop {self.run.root} {stage_id}")
        argv = [self._python, "-m", "rchain.stage_process", str(self.run.root), stage_id]
        if entry:
            argv += ["--entry", entry]
        stage_dir = self.run.stage_dir(stage_id)
        stage_dir.mkdir(parents=True, exist_ok=True)
        state = StageState(stage=stage_id, status="starting", argv=argv, started_at=time.time(), host=hostname())
        self.run.write_state(state)
        with open(self.run.log_path(stage_id), "ab") as log:
            stamp = datetime.now().isoformat(timespec="seconds")
            log.write(f"=== rchain: {stage_id} started {stamp} ===\n".encode())
            log.flush()
            proc = self._popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=str(self.run.root),
                env=self._env,
            )
        state = msgspec.structs.replace(state, pid=proc.pid, create_time=process_create_time(proc.pid), started_after_boot=process_started_after_boot(proc.pid))
        self.run.write_state(state)
        proc.stdin.close()  # the handshake: the stage may now write its own state
        self._children[stage_id] = proc
        return state

    # -- stop ----------------------------------------------------------------------------------

    def stop(
        self,
        stage_id: str,
        *,
        grace: float | None = None,
        signals: Sequence[int] | None = None,
    ) -> StageState | None:
        """Signal the stage's process group, each signal followed by up to `grace` seconds of
        waiting, then SIGKILL. Returns the final state (None if it never ran).

        A crashed stage (its process gone without a record) may have left a tool running in its
        group, such as a trainer under a SIGKILLed stage: that group is cleared too."""
        state = self.run.read_state(stage_id)
        if state is None or state.pid is None:
            return state
        status = view_status(state)
        # Only when the leader's pid is free: a live pid may be a reused one, and while a group
        # has members the kernel hands its id to no new process, so the group is the stage's.
        if status == "crashed" and not _pid_exists(state.pid) and _group_alive(state.pid):
            self._signal_group(state.pid, signal.SIGKILL)
            self._wait_group(stage_id, state.pid, KILL_WAIT_S)
            return state
        if status not in ACTIVE or not is_alive(state):
            return state
        if signals is None:
            signals = STOP_SIGNALS.get(stage_name(stage_id), DEFAULT_STOP_SIGNALS)
        if grace is None:
            grace = STOP_GRACE_S.get(stage_name(stage_id), DEFAULT_GRACE_S)
        pgid = state.pid  # a session leader's pgid is its pid
        for signum in signals:
            if self._signal_group(pgid, signum) and self._wait_group(stage_id, pgid, grace):
                return self._settled_state(stage_id, killed=False)
        self._signal_group(pgid, signal.SIGKILL)
        self._wait_group(stage_id, pgid, KILL_WAIT_S)
        return self._settled_state(stage_id, killed=True, grace=grace)

    def restart(self, stage_id: str, *, entry: str | None = None, grace: float | None = None) -> StageState:
        """Stop the stage and start it again the way it was started (a custom `--entry` included)."""
        previous = self.run.read_state(stage_id)
        if entry is None and previous is not None and "--entry" in previous.argv[:-1]:
            entry = previous.argv[previous.argv.index("--entry") + 1]
        self.stop(stage_id, grace=grace)
        return self.start(stage_id, entry=entry)

    def wait(self, stage_id: str, *, timeout: float | None = None, poll: float = 0.2) -> ViewStatus:
        """Block until the stage is no longer active (or the timeout passes)."""
        deadline = None if timeout is None else self._clock() + timeout
        while True:
            status = self.status(stage_id)
            if status not in ACTIVE:
                return status
            if deadline is not None and self._clock() >= deadline:
                return status
            self._sleep(poll)

    # -- internals -----------------------------------------------------------------------------

    def _signal_group(self, pgid: int, signum: int) -> bool:
        try:
            os.killpg(pgid, signum)
            return True
        except ProcessLookupError:
            return False

    def _wait_group(self, stage_id: str, pgid: int, timeout: float) -> bool:
        """Wait until no live process is left in the group. True if it emptied in time."""
        deadline = self._clock() + timeout
        while True:
            self._reap(stage_id)
            if not _group_alive(pgid):
                return True
            if self._clock() >= deadline:
                return False
            self._sleep(POLL_S)

    def _reap(self, stage_id: str) -> None:
        proc = self._children.get(stage_id)
        if proc is not None and proc.poll() is not None:
            del self._children[stage_id]

    def _settled_state(self, stage_id: str, *, killed: bool, grace: float = 0.0) -> StageState | None:
        """The state after the group is gone; records the stop if the stage could not."""
        state = self.run.read_state(stage_id)
        if state is not None and state.status in ACTIVE:
            reason = f"killed with SIGKILL after a {grace:g}s grace period" if killed else "stopped before recording its exit"
            state = msgspec.structs.replace(
                state,
                status="stopped",
                ended_at=time.time(),
                exit_code=128 + (signal.SIGKILL if killed else signal.SIGTERM),
                reason=reason,
            )
            self.run.write_state(state)
        return state


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _group_alive(pgid: int) -> bool:
    """Whether any non-zombie process is left in a process group."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    import psutil

    try:  # the leader (pid == pgid) is usually still there: no need to scan the process table
        if psutil.Process(pgid).status() != psutil.STATUS_ZOMBIE:
            return True
    except psutil.NoSuchProcess:
        pass
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.Error):
            continue
    return False
