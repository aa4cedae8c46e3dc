"""Text for a view model: the one formatter that `rchain status` and the console both use.

Pure functions of a `StageView` / `RunView`; no I/O, no Textual. ASCII-only fallbacks are chosen
by the caller (`ascii_only=True`) for terminals without UTF-8.
"""

from __future__ import annotations

from rchain.events import (
    EvalProgress,
    EvalResult,
    FilterProgress,
    GenerateProgress,
    GpuSample,
    Preflight,
    ServerStatus,
    TrainProgress,
)
from rchain.runs import StageView

STATUS_STYLE = {
    "pending": "dim",
    "starting": "yellow",
    "running": "bold cyan",
    "done": "green",
    "failed": "bold red",
    "stopped": "yellow",
    "crashed": "bold red",
    "unknown": "magenta",
}
_SYMBOL = {
    "pending": ("·", "."),
    "starting": ("◌", "~"),
    "running": ("▶", ">"),
    "done": ("✔", "+"),
    "failed": ("✘", "x"),
    "stopped": ("■", "-"),
    "crashed": ("✘", "!"),
    "unknown": ("?", "?"),
}


_ASCII = str.maketrans({"±": "+-", "…": "...", "×": "x", "—": "-", "–": "-", "→": "->", "≤": "<=", "≥": ">="})


def ascii_text(text: str) -> str:
    """Text for a terminal without UTF-8: known symbols spelled out, anything else as `?`."""
    return text.translate(_ASCII).encode("ascii", "replace").decode("ascii")


def status_symbol(status: str, *, ascii_only: bool = False) -> str:
    unicode, ascii = _SYMBOL.get(status, ("?", "?"))
    return ascii if ascii_only else unicode


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def progress_text(stage: StageView) -> str:
    progress = stage.progress
    if progress is None:
        return ""
    if progress.total:
        pct = 100.0 * progress.done / progress.total
        text = f"{progress.done:,}/{progress.total:,} {progress.unit} ({pct:.0f}%)"
    else:
        text = f"{progress.done:,} {progress.unit}"
    return f"{text} {progress.note}".strip()


def detail_text(stage: StageView) -> str:
    """One line: why it failed or stopped, else its progress, else its last message."""
    if stage.status in {"failed", "crashed", "stopped"} and stage.reason:
        return stage.reason
    text = progress_text(stage)
    if text:
        return text
    filters = stage.snapshots_of(FilterProgress)
    if filters:
        judged = sum(f.judged for f in filters)  # type: ignore[attr-defined]
        total = sum(f.total for f in filters)  # type: ignore[attr-defined]
        kept = sum(max(f.kept, 0) for f in filters)  # type: ignore[attr-defined]
        return f"{judged:,}/{total:,} replies judged, {kept:,} kept"
    for train in stage.snapshots_of(TrainProgress):
        return train_line(train)  # type: ignore[arg-type]
    for server in stage.snapshots_of(ServerStatus):
        return server_line(server)  # type: ignore[arg-type]
    if stage.last_message is not None:
        return stage.last_message.text
    return ""


def generate_line(p: GenerateProgress) -> str:
    """One teacher's generation in one line, for `rchain status` and plain progress output."""
    pct = f" ({100 * p.done / p.total:.0f}%)" if p.total else ""
    parts = [f"{p.teacher}: {p.done:,}/{p.total:,}{pct}"]
    if p.failed:
        parts.append(f"{p.failed:,} failed")
    parts.append(f"{p.in_flight} in flight (limit {p.concurrency_limit}{', cooling down' if p.cooling_down else ''})")
    parts.append(f"{p.requests_per_min:,.0f} req/min")
    parts.append(f"{p.reasoning_tokens_per_s:,.0f}+{p.answer_tokens_per_s:,.0f} tok/s")
    if p.latency_p50_s is not None:
        parts.append(f"latency p50 {p.latency_p50_s:.1f}s p95 {p.latency_p95_s:.1f}s")
    if p.done < p.total:
        parts.append(f"ETA {format_duration(p.eta_s)}")
    if p.cost_usd or p.projected_cost_usd:
        projected = f" of ~${p.projected_cost_usd:,.2f}" if p.projected_cost_usd and p.done < p.total else ""
        parts.append(f"${p.cost_usd:,.2f}{projected}")
    if p.truncated:
        parts.append(f"{p.truncated:,} truncated ({100 * p.truncated / max(p.done, 1):.1f}%)")
    if p.retries:
        parts.append("retries " + ", ".join(f"{cause} {n:,}" for cause, n in sorted(p.retries.items())))
    return " | ".join(parts)


FILTER_LABELS = ("correct", "wrong", "unverifiable", "malformed")


def filter_lines(p: FilterProgress, top_reasons: int = 8) -> list[str]:
    """Pass rates by source and the top reasons, as a small text table."""
    kept = f", {p.kept:,} kept in the clean subset" if p.kept >= 0 else ""
    lines = [f"{p.teacher}: {p.judged:,}/{p.total:,} judged{kept}"]
    lines.append(f"  {'source':<15}{'seen':>7}" + "".join(f"{label:>14}" for label in FILTER_LABELS) + f"{'pass':>8}")
    totals = {label: 0 for label in FILTER_LABELS}
    for source, labels in p.by_source.items():
        seen = sum(labels.values())
        for label in FILTER_LABELS:
            totals[label] += labels.get(label, 0)
        rate = 100 * labels.get("correct", 0) / seen if seen else 0.0
        lines.append(f"  {source:<15}{seen:>7,}" + "".join(f"{labels.get(label, 0):>14,}" for label in FILTER_LABELS) + f"{rate:>7.1f}%")
    if len(p.by_source) > 1:
        seen = sum(totals.values())
        rate = 100 * totals["correct"] / seen if seen else 0.0
        lines.append(f"  {'all':<15}{seen:>7,}" + "".join(f"{totals[label]:>14,}" for label in FILTER_LABELS) + f"{rate:>7.1f}%")
    reasons = sorted(p.reasons.items(), key=lambda item: -item[1])[:top_reasons]
    if reasons:
        lines.append("  top reasons: " + ", ".join(f"{reason} {count:,}" for reason, count in reasons))
    flag_totals: dict[str, int] = {}
    for flags in p.flags.values():
        for flag, count in flags.items():
            flag_totals[flag] = flag_totals.get(flag, 0) + count
    if flag_totals:
        lines.append("  problem flags (replies): " + ", ".join(f"{flag} {count:,}" for flag, count in sorted(flag_totals.items())))
    return lines


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def train_line(p: TrainProgress) -> str:
    pct = f" ({100.0 * p.step / p.max_steps:.0f}%)" if p.max_steps else ""
    parts = [f"step {p.step}/{p.max_steps or '?'}{pct}"]
    if p.epoch is not None:
        parts.append(f"epoch {p.epoch:.2f}")
    parts.append(f"loss {_number(p.loss, '.4f')}")
    if p.eval_loss is not None:
        parts.append(f"eval {p.eval_loss:.4f}")
    if p.learning_rate is not None:
        parts.append(f"lr {p.learning_rate:.1e}")
    if p.seconds_per_step is not None:
        parts.append(f"{p.seconds_per_step:.2f} s/step")
    if p.remaining_s is not None and not p.finished:
        parts.append(f"{format_duration(p.remaining_s)} left")
    if p.checkpoints:
        parts.append(f"checkpoint {p.checkpoints[-1]}")
    if p.resumed_from:
        parts.append(f"resumed at {p.resumed_from}")
    return " | ".join(parts)


def server_line(s: ServerStatus) -> str:
    if s.status == "ready":
        return f"{s.model} ready at {s.url} ({s.backend})"
    return f"{s.model} {s.status} ({s.backend})"


def gpu_lines(sample: GpuSample) -> list[str]:
    if not sample.gpus:
        return [sample.note or "no GPU"]
    names = sorted({g.name for g in sample.gpus})
    lines = [f"{len(sample.gpus)} x {names[0]}" if len(names) == 1 else f"{len(sample.gpus)} GPUs: {', '.join(names)}"]
    for g in sample.gpus:
        extra = "".join(
            [f" {g.temperature_c:.0f}C" if g.temperature_c is not None else "", f" {g.power_w:.0f}W" if g.power_w is not None else ""]
        )
        lines.append(
            f"GPU{g.index} {g.utilization:3.0f}% {g.memory_used_mib / 1024:.1f}/{g.memory_total_mib / 1024:.1f} GiB{extra} {len(g.processes)} proc"
        )
    return lines


def preflight_lines(p: Preflight) -> list[str]:
    summary = ", ".join(f"{c.name} {c.level}" for c in p.checks)
    return [f"pre-flight: {summary}"] + [f"  {c.name}: {c.text}" for c in p.checks if c.level != "pass"]


def detail_lines(stage: StageView) -> list[str]:
    """Per-teacher and per-variant lines shown under a stage."""
    lines = [generate_line(p) for p in stage.snapshots_of(GenerateProgress)]
    for progress in stage.snapshots_of(FilterProgress):
        lines += filter_lines(progress)
    for preflight in stage.snapshots_of(Preflight):
        lines += preflight_lines(preflight)  # type: ignore[arg-type]
    for server in stage.snapshots_of(ServerStatus):
        lines.append(server_line(server))  # type: ignore[arg-type]
    for result in stage.snapshots_of(EvalResult):
        lines.append(eval_line(result))  # type: ignore[arg-type]
    finished = {r.benchmark for r in stage.snapshots_of(EvalResult)}  # type: ignore[attr-defined]
    for progress in stage.snapshots_of(EvalProgress):
        if progress.benchmark not in finished:  # type: ignore[attr-defined]
            lines.append(eval_progress_line(progress))  # type: ignore[arg-type]
    for sample in stage.snapshots_of(GpuSample):
        lines += gpu_lines(sample)  # type: ignore[arg-type]
    return lines


def eval_line(r: EvalResult) -> str:
    ks = {int(k): v for k, v in r.pass_at_k.items()}
    best = f" | pass@{max(ks)} {100 * ks[max(ks)]:.1f}" if ks else ""
    name = BENCHMARK_NAMES.get(r.benchmark, r.benchmark)
    return f"{r.model} {name}: Pass@1 {100 * r.pass1:.1f} ± {100 * r.stderr:.1f}{best} | truncated {100 * r.truncation_rate:.1f}% | {r.problems} problems"


def eval_progress_line(p: EvalProgress) -> str:
    total = f"/{p.total:,}" if p.total else ""
    accuracy = f", accuracy so far {100 * p.accuracy:.1f}%" if p.accuracy is not None else ""
    return f"{p.model} {BENCHMARK_NAMES.get(p.benchmark, p.benchmark)}: {p.done:,}{total} generations{accuracy}"


# -- small plots ---------------------------------------------------------------------------------

_BLOCKS = " ▁▂▃▄▅▆▇█"
_ASCII_BLOCKS = " .:-=+*#%"


def sparkline(values: list[float], width: int, *, ascii_only: bool = False) -> str:
    """The last `width` values as one line of block characters, scaled to their own range."""
    values = values[-width:]
    if not values:
        return ""
    blocks = _ASCII_BLOCKS if ascii_only else _BLOCKS
    low, high = min(values), max(values)
    span = high - low
    if span <= 0:
        return blocks[4 if high > 0 else 1] * len(values)
    return "".join(blocks[1 + round((v - low) / span * (len(blocks) - 2))] for v in values)


def bar(fraction: float, width: int, *, ascii_only: bool = False) -> str:
    """A horizontal bar filled to `fraction` (0..1), in eighths when Unicode is available."""
    fraction = min(max(fraction, 0.0), 1.0)
    if ascii_only:
        filled = round(fraction * width)
        return "#" * filled + "." * (width - filled)
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    text = "█" * full + ("▏▎▍▌▋▊▉"[part - 1] if part else "")
    return text + " " * (width - len(text))


def chart(
    series: list[list[tuple[float, float]]], width: int, height: int, *, ascii_only: bool = False, marks: str = "●○"
) -> list[str]:
    """A small scatter plot of one or more (x, y) series sharing axes, as `height` text lines
    with the y range on the left. Later series draw over earlier ones."""
    points = [p for s in series for p in s]
    if not points or width < 12 or height < 2:
        return []
    xs = [x for x, _ in points]
    ys = [y for _, y in points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    label_w = max(len(f"{y1:.3g}"), len(f"{y0:.3g}"))
    plot_w = width - label_w - 1
    grid = [[" "] * plot_w for _ in range(height)]
    symbols = "*o" if ascii_only else marks
    for i, s in enumerate(series):
        for x, y in s:
            col = 0 if x1 == x0 else round((x - x0) / (x1 - x0) * (plot_w - 1))
            row = 0 if y1 == y0 else round((y1 - y) / (y1 - y0) * (height - 1))
            grid[row][col] = symbols[min(i, len(symbols) - 1)]
    axis = "|" if ascii_only else "│"
    lines = []
    for row in range(height):
        label = f"{y1:.3g}" if row == 0 else f"{y0:.3g}" if row == height - 1 else ""
        lines.append(f"{label:>{label_w}}{axis}" + "".join(grid[row]))
    return lines


# -- evaluation ----------------------------------------------------------------------------------

BENCHMARK_NAMES = {"math_500": "MATH-500", "gpqa_diamond": "GPQA-Diamond"}


def comparison(results: list, order: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the comparison table: one row per model; per benchmark Pass@1 ± its
    standard error, the highest pass@k and the truncation rate (percent). `results` are
    evaluate.BenchmarkResult records or EvalResult events (both have these fields)."""

    def ks(r) -> dict[int, float]:
        return {int(k): v for k, v in r.pass_at_k.items()}

    rank = list(BENCHMARK_NAMES)
    benchmarks = sorted({r.benchmark for r in results}, key=lambda b: rank.index(b) if b in rank else len(rank))
    models = [m for m in (order or []) if any(r.model == m for r in results)]
    models += sorted({r.model for r in results} - set(models))
    header = ["model"]
    for b in benchmarks:
        name = BENCHMARK_NAMES.get(b, b)
        kmax = max((max(ks(r)) for r in results if r.benchmark == b and r.pass_at_k), default=1)
        header += [f"{name} Pass@1", f"{name} pass@{kmax}", f"{name} truncated"]
    rows = []
    for m in models:
        row = [m]
        for b in benchmarks:
            r = next((r for r in results if r.model == m and r.benchmark == b), None)
            if r is None:
                row += ["-", "-", "-"]
                continue
            k = ks(r)
            best = k[max(k)] if k else r.pass1
            row += [f"{100 * r.pass1:.1f} ± {100 * r.stderr:.1f}", f"{100 * best:.1f}", f"{100 * r.truncation_rate:.1f}%"]
        rows.append(row)
    return header, rows
