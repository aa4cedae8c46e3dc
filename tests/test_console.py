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

        await pilot.press("up", "x", "y")  # stop generate (it asks first)
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


# -- panes, screens and keys against a run the real generate and filter stages produced ----------


@pytest.fixture(scope="module")
def filtered_run(tmp_path_factory):
    from conftest import NUMINA_ROWS, TeacherServerProcess, numina_rows, run_stages

    root = tmp_path_factory.mktemp("console")
    (root / "problems.jsonl").write_text("\n".join(numina_rows(25)) + "\n", encoding="utf-8")
    server = TeacherServerProcess("--problems", str(NUMINA_ROWS), "--error-rate", "demo-r1=0.4")
    config = root / "pipeline.toml"
    config.write_text(
        f'[run]\nname = "c"\n[problems]\ndataset = "problems.jsonl"\n[[teachers]]\nname = "MathR"\nmodel = "demo-r1"\n'
        f'base_url = "{server.base_url}"\nsamples_per_problem = 2\n'
        f'[[teachers]]\nname = "MathR-32B"\nmodel = "demo-r1-distill"\nbase_url = "{server.base_url}"\n'
        '[[variants]]\nname = "V"\nteacher = "MathR"\n'
    )
    try:
        run_stages(config, "generate", "filter")
    finally:
        server.stop()
    return config


def pane_text(app: RchainConsole, pane_id: str, width: int = 100) -> str:
    from rich.console import Console

    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(app.query_one(f"#{pane_id}").render_view(app.view))
    return console.export_text()


def screen_text(app: RchainConsole) -> str:
    import re

    svg = app.export_screenshot()
    return re.sub(r"<[^>]+>", "", svg).replace("&#160;", " ")


async def test_panes_show_the_numbers_in_the_run_files(filtered_run) -> None:
    import json

    from rchain.runs import RunDir

    run = RunDir(load_config(filtered_run).run_dir)
    verdicts = [json.loads(line) for line in run.verdicts_path("MathR").read_text().splitlines()]
    correct = sum(v["label"] == "correct" for v in verdicts)
    wrong = sum(v["label"] == "wrong" for v in verdicts)
    kept = len(run.clean_path("MathR").read_text().splitlines())
    app = RchainConsole(resolve_target(filtered_run), refresh_s=0.1)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.view is not None and app.view.stage("filter").status == "done")
        await pilot.press("2")
        assert app.query_one("#panes").active == "pane-generate"
        generate = pane_text(app, "generate")
        assert "MathR" in generate and "50/50 (100%)" in generate and "done" in generate
        await pilot.press("3")
        text = pane_text(app, "filter")
        assert f"MathR: 50/50 judged, {kept} kept" in text
        row = next(line for line in text.splitlines() if line.strip().startswith("cn_k12"))
        assert row.split()[:4] == ["cn_k12", "50", str(correct), str(wrong)]
        assert f"{100 * correct / 50:.1f}%" in row
        await pilot.press("4")
        assert "No training yet" in pane_text(app, "train")
        await pilot.press("5")
        assert "No evaluation yet" in pane_text(app, "eval")
        await pilot.press("1")
        await pilot.press("question_mark")
        await until(pilot, lambda: "Inspector" in screen_text(app))
        await pilot.press("escape")
        await pilot.press("q")


async def test_log_screen_follows_and_searches(filtered_run) -> None:
    app = RchainConsole(resolve_target(filtered_run), refresh_s=0.1)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.view is not None)
        await pilot.press("l")  # generate is selected first
        from rchain.tui.screens import LogScreen

        await until(pilot, lambda: isinstance(app.screen, LogScreen) and any("rchain: generate started" in line for line in app.screen.lines))
        await pilot.press("slash")
        await pilot.press(*"25 selected", "enter")
        await until(pilot, lambda: app.screen.match_line is not None)
        assert "25 rows read, 0 bad, 0 duplicates, 25 selected" in app.screen.lines[app.screen.match_line]
        await pilot.press("slash", "e", "enter")  # on every line
        first = app.screen.match_line
        await pilot.press("n")
        second = app.screen.match_line
        assert "e" in app.screen.lines[second].lower() and second != first
        await pilot.press("N")
        assert app.screen.match_line == first
        await pilot.press("end")
        assert app.screen.query_one("Log").auto_scroll
        await pilot.press("escape")
        assert not isinstance(app.screen, LogScreen)
        await pilot.press("q")


async def test_inspector_walks_filters_searches_and_overrides(filtered_run) -> None:
    import json

    from rchain.runs import RunDir
    from rchain.tui.screens import InspectorScreen

    run = RunDir(load_config(filtered_run).run_dir)
    raw = [json.loads(line) for line in run.raw_path("MathR").read_text().splitlines()]
    verdicts = {v["uid"]: v for v in (json.loads(line) for line in run.verdicts_path("MathR").read_text().splitlines())}
    app = RchainConsole(resolve_target(filtered_run), refresh_s=0.2)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.view is not None)
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, InspectorScreen) and app.screen.position is not None)
        inspector = app.screen
        title = lambda: str(inspector.query_one("#inspector-title").render())  # noqa: E731
        assert f"MathR: sample 1/{len(raw)}" in title() and raw[0]["uid"] in screen_text(app)
        await pilot.press("n")
        assert f"sample 2/{len(raw)}" in title()
        await pilot.press("w")  # the next rejected reply
        uid = raw[inspector.position]["uid"]
        assert verdicts[uid]["label"] != "correct" and inspector.position > 1
        assert verdicts[uid]["reason"] in screen_text(app)
        assert "t to open" in screen_text(app)
        await pilot.press("t")
        assert "t to open" not in screen_text(app)
        await pilot.press("A")  # accept it by hand
        override = json.loads(run.overrides_path.read_text().splitlines()[-1])
        assert override["uid"] == uid and override["decision"] == "accept"
        assert "overridden by hand: accept" in screen_text(app)

        await pilot.press("f", *"label=correct", "enter")
        positions = []
        for _ in range(5):
            positions.append(inspector.position)
            await pilot.press("n")
        assert all(verdicts[raw[p]["uid"]]["label"] == "correct" for p in positions)
        await pilot.press("f", "ctrl+u", "enter")  # clear the filter
        await pilot.press("c")  # next accepted
        assert verdicts[raw[inspector.position]["uid"]]["label"] == "correct"
        here = inspector.position
        await pilot.press("left")
        assert inspector.position == here - 1
        await pilot.press("R")  # reject by hand
        rejected = raw[inspector.position]["uid"]
        assert json.loads(run.overrides_path.read_text().splitlines()[-1]) | {"t": 0} == {"uid": rejected, "decision": "reject", "note": "console inspector", "t": 0}

        target = raw[17]["uid"]
        await pilot.press("g", *target, "enter")
        assert inspector.position == 17
        word = max(raw[22]["problem"].split(), key=len)  # a word of a later problem
        texts = [" ".join([r["uid"], r["problem"], *(str(m["content"]) for m in r["messages"])]).lower() for r in raw]
        first = next(i for i in range(18, len(raw)) if word.lower() in texts[i])
        await pilot.press("slash", *word, "enter")
        await until(pilot, lambda: inspector.position == first)
        await pilot.press("T")  # the other teacher's replies
        await until(pilot, lambda: inspector.index is not None and inspector.index.teacher == "MathR-32B" and inspector.position is not None)
        assert "MathR-32B: sample 1/25" in title()
        await pilot.press("e")  # eval answers: none in this run yet
        assert "eval predictions: none yet" in title()
        await pilot.press("e")
        await pilot.press("escape")
        assert not isinstance(app.screen, InspectorScreen)
        await pilot.press("q")
    # The next filter run honours the decision: the accepted reply is in the clean subset.
    import subprocess

    from conftest import rchain_cmd

    subprocess.run(rchain_cmd("filter", str(filtered_run)), check=True, capture_output=True, timeout=120)
    assert uid in {json.loads(line)["uid"] for line in run.clean_path("MathR").read_text().splitlines()}


@pytest.fixture
def sleeping_generate(config_file, stage_env):
    """A run whose generate stage is a 60 s sleeper, stopped again after the test."""
    run = prepare_run(load_config(config_file))
    supervisor = Supervisor(run)
    supervisor.start("generate", entry="stage_fixtures:sleep_stage")
    yield config_file, run, supervisor
    supervisor.stop("generate", grace=2)


async def test_stop_asks_first_and_restart_starts_again(sleeping_generate) -> None:
    config_file, run, supervisor = sleeping_generate
    app = RchainConsole(resolve_target(config_file), refresh_s=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.view is not None and app.view.stage("generate").status == "running")
        await pilot.press("x")
        await pilot.press("n")  # no: nothing is sent
        await pilot.pause(0.5)
        assert supervisor.status("generate") == "running"
        first_pid = run.read_state("generate").pid
        await pilot.press("r", "y")  # restart: stopped, then started again as a new process
        await until(pilot, lambda: (s := run.read_state("generate")) is not None and s.pid != first_pid and s.status == "running", timeout=30)
        await pilot.press("x", "y")
        await until(pilot, lambda: cell(app, "generate", "status").endswith("stopped"), timeout=30)
        stopped_pid = run.read_state("generate").pid
        await pilot.press("s")  # start it again, no question asked: the built-in generate stage
        await until(pilot, lambda: (s := run.read_state("generate")).pid != stopped_pid and s.status != "starting", timeout=30)
        assert "--entry" not in run.read_state("generate").argv
        await pilot.press("p")
        assert app.paused
        await pilot.press("q")


def test_a_pane_that_cannot_draw_says_so_instead_of_crashing() -> None:
    from rchain.events import TrainProgress
    from rchain.runs import RunView, StageView
    from rchain.tui.panes import TrainPane

    # A training snapshot before ms-swift has logged max_steps (0) once crashed the console.
    view = RunView(name="r", root="/x", at=0.0, stages=(StageView(id="train:V", snapshots={"train_progress:V": TrainProgress(variant="V", step=0, max_steps=0)}),))
    text = str(TrainPane().render_view(view).renderables[0])
    assert "step 0/? (0%)" in text

    class Broken(TrainPane):
        def render_view(self, view):
            raise ValueError("boom")

    assert "this pane failed to draw: ValueError: boom" in str(Broken().safe_render(view))


async def test_run_all_starts_the_plan_detached_with_the_teacher_server(tmp_path: Path) -> None:
    """`a` starts the `pipeline` stage: teachers served for generate, then filter; all detached."""
    from conftest import free_port
    from rchain.demo import synthetic

    synthetic.write_jsonl(tmp_path / "problems.jsonl", synthetic.problems(per_source=2))
    port = free_port()
    config = tmp_path / "pipeline.toml"
    config.write_text(
        f'[run]\nname = "p"\n[problems]\ndataset = "problems.jsonl"\n[teacher_server]\nenabled = true\nport = {port}\nrate = 0\n'
        f'[[teachers]]\nname = "T"\nmodel = "demo-r1"\nbase_url = "http://127.0.0.1:{port}/v1"\n'
    )
    app = RchainConsole(resolve_target(config), refresh_s=0.1)
    run = resolve_target(config).run
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.view is not None)
        assert [str(k.value) for k in app.query_one(StageList).rows] == ["teachers", "generate", "filter"]
        await pilot.press("a")
        await until(pilot, lambda: (s := run.read_state("pipeline")) is not None and s.status == "done", timeout=90)
        assert run.read_state("generate").status == "done" and run.read_state("filter").status == "done"
        assert run.read_state("teachers").status == "stopped"
        assert len(run.raw_path("T").read_text().splitlines()) == 18
        from conftest import events_of
        from rchain.events import Message

        # Its detail line follows the plan: the server, each stage as it runs, the end.
        said = [m.text for m in events_of(run, "pipeline", Message)]
        assert said == ["teachers: starting the server...", "teachers: serving", "generate: running", "filter: running", "pipeline finished: every stage is done"]
        await until(pilot, lambda: "pipeline" in [str(k.value) for k in app.query_one(StageList).rows])
        await pilot.press("q")
    # Opening it again with autostart (what --demo does) does not start a plan that ran before.
    again = RchainConsole(resolve_target(config), refresh_s=0.1, autostart=True)
    async with again.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.5)
        assert not [w for w in again.workers if w.group == "control"]
        await pilot.press("q")


async def test_the_command_palette_stops_a_stage(sleeping_generate) -> None:
    from textual.command import CommandList

    config_file, run, supervisor = sleeping_generate
    app = RchainConsole(resolve_target(config_file), refresh_s=0.1)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.view is not None and app.view.stage("generate").status == "running")
        await pilot.press("ctrl+p")
        await pilot.press(*"Stop generate")
        # The palette searches in a worker: wait for its hits, then take the first.
        await until(pilot, lambda: any(hits.option_count for hits in app.screen.query(CommandList)))
        await pilot.press("enter")
        await until(pilot, lambda: "Stop generate?" in screen_text(app))
        await pilot.press("y")
        await until(pilot, lambda: supervisor.status("generate") == "stopped", timeout=30)
        await pilot.press("q")
