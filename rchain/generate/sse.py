"""Server-sent events, parsed lean: the streaming hot path of the generate stage.

At 1,000 streams x 30 tokens/s a client sees 30,000 chunks a second. The openai SDK builds a
typed object per chunk and falls behind; this parser splits raw network blocks into `data:`
payloads and decodes each with orjson, keeping only the few fields it needs.
"""

from __future__ import annotations

DONE = b"[DONE]"


class SSEParser:
    """Feed raw bytes as they arrive; get back complete `data:` payloads."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, block: bytes) -> list[bytes]:
        data = self._buffer + block if self._buffer else block
        lines = data.split(b"\n")
        self._buffer = lines.pop()
        payloads = []
        for line in lines:
            if line[:5] == b"data:":
                payload = line[5:].strip()
                if payload:
                    payloads.append(payload)
            # Comments (": keep-alive"), event names, ids and blank separators carry nothing we need.
        return payloads

    @property
    def pending(self) -> bytes:
        return self._buffer
