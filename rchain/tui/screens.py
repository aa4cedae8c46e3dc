"""The console's other screens: confirmation, key help, a stage's log, and the inspector."""

from __future__ import annotations

import os
import time
from pathlib import Path

from rich.console import Group
from rich.markup import escape
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Input, Log, Static

from rchain.inspect import (
    DatasetIndex,
    EvalProblem,
    eval_problems,
    record_override,
    teachers_with_data,
)
from rchain.runs import RunDir

LOG_START_BYTES = 256 * 1024


class ConfirmScreen(ModalScreen[bool]):
    """y / n (or Enter / Escape) for a question; dismissed with the answer."""

    BINDINGS = [Binding("y,enter", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Static { width: auto; max-width: 70; border: thick $warning; padding: 1 2; background: $surface; }
    """

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        yield Static(f"{escape(self.question)}\n\n[b]y[/b] yes    [b]n[/b] no", id="question")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class HelpScreen(ModalScreen[None]):
    """Every key of the console, by screen."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 72; max-height: 90%; border: thick $accent; padding: 0 1; background: $surface; }
    """
    TEXT = """[b]Main screen[/b]
  up/down  select a stage           s  start it
  x        stop it (asks first)     r  restart it (asks first)
  l        its log                  i  inspector
  a        run all (the whole plan, detached, as `rchain run`)
  1-5      pane: stage, generate, filter, train, eval
  p        pause/resume updates     ctrl+p  command palette
  ?        this help                q  quit (stages keep running)

[b]Log screen[/b]
  /        search                   n / N  next / previous match
  end      follow the end           escape  back

[b]Inspector[/b]
  n, right next sample              p, left  previous sample
  w        next rejected            c  next accepted
  t        open/fold the think      /  search the text
  g        go to a uid              f  filter (label= source= reason=)
  A        accept by hand           R  reject by hand
  T        next teacher             e  eval predictions
  escape   back
"""

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(self.TEXT)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)


class LogScreen(Screen[None]):
    """A stage's output.log, following live; `/` searches it."""

    BINDINGS = [
        Binding("escape,q", "back", "Back"),
        Binding("slash", "search", "Search"),
        Binding("n", "next_match(1)", "Next match"),
        Binding("N", "next_match(-1)", "Previous match", key_display="N"),
        Binding("end", "follow", "Follow", priority=True),
    ]
    DEFAULT_CSS = """
    LogScreen #log-title { height: 1; background: $boost; padding: 0 1; }
    LogScreen Log { height: 1fr; }
    LogScreen Input { dock: bottom; display: none; }
    LogScreen Input.visible { display: block; }
    """

    def __init__(self, path: Path, stage_id: str) -> None:
        super().__init__()
        self.path = path
        self.stage_id = stage_id
        self.lines: list[str] = []
        self.query_text = ""
        self.match_line: int | None = None

    def compose(self) -> ComposeResult:
        yield Static(f"log of {self.stage_id}: {self.path}", id="log-title")
        yield Log(highlight=False, auto_scroll=True)
        yield Input(placeholder="search the log (Enter)", id="log-search")
        yield Footer()

    def on_mount(self) -> None:
        self.follow_file()

    @work(thread=True, exclusive=True, group="log")
    def follow_file(self) -> None:
        from textual.worker import get_current_worker

        worker = get_current_worker()
        offset, partial, inode = 0, b"", None
        while not worker.is_cancelled:
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                time.sleep(0.5)
                continue
            if st.st_ino != inode or st.st_size < offset:
                inode, partial = st.st_ino, b""
                offset = max(0, st.st_size - LOG_START_BYTES)
            if st.st_size > offset:
                with open(self.path, "rb") as fh:
                    fh.seek(offset)
                    data = partial + fh.read(st.st_size - offset)
                offset = st.st_size
                *complete, partial = data.split(b"\n")
                # tqdm redraws a line with carriage returns: keep what it ended as.
                lines = [line.decode("utf-8", "replace").rsplit("\r", 1)[-1] for line in complete]
                if lines:
                    self.app.call_from_thread(self._append, lines)
            time.sleep(0.3)

    def _append(self, lines: list[str]) -> None:
        self.lines.extend(lines)
        self.query_one(Log).write_lines(lines)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_search(self) -> None:
        box = self.query_one(Input)
        box.add_class("visible")
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.input.remove_class("visible")
        self.query_text = event.value.strip()
        self.match_line = None
        self.query_one(Log).focus()
        if self.query_text:
            self.action_next_match(1)

    def action_next_match(self, direction: int) -> None:
        if not self.query_text:
            return
        needle = self.query_text.lower()
        log = self.query_one(Log)
        n = len(self.lines)
        start = self.match_line if self.match_line is not None else (n - 1 if direction > 0 else n)
        for step in range(1, n + 1):
            i = (start + direction * step) % n if n else 0
            if needle in self.lines[i].lower():
                self.match_line = i
                log.auto_scroll = False
                log.scroll_to(y=max(0, i - 2), animate=False)
                self.query_one("#log-title", Static).update(f"log of {self.stage_id}: match at line {i + 1}: {self.lines[i][:60]}")
                return
        self.notify(f"no line contains {self.query_text!r}", severity="warning")

    def action_follow(self) -> None:
        log = self.query_one(Log)
        log.auto_scroll = True
        log.scroll_end(animate=False)


class InspectorScreen(Screen[None]):
    """The dataset sample by sample (and, with `e`, the eval predictions problem by problem)."""

    BINDINGS = [
        Binding("escape,q", "back", "Back"),
        Binding("n,right", "move(1)", "Next"),
        Binding("p,left", "move(-1)", "Previous"),
        Binding("w", "jump(False)", "Next rejected"),
        Binding("c", "jump(True)", "Next accepted"),
        Binding("t", "toggle_think", "Think"),
        Binding("slash", "ask('search')", "Search"),
        Binding("g", "ask('uid')", "Go to uid"),
        Binding("f", "ask('filter')", "Filter"),
        Binding("A", "decide('accept')", "Accept", key_display="A"),
        Binding("R", "decide('reject')", "Reject", key_display="R"),
        Binding("T", "next_teacher", "Teacher", key_display="T"),
        Binding("e", "toggle_eval", "Eval answers"),
    ]
    DEFAULT_CSS = """
    InspectorScreen #inspector-title { height: 1; background: $boost; padding: 0 1; }
    InspectorScreen #inspector-body { height: 1fr; padding: 0 1; }
    InspectorScreen Input { dock: bottom; display: none; }
    InspectorScreen Input.visible { display: block; }
    """

    def __init__(self, run: RunDir, *, read_only: bool = False) -> None:
        super().__init__()
        self.run = run
        self.read_only = read_only
        self.teachers = teachers_with_data(run)
        self.teacher_pos = 0
        self.index: DatasetIndex | None = None
        self.position: int | None = None
        self.show_think = False
        self.criteria: dict[str, str] = {}
        self.asking = ""
        self.eval_mode = False
        self.eval_items: list[tuple[str, EvalProblem]] = []
        self.eval_pos = 0

    def compose(self) -> ComposeResult:
        yield Static("", id="inspector-title")
        with VerticalScroll(id="inspector-body"):
            yield Static("", id="sample")
        yield Input(id="inspector-input")
        yield Footer()

    def on_mount(self) -> None:
        if not self.teachers:
            self._title("inspector: no raw replies in this run yet")
            self._body(Text("Run the generate stage first (or drop a raw file into data/raw/).", style="dim"))
            return
        self.load_index(self.teachers[self.teacher_pos])

    @work(thread=True, exclusive=True, group="inspector")
    def load_index(self, teacher: str) -> None:
        """Index the teacher's files off the UI thread; big files report progress."""
        self.app.call_from_thread(self._title, f"indexing {teacher}...")
        index = DatasetIndex(self.run, teacher).build(lambda n: self.app.call_from_thread(self._title, f"indexing {teacher}: {n:,} replies..."))
        self.app.call_from_thread(self._index_ready, index)

    def _index_ready(self, index: DatasetIndex) -> None:
        self.index = index
        self.position = index.step(-1, 1, **self._criteria()) if len(index) else None
        self.refresh_sample()

    def _criteria(self) -> dict:
        return {k: v for k, v in self.criteria.items() if k in ("label", "reason", "source")}

    def _title(self, text: str) -> None:
        self.query_one("#inspector-title", Static).update(text)

    def _body(self, renderable) -> None:
        self.query_one("#sample", Static).update(renderable)

    def refresh_sample(self) -> None:
        if self.eval_mode:
            self._show_eval()
            return
        index = self.index
        if index is None:
            return
        filters = " ".join(f"{k}={v}" for k, v in self.criteria.items())
        if self.position is None:
            self._title(f"{index.teacher}: no sample matches {filters or 'anything'} ({len(index):,} replies)")
            self._body(Text("Press f to change the filter.", style="dim"))
            return
        sample = index.sample(self.position)
        self._title(f"{index.teacher}: sample {self.position + 1:,}/{len(index):,}" + (f"  [filter {filters}]" if filters else ""))
        verdict = sample.verdict
        label = verdict.label if verdict else "not judged"
        style = {"correct": "green", "wrong": "red", "malformed": "magenta", "unverifiable": "yellow"}.get(label, "dim")
        head = Text.assemble(("uid ", "dim"), sample.uid, ("  source ", "dim"), sample.source, ("  finish ", "dim"), sample.finish_reason or "-")
        verdict_line = Text.assemble(("verdict ", "dim"), (label, f"bold {style}"), ("  reason ", "dim"), verdict.reason if verdict else "-")
        if sample.override:
            verdict_line.append(f"  overridden by hand: {sample.override}", style="bold cyan")
        answers = Text.assemble(("gold ", "dim"), (verdict.gold if verdict else "-") or "-", ("   predicted ", "dim"), (verdict.predicted if verdict else "-") or "-")
        if verdict and verdict.flags:
            answers.append("   flags " + ", ".join(verdict.flags), style="yellow")
        think_head = f"think ({len(sample.think):,} chars)"
        think = Text(f"{think_head}: t to open", style="dim") if not self.show_think else Group(Text(think_head + ":", style="bold"), Text(sample.think))
        self._body(
            Group(
                head,
                verdict_line,
                answers,
                Text("problem", style="bold"),
                Text(sample.problem),
                think,
                Text("answer", style="bold"),
                Text(sample.answer),
            )
        )

    # -- actions ---------------------------------------------------------------------------------

    def action_back(self) -> None:
        if self.asking:
            self._close_input()
            return
        self.app.pop_screen()

    def action_move(self, direction: int) -> None:
        if self.eval_mode:
            if self.eval_items:
                self.eval_pos = (self.eval_pos + direction) % len(self.eval_items)
            self.refresh_sample()
            return
        if self.index is None or self.position is None:
            return
        found = self.index.step(self.position, direction, **self._criteria())
        if found is None:
            self.notify("no more samples this way", severity="warning")
            return
        self.position = found
        self.refresh_sample()

    def action_jump(self, accepted: bool) -> None:
        if self.index is None or self.position is None or self.eval_mode:
            return
        found = self.index.step(self.position, 1, accepted=accepted, **self._criteria())
        if found is None:
            self.notify(f"no {'accepted' if accepted else 'rejected'} sample after this one", severity="warning")
            return
        self.position = found
        self.refresh_sample()

    def action_toggle_think(self) -> None:
        self.show_think = not self.show_think
        self.refresh_sample()

    def action_ask(self, what: str) -> None:
        box = self.query_one(Input)
        self.asking = what
        box.placeholder = {
            "search": "text to find in problems and replies (Enter)",
            "uid": "uid to go to (Enter)",
            "filter": "label=wrong source=cn_k12 reason=... (empty clears)",
        }[what]
        box.value = " ".join(f"{k}={v}" for k, v in self.criteria.items()) if what == "filter" else ""
        box.add_class("visible")
        box.focus()

    def _close_input(self) -> None:
        self.asking = ""
        box = self.query_one(Input)
        box.remove_class("visible")
        self.query_one("#inspector-body").focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        what, value = self.asking, event.value.strip()
        self._close_input()
        if self.index is None:
            return
        if what == "filter":
            criteria = {}
            for word in value.split():
                key, _, val = word.partition("=")
                if key not in ("label", "reason", "source") or not val:
                    self.notify(f"unknown filter {word!r}: use label=, reason=, source=", severity="error")
                    return
                criteria[key] = val
            self.criteria = criteria
            self.position = self.index.step(-1, 1, **self._criteria())
            self.refresh_sample()
        elif what == "uid" and value:
            found = self.index.position(value)
            if found is None:
                self.notify(f"no reply with uid {value!r} for {self.index.teacher}", severity="error")
                return
            self.criteria, self.position = {}, found
            self.refresh_sample()
        elif what == "search" and value:
            self.search_text(value, self.position if self.position is not None else -1)

    @work(thread=True, exclusive=True, group="inspector-search")
    def search_text(self, text: str, start: int) -> None:
        found = self.index.search(start, text) if self.index else None
        self.app.call_from_thread(self._search_done, text, found)

    def _search_done(self, text: str, found: int | None) -> None:
        if found is None:
            self.notify(f"{text!r} not found after this sample", severity="warning")
            return
        self.criteria, self.position = {}, found
        self.refresh_sample()

    def action_decide(self, decision: str) -> None:
        if self.read_only:
            self.notify("read-only console: decisions are disabled", severity="warning")
            return
        if self.index is None or self.position is None or self.eval_mode:
            return
        sample = self.index.sample(self.position)
        record_override(self.run, sample.uid, decision, note="console inspector")
        self.index.overrides[sample.uid] = decision
        self.notify(f"{decision}ed {sample.uid}; the next filter run applies it")
        self.refresh_sample()

    def action_next_teacher(self) -> None:
        if len(self.teachers) > 1:
            self.teacher_pos = (self.teacher_pos + 1) % len(self.teachers)
            self.load_index(self.teachers[self.teacher_pos])

    def action_toggle_eval(self) -> None:
        self.eval_mode = not self.eval_mode
        if self.eval_mode and not self.eval_items:
            models = sorted(p.parent.name for p in (self.run.root / "eval").glob("*/reviews"))
            self.eval_items = [(model, problem) for model in models for problem in eval_problems(self.run, model)]
        if not self.eval_mode and self.index is None and self.teachers:
            self.load_index(self.teachers[self.teacher_pos])
        self.refresh_sample()

    def _show_eval(self) -> None:
        if not self.eval_items:
            self._title("eval predictions: none yet")
            self._body(Text("No evaluation has finished in this run. Press e to go back to the dataset.", style="dim"))
            return
        model, problem = self.eval_items[self.eval_pos]
        right = sum(a.correct for a in problem.answers)
        self._title(f"eval {model} {problem.benchmark} {problem.subset}: problem {self.eval_pos + 1}/{len(self.eval_items)}, {right}/{len(problem.answers)} right")
        parts = [Text.assemble(("target ", "dim"), problem.target), Text(problem.question)]
        for a in problem.answers:
            mark = ("right", "green") if a.correct else ("wrong", "red")
            parts.append(Text.assemble((f"sample {a.repeat + 1} ", "bold"), mark, ("  extracted ", "dim"), a.extracted or "-"))
            parts.append(Text(a.prediction[-400:], style="dim"))
        self._body(Group(*parts))

