"""Text for a view model: the one formatter that `rchain status` and the console both use.

Pure functions of a `StageView` / `RunView`; no I/O, no Textual. ASCII-only fallbacks are chosen
by the caller (`ascii_only=True`) for terminals without UTF-8.
"""

from __future__ import annotations

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
    if stage.last_message is not None:
        return stage.last_message.text
    return ""
