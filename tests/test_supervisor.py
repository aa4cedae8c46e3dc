"""The supervisor against real child processes: detached stages outlive their supervisor."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from rchain.config import load_config
from rchain.errors import Conflict
from rchain.runs import RunDir, RunWatcher, process_create_time, view_status
from rchain.stages import prepare_run
from rchain.supervisor import Supervisor

SLEEP = "stage_fixtures:sleep_stage"


@pytest.fixture
def run(config_file: Path, stage_env: dict[str, str]) -> RunDir:
    return prepare_run(load_config(config_file))


def wait_until(predicate, timeout: float = 20.0) -> None:
    """Poll a condition on the run directory (the stage is another process: there is no event
    to await). Fails the test at the timeout instead of hanging."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def test_a_new_supervisor_controls_a_stage_whose_supervisor_was_killed(run: RunDir) -> None:
    # The first supervisor lives in its own process, like a console on a dropped SSH session.
    script = (
        "import sys, time\n"
        "from rchain.runs import RunDir\n"
        "from rchain.supervisor import Supervisor\n"
        f"state = Supervisor(RunDir({str(run.root)!r})).start('generate', entry={SLEEP!r})\n"
        "print(state.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    first = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    stage_pid = int(first.stdout.readline())
    first.kill()
    first.wait()

    supervisor = Supervisor(run)
    wait_until(lambda: supervisor.status("generate") == "running")
    assert run.read_state("generate").pid == stage_pid
    wait_until(lambda: (RunWatcher(run).snapshot().stage("generate").progress or None) is not None)

    started = time.monotonic()
    state = supervisor.stop("generate", grace=5.0)
    assert time.monotonic() - started < 5.0
    assert state.status == "stopped" and state.exit_code == 128 + signal.SIGTERM
    assert supervisor.status("generate") == "stopped"
    assert process_create_time(stage_pid) is None  # gone (or a zombie awaiting init's reaping)
    view = RunWatcher(run).snapshot().stage("generate")
    assert view.status == "stopped" and view.reason == "stopped by SIGTERM"


def test_a_stage_killed_with_sigkill_shows_as_crashed_with_its_log_tail(run: RunDir) -> None:
    supervisor = Supervisor(run)
    supervisor.start("generate", entry=SLEEP)
    wait_until(lambda: supervisor.status("generate") == "running")
    os.kill(run.read_state("generate").pid, signal.SIGKILL)
    wait_until(lambda: supervisor.status("generate") == "crashed")
    view = RunWatcher(run).snapshot().stage("generate")
    assert view.status == "crashed"
    assert "vanished without recording its exit" in view.reason
    assert view.log_tail[0].startswith("=== rchain: generate started")
    # The clock of a crashed stage stops at its last sign of life.
    assert view.ended_at is not None and view.elapsed(time.time() + 3600) < 60


def test_a_recycled_pid_is_not_mistaken_for_the_stage(run: RunDir) -> None:
    supervisor = Supervisor(run)
    supervisor.start("generate", entry=SLEEP)
    wait_until(lambda: supervisor.status("generate") == "running")
    state = run.read_state("generate")
    # The wall clock stepped (NTP) by a minute since the state was written: the same process.
    run.write_state(msgspec.structs.replace(state, create_time=state.create_time - 60))
    assert view_status(run.read_state("generate")) == "running"
    # Same pid, another start time: what a reused pid looks like.
    run.write_state(msgspec.structs.replace(state, create_time=state.create_time - 1000, started_after_boot=state.started_after_boot - 1000))
    assert view_status(run.read_state("generate")) == "crashed"
    # Stop does not signal a process it cannot prove is the stage...
    supervisor.stop("generate", grace=1.0)
    os.kill(state.pid, 0)  # ...so the real one still runs
    run.write_state(state)
    assert supervisor.stop("generate", grace=5.0).status == "stopped"


def test_stop_clears_a_tool_left_running_by_a_crashed_stage(run: RunDir) -> None:
    """A SIGKILLed stage cannot stop its tool (a trainer would go on training): stop does."""
    supervisor = Supervisor(run)
    state = supervisor.start("train:V", entry="stage_fixtures:tool_stage")
    wait_until(lambda: "tool pid" in run.log_path("train:V").read_text())
    tool_pid = int(run.log_path("train:V").read_text().split("tool pid ")[1].split()[0])
    os.kill(state.pid, signal.SIGKILL)
    wait_until(lambda: supervisor.status("train:V") == "crashed")
    os.kill(tool_pid, 0)  # the orphan still runs in the stage's process group
    supervisor.stop("train:V")
    wait_until(lambda: not _running(tool_pid), timeout=10)


def _running(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_sigterm_is_escalated_to_sigkill_after_the_grace_period(run: RunDir) -> None:
    supervisor = Supervisor(run)
    supervisor.start("filter", entry="stage_fixtures:stubborn_stage")
    wait_until(lambda: "ignoring SIGTERM" in run.log_path("filter").read_text())
    started = time.monotonic()
    state = supervisor.stop("filter", grace=1.0)
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 6.0
    assert state.status == "stopped" and state.exit_code == 128 + signal.SIGKILL
    assert state.reason == "killed with SIGKILL after a 1s grace period"


def test_failure_is_recorded_with_a_reason_and_the_traceback_in_the_log(run: RunDir) -> None:
    supervisor = Supervisor(run)
    supervisor.start("train:V", entry="stage_fixtures:failing_stage")
    assert supervisor.wait("train:V", timeout=30) == "failed"
    state = run.read_state("train:V")
    assert state.exit_code == 1 and state.reason == "RuntimeError: the teacher returned nonsense"
    log = run.log_path("train:V").read_text()
    assert "about to fail" in log and "Traceback" in log


def test_stub_stage_fails_with_not_built_exit_code(run: RunDir) -> None:
    supervisor = Supervisor(run)
    supervisor.start("publish", entry="rchain.stages:not_built")  # every stage is built now
    assert supervisor.wait("publish", timeout=30) == "failed"
    state = run.read_state("publish")
    assert state.exit_code == 5 and state.reason == "the publish stage is not built yet in rchain 0.1.0"


def test_starting_a_running_stage_is_a_conflict_and_restart_begins_a_new_attempt(run: RunDir) -> None:
    supervisor = Supervisor(run)
    first = supervisor.start("generate", entry=SLEEP)
    wait_until(lambda: supervisor.status("generate") == "running")
    with pytest.raises(Conflict):
        supervisor.start("generate", entry=SLEEP)
    second = supervisor.restart("generate", entry=SLEEP, grace=5.0)
    assert second.pid != first.pid
    wait_until(lambda: supervisor.status("generate") == "running")
    assert run.log_path("generate").read_text().count("=== rchain: generate started") == 2
    supervisor.stop("generate", grace=5.0)


def test_a_finished_stage_records_done_and_its_events(run: RunDir) -> None:
    supervisor = Supervisor(run)
    supervisor.start("publish", entry="stage_fixtures:quick_stage")
    assert supervisor.wait("publish", timeout=30) == "done"
    view = RunWatcher(run, ["generate", "publish"]).snapshot()
    assert [s.id for s in view.stages] == ["generate", "publish"]
    assert view.stage("generate").status == "pending"
    publish = view.stage("publish")
    assert publish.exit_code == 0 and publish.progress.done == 3
    assert publish.last_message.text == "hello from the quick stage"
    state = run.read_state("publish")
    assert state.argv[1:4] == ["-m", "rchain.stage_process", str(run.root)]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_stop_escalation_with_an_injected_clock_takes_no_wall_time(run: RunDir, monkeypatch) -> None:
    """The grace period is counted on the injected clock, so a 10-minute grace costs nothing."""
    supervisor = Supervisor(run)
    supervisor.start("filter", entry="stage_fixtures:stubborn_stage")
    wait_until(lambda: "ignoring SIGTERM" in run.log_path("filter").read_text())
    clock = FakeClock()
    fast = Supervisor(run, clock=clock, sleep=clock.sleep)
    started = time.monotonic()
    state = fast.stop("filter", grace=600.0)
    assert time.monotonic() - started < 10
    assert clock.now >= 600.0
    assert state.exit_code == 128 + signal.SIGKILL
