"""Append-only JSONL files that survive a kill -9 at any moment.

A line counts as written once it ends in a newline and is flushed. A process killed mid-write
leaves a torn last line (no newline); the next writer cuts it off before appending, so it never
fuses with the next record, and readers skip it. Lines are split on b"\\n" only: texts may hold
U+2028/U+2029, which `str.splitlines()` would split.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import msgspec

from rchain.errors import DataError


def repair_torn_tail(path: Path) -> int:
    """Cut an unterminated last line off `path`; return how many bytes were removed."""
    try:
        fh = open(path, "rb+")
    except FileNotFoundError:
        return 0
    with fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return 0
        # Walk back block by block to the last newline.
        end = size
        block = 64 * 1024
        while end > 0:
            start = max(0, end - block)
            fh.seek(start)
            chunk = fh.read(end - start)
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                keep = start + cut + 1
                break
            end = start
        else:
            keep = 0
        fh.truncate(keep)
        return size - keep


class JsonlAppender:
    """Appends complete lines to a JSONL file; each `append` is flushed before it returns."""

    def __init__(self, path: Path, *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.repaired_bytes = repair_torn_tail(self.path)
        self._fh: IO[bytes] = open(self.path, "ab", buffering=0)
        self._fsync = fsync

    def append(self, line: bytes) -> None:
        if b"\n" in line:
            raise ValueError("a JSONL record must not contain a raw newline")
        # One write call per line: a concurrent reader sees whole lines or a torn tail, never a mix.
        self._fh.write(line + b"\n")
        if self._fsync:
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_lines(path: Path, *, start: int = 0) -> Iterator[tuple[int, bytes]]:
    """Yield (line number, line) for every complete line; a torn last line is not yielded."""
    with open(path, "rb") as fh:
        lineno = start
        for raw in fh:
            lineno += 1
            if not raw.endswith(b"\n"):
                return
            if raw.strip():
                yield lineno, raw


def iter_objects(path: Path) -> Iterator[dict]:
    """The JSON objects of a JSONL file someone else wrote (a benchmark copy, a problem list),
    skipping lines that are not objects: for readers that only need what is readable."""
    import orjson

    for _, raw in iter_lines(path):
        try:
            row = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if isinstance(row, dict):
            yield row


def iter_decoded(path: Path, decoder: msgspec.json.Decoder) -> Iterator:
    """Typed records of one of rchain's own JSONL files; torn or foreign lines are skipped."""
    if not path.exists():
        return
    for _, raw in iter_lines(path):
        try:
            yield decoder.decode(raw)
        except msgspec.DecodeError:
            continue


def iter_jsonl(path: Path) -> Iterator[tuple[int, object]]:
    """Yield (line number, decoded object); a malformed line raises DataError naming file:line."""
    import orjson

    for lineno, raw in iter_lines(path):
        try:
            yield lineno, orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise DataError(f"{path}:{lineno}: malformed JSON line: {exc}") from None


# ---------------------------------------------------------------------------------------------
# Record types


class ChatMessage(msgspec.Struct, frozen=True):
    role: str
    content: str


class GenerationConfig(msgspec.Struct, frozen=True):
    temperature: float
    top_p: float
    max_tokens: int


class TokenUsage(msgspec.Struct, frozen=True, kw_only=True):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cache_hit_tokens: int = 0
    #: False when the server reported no usage and the counts are chunk counts.
    reported: bool = True


class RawRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One teacher reply: a line of `data/raw/<teacher>.jsonl`, ready for ms-swift (`messages`)."""

    #: Unique per reply: problem id, teacher and sample index.
    uid: str
    #: Problem id, stable and content-derived (rchain.problems.problem_id).
    id: str
    source: str
    problem: str
    solution: str
    messages: list[ChatMessage]
    teacher: str
    model: str
    generation: GenerationConfig
    sample_index: int
    usage: TokenUsage
    finish_reason: str
    latency_s: float
    attempts: int
    #: Marks worth a look: empty_reasoning, empty_content, think_in_content, truncated.
    flags: list[str] = []
    created_at: float = 0.0


class FailureRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A request that failed after its last attempt (`data/failures/<teacher>.jsonl`); it is
    tried again on the next resume."""

    uid: str
    id: str
    teacher: str
    sample_index: int
    cause: str
    detail: str
    attempts: int
    t: float


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    """One line of `data/verdicts/<teacher>.jsonl`: the filter's decision on one raw record."""

    uid: str
    id: str
    teacher: str
    source: str
    #: correct, wrong, unverifiable or malformed.
    label: str
    #: Why: mc_letter_match, numeric_match, symbolic_mismatch, truncated, parse_timeout, ...
    reason: str
    #: The answers as extracted from the reference solution and from the reply.
    gold: str = ""
    predicted: str = ""
    #: Problem-level marks: contaminated:<benchmark>, figure_missing, multi_part.
    flags: list[str] = []
    t: float = 0.0


class Override(msgspec.Struct, frozen=True, kw_only=True):
    """A manual decision (`data/overrides.jsonl`), made in the console's inspector; the last one
    for a uid wins over the rules."""

    uid: str
    decision: str  # "accept" or "reject"
    note: str = ""
    t: float = 0.0
