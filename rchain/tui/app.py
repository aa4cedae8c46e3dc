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

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Static

from rchain.errors import RchainError
from rchain.runs import ACTIVE, RunView
from rchain.tui.messages import RunUpdated
from rchain.tui.stage_list import StageList
from rchain.workspace import Target, resolve_target


class RchainConsole(App):
    CSS_PATH = "console.tcss"
    TITLE = "rchain"
    BINDINGS = [
        Binding("q", "quit_console", "Quit (stages keep running)"),
        Binding("s", "start_stage", "Start"),
        Binding("x", "stop_stage", "Stop"),
        Binding("p", "toggle_pause", "Pause updates"),
    ]

    def __init__(self, target: Target, *, read_only: bool = False, refresh_s: float = 1.0, ascii_only: bool = False) -> None:
        super().__init__()
        self.target = target
        self.read_only = read_only
        self.refresh_s = refresh_s
        self.ascii_only = ascii_only
        self.paused = False
        self.view: RunView | None = None

    def compose(self) -> ComposeResult:
        mode = "  [read-only]" if self.read_only else ""
        yield Static(f"run {self.target.name}  {self.target.run.root}{mode}", id="run-title")
        yield StageList(ascii_only=self.ascii_only, id="stages")
        yield Static("", id="log-tail")
        yield Footer()

    def on_mount(self) -> None:
        self.watch_run()

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
        self.view = message.view
        stages = self.query_one(StageList)
        stages.show(message.view)
        self._show_tail()

    def on_data_table_row_highlighted(self, _event: StageList.RowHighlighted) -> None:
        self._show_tail()

    def _show_tail(self) -> None:
        stage_id = self.query_one(StageList).selected_stage
        if self.view is None or stage_id is None:
            return
        try:
            stage = self.view.stage(stage_id)
        except KeyError:
            return
        lines = list(stage.log_tail) or ([stage.last_message.text] if stage.last_message else [])
        header = f"{stage.id}: {stage.status}" + (f"  {stage.reason}" if stage.reason else "")
        self.query_one("#log-tail", Static).update("\n".join([header, *lines]))

    # -- actions ---------------------------------------------------------------------------------

    def action_quit_console(self) -> None:
        running = [s.id for s in (self.view.stages if self.view else ()) if s.status in ACTIVE]
        self.exit(result=running)

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        self.notify("updates paused" if self.paused else "updates resumed")

    def action_start_stage(self) -> None:
        self._control("start")

    def action_stop_stage(self) -> None:
        self._control("stop")

    def _control(self, verb: str) -> None:
        stage_id = self.query_one(StageList).selected_stage
        if self.read_only:
            self.notify("read-only console: controls are disabled", severity="warning")
        elif stage_id is not None:
            self.control_stage(verb, stage_id)

    @work(thread=True, group="control")
    def control_stage(self, verb: str, stage_id: str) -> None:
        from rchain.stages import prepare_run
        from rchain.supervisor import Supervisor

        try:
            if verb == "start":
                if self.target.config is None:
                    raise RchainError("this run has no config to start stages from")
                Supervisor(prepare_run(self.target.config)).start(stage_id)
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

            target = resolve_target(write_demo(Path("rchain-demo")))
        else:
            target = resolve_target(args.target)
    except RchainError as exc:
        print(f"error: {exc.message}" + (f"\nhint: {exc.hint}" if exc.hint else ""), file=sys.stderr)
        sys.exit(int(exc.exit_code))
    encoding = (getattr(sys.stdout, "encoding", "") or "").lower().replace("-", "")
    running = RchainConsole(target, read_only=args.read_only, refresh_s=args.refresh, ascii_only=encoding != "utf8").run()
    if running:
        print(f"left running: {', '.join(running)}; reattach with: rchain-console {target.run.root}")
