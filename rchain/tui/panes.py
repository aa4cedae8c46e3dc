"""The console's live panes: generation, filter, training and evaluation.

Each pane is a Static that renders a RunView snapshot with the formatters in rchain.present; it
owns no I/O and keeps only the little history its trend lines need.
"""

from __future__ import annotations

from collections import deque

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from rchain.events import (
    EvalProgress,
    EvalResult,
    FilterProgress,
    GenerateProgress,
    GpuSample,
    Preflight,
    TrainProgress,
)
from rchain.present import (
    ascii_text,
    FILTER_LABELS,
    bar,
    chart,
    comparison,
    format_duration,
    gpu_lines,
    sparkline,
)
from rchain.runs import RunView

#: Throughput history: one bucket per TREND_BUCKET_S seconds, TREND_BUCKETS of them.
TREND_BUCKET_S = 15.0
TREND_BUCKETS = 24


class Pane(Static):
    """A pane renders a RunView; `show` is called with every new snapshot."""

    DEFAULT_CSS = """
    Pane { height: auto; padding: 0 1; }
    """

    def __init__(self, *, ascii_only: bool = False, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.ascii_only = ascii_only

    def show(self, view: RunView) -> None:
        self.update(self.safe_render(view))

    def safe_render(self, view: RunView):
        """A pane that cannot draw a snapshot says so and the console goes on: an operator
        watching a week-long run must never lose the screen to a formatting bug."""
        try:
            return self.render_view(view)
        except Exception as exc:  # noqa: BLE001
            return Text(f"this pane failed to draw: {type(exc).__name__}: {exc}", style="red")

    def render_view(self, view: RunView):  # pragma: no cover - every pane overrides it
        raise NotImplementedError

    @property
    def text_width(self) -> int:
        return max(40, (self.size.width or 78) - 2)


def _snapshots(view: RunView, kind: type) -> list:
    return [e for stage in view.stages for e in stage.snapshots_of(kind)]


class GeneratePane(Pane):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        #: teacher -> (bucket index -> replies done at its last sample)
        self._history: dict[str, deque[tuple[int, int]]] = {}

    def _trend(self, p: GenerateProgress) -> list[float]:
        history = self._history.setdefault(p.teacher, deque(maxlen=TREND_BUCKETS + 1))
        bucket = int(p.t // TREND_BUCKET_S)
        if history and history[-1][0] == bucket:
            history[-1] = (bucket, p.done)
        else:
            history.append((bucket, p.done))
        pairs = list(history)
        return [max(0, b[1] - a[1]) * 60.0 / TREND_BUCKET_S for a, b in zip(pairs, pairs[1:], strict=False)]

    def render_view(self, view: RunView):
        progress = _snapshots(view, GenerateProgress)
        if not progress:
            return Text("No generation yet. Start the generate stage (select it, press s).", style="dim")
        parts = []
        for p in progress:
            fraction = p.done / p.total if p.total else 0.0
            head = Text.assemble(
                (f"{p.teacher} ", "bold"),
                bar(fraction, 12, ascii_only=self.ascii_only),
                f" {p.done:,}/{p.total:,} ({100 * fraction:.0f}%)",
                f" | {p.in_flight} in flight (limit {p.concurrency_limit}{', cooling down' if p.cooling_down else ''})",
                (f" | {p.failed:,} failed" if p.failed else ""),
                (f" | ETA {format_duration(p.eta_s)}" if p.done < p.total else " | done"),
            )
            latency = f"p50 {p.latency_p50_s:.1f}s p95 {p.latency_p95_s:.1f}s" if p.latency_p50_s is not None else "latency -"
            cost = ""
            if p.cost_usd or p.projected_cost_usd:
                cost = f" | ${p.cost_usd:,.2f}" + (f" of ~${p.projected_cost_usd:,.2f}" if p.projected_cost_usd and p.done < p.total else "")
            trunc = f" | truncated {100 * p.truncated / max(p.done, 1):.1f}%"
            retries = " | retries " + ", ".join(f"{c} {n:,}" for c, n in sorted(p.retries.items())) if p.retries else ""
            line2 = Text(
                f"  {p.requests_per_min:,.0f} req/min | {p.reasoning_tokens_per_s:,.0f}+{p.answer_tokens_per_s:,.0f} tok/s "
                f"(reasoning+answer) | {latency}{cost}{trunc}{retries}"
            )
            trend = self._trend(p)
            line3 = Text.assemble("  replies/min ", (sparkline(trend, TREND_BUCKETS, ascii_only=self.ascii_only) or "-", "cyan"), f" last {TREND_BUCKETS * TREND_BUCKET_S / 60:.0f} min")
            parts += [head, line2, line3]
        return Group(*parts)


class FilterPane(Pane):
    def render_view(self, view: RunView):
        progress = _snapshots(view, FilterProgress)
        if not progress:
            return Text("No verdicts yet. The filter stage judges the raw replies.", style="dim")
        parts = []
        for p in progress:
            kept = f", {p.kept:,} kept" if p.kept >= 0 else ""
            parts.append(Text(f"{p.teacher}: {p.judged:,}/{p.total:,} judged{kept}", style="bold"))
            table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
            columns = [("source", "left"), ("seen", "right"), ("correct", "right"), ("wrong", "right"), ("unverif.", "right"), ("malformed", "right"), ("pass", "right")]
            # The pass-rate bar only where there is room for it beside the numbers.
            self._bars = self.text_width >= 90
            for name, justify in columns + ([("", "left")] if self._bars else []):
                table.add_column(name, justify=justify, no_wrap=True)
            totals = {label: 0 for label in FILTER_LABELS}
            rows = sorted(p.by_source.items())
            for source, labels in rows:
                for label in FILTER_LABELS:
                    totals[label] += labels.get(label, 0)
                table.add_row(*self._row(source, labels))
            if len(rows) > 1:
                table.add_row(*self._row("all", totals), style="bold")
            parts.append(table)
            reasons = sorted(p.reasons.items(), key=lambda item: -item[1])[:6]
            if reasons:
                parts.append(Text("top rejections: " + ", ".join(f"{r} {n:,}" for r, n in reasons if r not in _ACCEPT_REASONS) or "none"))
            flags: dict[str, int] = {}
            for per_source in p.flags.values():
                for flag, count in per_source.items():
                    flags[flag] = flags.get(flag, 0) + count
            contaminated = sum(n for f, n in flags.items() if f.startswith("contaminated"))
            quality = ", ".join(f"{f} {n:,}" for f, n in sorted(flags.items()) if not f.startswith("contaminated")) or "none"
            parts.append(Text(f"decontamination: {contaminated:,} replies dropped | problem flags: {quality}", style="dim"))
        return Group(*parts)

    def _row(self, source: str, labels: dict[str, int]) -> list:
        seen = sum(labels.values())
        rate = labels.get("correct", 0) / seen if seen else 0.0
        cells = [source, f"{seen:,}", *[f"{labels.get(label, 0):,}" for label in FILTER_LABELS], f"{100 * rate:.1f}%"]
        return [*cells, Text(bar(rate, 10, ascii_only=self.ascii_only), style="green")] if self._bars else cells


_ACCEPT_REASONS = {"exact_match", "numeric_match", "symbolic_match", "mc_letter_match", "mc_text_match", "mc_value_match", "override_accept"}


class TrainPane(Pane):
    def render_view(self, view: RunView):
        parts = []
        for p in _snapshots(view, TrainProgress):
            fraction = p.step / p.max_steps if p.max_steps else 0.0
            head = Text.assemble((f"{p.variant} ", "bold"), bar(fraction, 12, ascii_only=self.ascii_only), f" step {p.step:,}/{f'{p.max_steps:,}' if p.max_steps else '?'} ({100 * fraction:.0f}%)")
            if p.epoch is not None:
                head.append(f" | epoch {p.epoch:.2f}")
            parts.append(head)
            losses = [f"loss {p.loss:.4f}" if p.loss is not None else "loss -"]
            if p.eval_loss is not None:
                losses.append(f"eval loss {p.eval_loss:.4f}")
            losses.append(f"lr {p.learning_rate:.1e}" if p.learning_rate is not None else "lr -")
            if p.grad_norm is not None:
                losses.append(f"grad norm {p.grad_norm:.3f}")
            parts.append(Text("  " + " | ".join(losses)))
            timing = []
            if p.token_acc is not None:
                timing.append(f"token acc {p.token_acc:.3f}")
            if p.seconds_per_step is not None:
                timing.append(f"{p.seconds_per_step:.2f} s/step")
            timing.append(f"elapsed {format_duration(p.elapsed_s)}")
            if not p.finished and p.remaining_s is not None:
                timing.append(f"{format_duration(p.remaining_s)} left")
            if p.resumed_from:
                timing.append(f"resumed at {p.resumed_from}")
            parts.append(Text("  " + " | ".join(timing)))
            parts.append(Text(f"  checkpoints {', '.join(map(str, p.checkpoints[-6:])) or 'none yet'}"))
            lines = chart([list(p.loss_curve), list(p.eval_loss_curve)], min(self.text_width, 90), 5, ascii_only=self.ascii_only)
            if lines:
                legend = "  loss " + ("*" if self.ascii_only else "●") + "  eval loss " + ("o" if self.ascii_only else "○")
                parts += [Text(line, style="cyan") for line in lines] + [Text(legend, style="dim")]
        for preflight in _snapshots(view, Preflight):
            marks = {"pass": ("ok", "green"), "warn": ("warn", "yellow"), "fail": ("FAIL", "bold red")}
            line = Text(f"pre-flight {preflight.subject}: ")
            for check in preflight.checks:
                word, style = marks[check.level]
                line.append(f"{check.name} ")
                line.append(word, style=style)
                line.append("  ")
            parts.append(line)
        samples = sorted(_snapshots(view, GpuSample), key=lambda s: s.t)
        if samples:
            for text in gpu_lines(samples[-1]):
                parts.append(Text(text, style="dim" if not samples[-1].gpus else ""))
        if not parts:
            return Text("No training yet. Each variant's train stage fine-tunes on its clean subset.", style="dim")
        return Group(*parts)


class EvalPane(Pane):
    def render_view(self, view: RunView):
        parts = []
        results = _snapshots(view, EvalResult)
        if results:
            order = [s.id.split(":", 1)[1] for s in view.stages if s.id.startswith("eval:")]
            header, rows = comparison(results, order)
            if self.ascii_only:
                rows = [[ascii_text(cell) for cell in row] for row in rows]
            parts.append(self._wide(header, rows) if self.text_width >= 100 else self._long(header, rows))
        done_models = {r.model for r in results}
        for p in _snapshots(view, EvalProgress):
            stage = view.stage(f"eval:{p.model}") if f"eval:{p.model}" in {s.id for s in view.stages} else None
            if p.model in done_models and stage is not None and stage.status == "done":
                continue
            total = f"/{p.total:,}" if p.total else ""
            accuracy = f" | accuracy so far {100 * p.accuracy:.1f}%" if p.accuracy is not None else ""
            fraction = p.done / p.total if p.total else 0.0
            parts.append(Text(f"{p.model} {p.benchmark}: {bar(fraction, 10, ascii_only=self.ascii_only)} {p.done:,}{total} generations{accuracy}"))
        if not parts:
            return Text("No evaluation yet. Each eval stage serves a model and runs evalscope on it.", style="dim")
        return Group(*parts)

    @staticmethod
    def _table() -> Table:
        return Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")

    def _wide(self, header: list[str], rows: list[list[str]]) -> Table:
        """One row per model, three columns per benchmark."""
        table = self._table()
        for i, name in enumerate(header):
            bench, _, metric = name.rpartition(" ")
            title = name if i == 0 else f"{bench}\n{metric}"
            widest = max(len(row[i]) for row in rows) if i == 0 else max(map(len, title.split("\n")))
            table.add_column(title, justify="left" if i == 0 else "right", min_width=widest, no_wrap=True)
        for row in rows:
            table.add_row(*row)
        return table

    def _long(self, header: list[str], rows: list[list[str]]) -> Table:
        """One row per model and benchmark: narrow enough for 80 columns."""
        table = self._table()
        metrics = ["Pass@1", header[2].rpartition(" ")[2] if len(header) > 2 else "pass@k", "trunc."]
        for name in ["model", "benchmark", *metrics]:
            table.add_column(name, justify="left" if name in ("model", "benchmark") else "right", no_wrap=True)
        benchmarks = [header[i].rpartition(" ")[0] for i in range(1, len(header), 3)]
        for row in rows:
            for j, bench in enumerate(benchmarks):
                table.add_row(row[0] if j == 0 else "", bench, *row[1 + 3 * j : 4 + 3 * j])
        return table
