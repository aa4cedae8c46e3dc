"""The console as a person uses it, in tmux: start a generation, lose the terminal, come back.

Skipped where tmux is not installed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import NUMINA_ROWS, TeacherServerProcess, numina_rows
from rchain.runs import RunDir
from rchain.supervisor import Supervisor

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
CONSOLE = [sys.executable, "-m", "rchain.tui.app"]


class Tmux:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def __call__(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=False).stdout

    def screen(self, session: str) -> str:
        return self("capture-pane", "-p", "-t", session)

    def wait_for(self, session: str, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen(session)
            if text in screen:
                return screen
            assert time.monotonic() < deadline, f"{text!r} never appeared; the screen:\n{screen}"
            time.sleep(0.3)


def test_a_stage_started_from_the_console_outlives_its_terminal(tmp_path: Path) -> None:
    (tmp_path / "problems.jsonl").write_text("\n".join(numina_rows(100)) + "\n", encoding="utf-8")
    server = TeacherServerProcess("--problems", str(NUMINA_ROWS), "--rate", "40", "--reasoning-tokens", "400")
    config = tmp_path / "pipeline.toml"
    config.write_text(
        f'[run]\nname = "tm"\n[problems]\ndataset = "problems.jsonl"\n[[teachers]]\nname = "MathR"\nmodel = "demo-r1"\n'
        f'base_url = "{server.base_url}"\nconcurrency = 4\nsamples_per_problem = 2\n'
    )
    tmux = Tmux(f"rchain-test-{tmp_path.name}")
    run = RunDir(tmp_path / "runs" / "tm")
    command = " ".join([*CONSOLE])
    try:
        tmux("new-session", "-d", "-s", "first", "-x", "100", "-y", "30", "-c", str(tmp_path), f"{command} pipeline.toml")
        tmux.wait_for("first", "generate")
        tmux("send-keys", "-t", "first", "s")  # start the selected stage: generate
        tmux.wait_for("first", "running")
        tmux("kill-session", "-t", "first")  # the terminal is gone, as after an SSH drop
        time.sleep(1.0)
        assert Supervisor(run).status("generate") == "running"

        tmux("new-session", "-d", "-s", "second", "-x", "100", "-y", "30", "-c", str(tmp_path), f"{command} runs/tm")
        screen = tmux.wait_for("second", "replies")
        assert "running" in screen.split("generate", 1)[1].splitlines()[0]
        tmux("send-keys", "-t", "second", "x")
        tmux.wait_for("second", "Stop generate?")
        tmux("send-keys", "-t", "second", "y")
        tmux.wait_for("second", "stopped")
        assert Supervisor(run).status("generate") == "stopped"
        tmux("send-keys", "-t", "second", "q")
    finally:
        tmux("kill-server")
        Supervisor(run).stop("generate", grace=2)
        server.stop()
