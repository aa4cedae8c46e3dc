"""rchain-console: watch and steer a run from the keyboard, over SSH.

This module only wires things: the run snapshot comes from a worker thread (RunWatcher, the same
fold `rchain status` renders), panes render it, and every supervisor call runs in a worker.
Quitting leaves stages running: they live in their own sessions, not under the console.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.css.query import NoMatches
from textual.widgets import Footer, Static, TabbedContent, TabPane

from rchain.errors import RchainError
from rchain.present import detail_lines
from rchain.runs import ACTIVE, RunView
from rchain.tui.messages import RunUpdated
from rchain.tui.panes import EvalPane, FilterPane, GeneratePane, Pane, TrainPane
from rchain.tui.screens import ConfirmScreen, HelpScreen, InspectorScreen, LogScreen
from rchain.tui.stage_list import StageList
from rchain.workspace import Target, resolve_target

PANES = (("stage", "Stage"), ("generate", "Generate"), ("filter", "Filter"), ("train", "Train"), ("eval", "Eval"))


class RchainConsole(App):
    CSS_PATH = "console.tcss"
    TITLE = "rchain"
    BINDINGS = [
        Binding("q", "quit_console", "Quit"),
        Binding("s", "start_stage", "Start"),
        Binding("x", "stop_stage", "Stop"),
        Binding("r", "restart_stage", "Restart"),
        Binding("a", "run_all", "Run all"),
        Binding("l", "open_log", "Log"),
        Binding("i", "open_inspector", "Inspect"),
        Binding("p", "toggle_pause", "Pause"),
        Binding("question_mark", "help", "Keys", key_display="?"),
        *[Binding(str(n), f"show_pane('{pane}')", title, show=False) for n, (pane, title) in enumerate(PANES, start=1)],
    ]

    def __init__(
        self, target: Target, *, read_only: bool = False, refresh_s: float = 1.0, ascii_only: bool = False, autostart: bool = False
    ) -> None:
        super().__init__()
        self.target = target
        #: Start the whole plan on opening, unless it ran before (the demo).
        self.autostart = autostart
        self.read_only = read_only
        self.refresh_s = refresh_s
        self.ascii_only = ascii_only
        self.paused = False
        self.view: RunView | None = None
        #: Snapshots shown so far (tests wait on it).
        self.updates = 0

    def compose(self) -> ComposeResult:
        mode = "  [read-only]" if self.read_only else ""
        yield Static(f"run {self.target.name}  {self.target.run.root}{mode}", id="run-title")
        yield StageList(ascii_only=self.ascii_only, id="stages")
        with TabbedContent(initial="pane-stage", id="panes"):
            with TabPane("1 Stage", id="pane-stage"), VerticalScroll():
                yield Static("", id="log-tail")
            with TabPane("2 Generate", id="pane-generate"), VerticalScroll():
                yield GeneratePane(ascii_only=self.ascii_only, id="generate")
            with TabPane("3 Filter", id="pane-filter"), VerticalScroll():
                yield FilterPane(ascii_only=self.ascii_only, id="filter")
            with TabPane("4 Train", id="pane-train"), VerticalScroll():
                yield TrainPane(ascii_only=self.ascii_only, id="train")
            with TabPane("5 Eval", id="pane-eval"), VerticalScroll():
                yield EvalPane(ascii_only=self.ascii_only, id="eval")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(StageList).focus()
        self.watch_run()
        if self.autostart and self.target.run.read_state("pipeline") is None and not self.read_only:
            self.control_stage("start", "pipeline")

    @work(thread=True, exclusive=True, group="watch")
    def watch_run(self) -> None:
        """Fold the run directory into snapshots a few times a second, off the UI thread."""
        from textual.worker import get_current_worker

        worker = get_current_worker()
        watcher = self.target.watcher()
        while not worker.is_cancelled:
            if not self.paused:
                self.post_message(RunUpdated(watcher.snapshot()))
            time.sleep(self.refresh_s)

    def on_run_updated(self, message: RunUpdated) -> None:
        try:
            stages = self.query_one(StageList)
        except NoMatches:  # a snapshot that arrives while the console is closing
            return
        self.view = message.view
        self.updates += 1
        stages.show(message.view)
        for pane in self.query(Pane):
            pane.show(message.view)
        self._show_tail()

    def on_data_table_row_highlighted(self, _event: StageList.RowHighlighted) -> None:
        self._show_tail()

    def _show_tail(self) -> None:
        try:
            stage_id = self.query_one(StageList).selected_stage
            tail = self.query_one("#log-tail", Static)
        except NoMatches:
            return
        if self.view is None or stage_id is None:
            return
        try:
            stage = self.view.stage(stage_id)
        except KeyError:
            return
        lines = list(stage.log_tail) or ([stage.last_message.text] if stage.last_message else [])
        header = f"{stage.id}: {stage.status}" + (f"  {stage.reason}" if stage.reason else "")
        details = detail_lines(stage)
        tail.update(Text("\n".join([header, *details, *lines])))

    def get_system_commands(self, screen):
        """The command palette (ctrl+p): every stage's start, stop, restart and log, run all,
        the panes, the inspector, besides Textual's own commands."""
        yield from super().get_system_commands(screen)
        yield SystemCommand("Run all", "Start the whole plan as one detached process (as rchain run)", self.action_run_all)
        yield SystemCommand("Inspector", "The dataset sample by sample", self.action_open_inspector)
        for pane, title in PANES:
            yield SystemCommand(f"Pane: {title}", f"Show the {title.lower()} pane", lambda pane=pane: self.action_show_pane(pane))
        for stage_id in [s.id for s in self.view.stages] if self.view else self.target.plan:
            for verb in ("start", "stop", "restart"):
                yield SystemCommand(f"{verb.capitalize()} {stage_id}", f"{verb} the {stage_id} stage", lambda verb=verb, stage_id=stage_id: self._command(verb, stage_id))
            yield SystemCommand(f"Log of {stage_id}", f"Follow the output of {stage_id}", lambda stage_id=stage_id: self.push_screen(LogScreen(self.target.run.log_path(stage_id), stage_id)))

    def _command(self, verb: str, stage_id: str) -> None:
        self.query_one(StageList).select(stage_id)
        self._control(verb, confirm=verb != "start")

    # -- actions ---------------------------------------------------------------------------------

    def action_quit_console(self) -> None:
        running = [s.id for s in (self.view.stages if self.view else ()) if s.status in ACTIVE]
        if running:
            self.notify(f"leaving {', '.join(running)} running")
        self.exit(result=running)

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        self.notify("updates paused" if self.paused else "updates resumed")

    def action_show_pane(self, pane: str) -> None:
        self.query_one(TabbedContent).active = f"pane-{pane}"

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_open_log(self) -> None:
        stage_id = self.query_one(StageList).selected_stage
        if stage_id is not None:
            self.push_screen(LogScreen(self.target.run.log_path(stage_id), stage_id))

    def action_open_inspector(self) -> None:
        self.push_screen(InspectorScreen(self.target.run, read_only=self.read_only))

    def action_start_stage(self) -> None:
        self._control("start")

    def action_run_all(self) -> None:
        """Start the `pipeline` stage: every stage in order, as `rchain run` does, detached."""
        if self.read_only:
            self.notify("read-only console: controls are disabled", severity="warning")
            return
        self.control_stage("start", "pipeline")

    def action_stop_stage(self) -> None:
        self._control("stop", confirm=True)

    def action_restart_stage(self) -> None:
        self._control("restart", confirm=True)

    def _control(self, verb: str, *, confirm: bool = False) -> None:
        stage_id = self.query_one(StageList).selected_stage
        if self.read_only:
            self.notify("read-only console: controls are disabled", severity="warning")
            return
        if stage_id is None:
            return
        if not confirm:
            self.control_stage(verb, stage_id)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.control_stage(verb, stage_id)

        self.push_screen(ConfirmScreen(f"{verb.capitalize()} {stage_id}?"), answered)

    @work(thread=True, group="control")
    def control_stage(self, verb: str, stage_id: str) -> None:
        from rchain.stages import prepare_run
        from rchain.supervisor import Supervisor

        try:
            if verb in ("start", "restart") and self.target.config is None:
                raise RchainError("this run has no config to start stages from")
            if verb == "start":
                Supervisor(prepare_run(self.target.config)).start(stage_id)
            elif verb == "restart":
                Supervisor(prepare_run(self.target.config)).restart(stage_id)
            else:
                Supervisor(self.target.run).stop(stage_id)
        except RchainError as exc:
            self.call_from_thread(self.notify, exc.message, title=exc.title, severity="error")
        else:
            self.call_from_thread(self.notify, f"{verb} {stage_id}: sent")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="rchain-console", description="Watch and steer an rchain run.")
    parser.add_argument("target", nargs="?", help="config file or run directory (default: ./pipeline.toml or the newest run)")
    parser.add_argument("--demo", action="store_true", help="open the built-in offline demo (written to ./rchain-demo)")
    parser.add_argument("--read-only", action="store_true", help="disable every control")
    parser.add_argument("--refresh", type=float, default=1.0, metavar="SECONDS", help="how often to re-read the run")
    args = parser.parse_args(argv)
    try:
        if args.demo:
            from rchain.demo import write_demo

            print("writing the demo into ./rchain-demo (a tiny model is built on first use)...", file=sys.stderr)
            target = resolve_target(write_demo(Path("rchain-demo")))
        else:
            target = resolve_target(args.target)
    except RchainError as exc:
        hint = exc.hint
        if args.target is None and not args.demo:  # nothing here yet: offer the demo
            hint = (hint + "; " if hint else "") + "or open the built-in offline demo: rchain-console --demo"
        print(f"error: {exc.message}" + (f"\nhint: {hint}" if hint else ""), file=sys.stderr)
        sys.exit(int(exc.exit_code))
    encoding = (getattr(sys.stdout, "encoding", "") or "").lower().replace("-", "")
    console = RchainConsole(target, read_only=args.read_only, refresh_s=args.refresh, ascii_only=encoding != "utf8", autostart=args.demo)
    running = console.run()
    if running:
        print(f"left running: {', '.join(running)}; reattach with: rchain-console {target.run.root}")


if __name__ == "__main__":
    main()
