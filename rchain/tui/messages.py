"""Messages the console's workers post to its widgets ("attributes down, messages up")."""

from __future__ import annotations

from textual.message import Message

from rchain.runs import RunView


class RunUpdated(Message):
    """A fresh snapshot of the run; a newer one replaces an older one still queued."""

    def __init__(self, view: RunView) -> None:
        super().__init__()
        self.view = view

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunUpdated)
