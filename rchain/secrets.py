"""Keep secrets out of everything rchain writes.

Keys and tokens come from environment variables only. Whatever rchain writes itself (state.json,
events, the frozen config, messages) passes through a Redactor that replaces the values of those
variables, so a key that leaked into an exception message or an argv never reaches a file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

#: Variables that hold secrets in this field, whatever the config names.
WELL_KNOWN_SECRET_ENV = (
    "OPENAI_API_KEY",
    "DEEPSEEK_API_KEY",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "MODELSCOPE_API_TOKEN",
    "MODELSCOPE_TOKEN",
)
#: Shorter values are not treated as secrets ("EMPTY", "none", "1"): replacing them would
#: mangle ordinary text.
MIN_SECRET_LENGTH = 8
MASK = "***"


class Redactor:
    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
        self._secret_bytes = [s.encode() for s in self._secrets]

    @classmethod
    def from_env(cls, names: Iterable[str] = (), env: Mapping[str, str] | None = None) -> Redactor:
        env = os.environ if env is None else env
        wanted = set(names) | set(WELL_KNOWN_SECRET_ENV)
        return cls(env[name] for name in wanted if env.get(name))

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def text(self, value: str) -> str:
        for secret in self._secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return value

    def bytes(self, value: bytes) -> bytes:
        for secret in self._secret_bytes:
            if secret in value:
                value = value.replace(secret, MASK.encode())
        return value


class RedactingStream:
    """A text stream that masks secrets before they reach the underlying stream (output.log).

    A stage's prints and tracebacks go through it; a wrapped tool that writes to the inherited
    file descriptor must be piped through `Redactor.bytes` by the stage that runs it.
    """

    def __init__(self, stream, redactor: Redactor) -> None:
        self._stream = stream
        self._redactor = redactor

    def write(self, text: str) -> int:
        self._stream.write(self._redactor.text(text))
        return len(text)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)
