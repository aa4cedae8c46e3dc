"""rchain-console driven by Pilot against a real run directory with real stage processes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rchain.config import load_config
from rchain.stages import prepare_run
from rchain.supervisor import Supervisor
from rchain.tui.app import RchainConsole
from rchain.tui.stage_list import StageList
from rchain.workspace import resolve_target


async def until(pilot, predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await pilot.pause(0.05)


def cell(app: RchainConsole, stage_id: str, column: str) -> str:
    table = app.query_one(StageList)
    return str(table.get_cell(stage_id, column))


@pytest.fixture
def running_run(config_file: Path, stage_env):
    run = prepare_run(load_config(config_file))
    supervisor = Supervisor(run)
    supervisor.start("generate", entry="stage_fixtures:sleep_stage")
    supervisor.start("filter", entry="stage_fixtures:failing_stage")
    supervisor.wait("filter", timeout=30)
    yield config_file, run
    supervisor.stop("generate", grace=2)


async def test_console_shows_the_run_and_stops_a_stage(running_run) -> None:
    config_file, run = running_run
    app = RchainConsole(resolve_target(config_file), refresh_s=0.1)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.view is not None and app.view.stage("generate").progress is not None)
        table = app.query_one(StageList)
        assert [str(k.value) for k in table.rows] == ["generate", "filter", "train:V", "deploy:V", "eval:V"]
        assert cell(app, "generate", "status").endswith("running")
        assert cell(app, "filter", "status").endswith("failed")
        assert cell(app, "filter", "detail") == "RuntimeError: the teacher returned nonsense"
        assert cell(app, "train:V", "status").endswith("pending")

        await pilot.press("down")  # select filter: its reason and log tail show below
        await until(pilot, lambda: "about to fail" in str(app.query_one("#log-tail").render()))

        await pilot.press("up", "x")  # stop generate
        await until(pilot, lambda: cell(app, "generate", "status").endswith("stopped"))
        assert run.read_state("generate").status == "stopped"
        await pilot.press("q")
    assert app.return_value == []


async def test_read_only_console_refuses_controls_and_quitting_leaves_stages_running(running_run) -> None:
    config_file, run = running_run
    app = RchainConsole(resolve_target(run.root), refresh_s=0.1, read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.view is not None and app.view.stage("generate").status == "running")
        await pilot.press("x")
        assert not [w for w in app.workers if w.group == "control"]  # refused: no stop was sent
        assert Supervisor(run).status("generate") == "running"
        await pilot.press("q")
    assert app.return_value == ["generate"]
    assert Supervisor(run).status("generate") == "running"
