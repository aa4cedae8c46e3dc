"""Sample-by-sample access to a run's dataset and eval predictions, for the console's inspector.

The raw file may hold a million replies of 10-30 KB each, so nothing is loaded whole: one pass
records where each line starts and what its verdict says in compact arrays (label, reason and
source as small integer codes), and a sample is read from disk when it is shown. Manual decisions
are appended to `data/overrides.jsonl`, which the next filter run honours.
"""

from __future__ import annotations

import re
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import orjson

from rchain.records import JsonlAppender, Override, Verdict
from rchain.runs import RunDir

LABELS = ("", "correct", "wrong", "unverifiable", "malformed")
ACCEPTED = {"correct"}
_UID = re.compile(rb'"uid"\s*:\s*"((?:[^"\\]|\\.)*)"')
_verdict_decoder = msgspec.json.Decoder(Verdict)
_override_decoder = msgspec.json.Decoder(Override)


def teachers_with_data(run: RunDir) -> list[str]:
    return sorted(p.stem for p in (run.root / "data" / "raw").glob("*.jsonl"))


@dataclass(frozen=True)
class Sample:
    index: int
    uid: str
    source: str
    problem: str
    solution: str
    think: str
    answer: str
    finish_reason: str
    verdict: Verdict | None
    override: str  # "accept", "reject" or ""


class Codes:
    """Strings as small integers, so a million labels fit in a few megabytes."""

    def __init__(self, initial: tuple[str, ...] = ("",)) -> None:
        self.names: list[str] = list(initial)
        self._ids = {name: i for i, name in enumerate(self.names)}

    def code(self, name: str) -> int:
        found = self._ids.get(name)
        if found is None:
            found = self._ids[name] = len(self.names)
            self.names.append(name)
        return found


class DatasetIndex:
    """One teacher's raw replies with their verdicts, by position in the raw file."""

    def __init__(self, run: RunDir, teacher: str) -> None:
        self.run = run
        self.teacher = teacher
        self.raw_path = run.raw_path(teacher)
        self.verdicts_path = run.verdicts_path(teacher)
        self.offsets = array("q")
        self.verdict_offsets = array("q")
        self.labels = array("B")
        self.reasons = array("H")
        self.sources = array("H")
        self.reason_codes = Codes()
        self.source_codes = Codes()
        self.label_codes = Codes(LABELS)
        self._by_uid: dict[str, int] = {}
        self.overrides: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.offsets)

    def build(self, progress: Callable[[int], object] = lambda n: None) -> DatasetIndex:
        """One pass over the raw file (line starts and uids), one over the verdicts."""
        offset = 0
        with open(self.raw_path, "rb") as fh:
            for line in fh:
                if line.endswith(b"\n"):
                    match = _UID.search(line, 0, 400) or _UID.search(line)
                    if match:
                        self._by_uid[match.group(1).decode()] = len(self.offsets)
                        self.offsets.append(offset)
                        if len(self.offsets) % 100_000 == 0:
                            progress(len(self.offsets))
                offset += len(line)
        n = len(self.offsets)
        self.verdict_offsets.extend([-1] * n)
        self.labels.extend(bytes(n))
        self.reasons.extend([0] * n)
        self.sources.extend([0] * n)
        if self.verdicts_path.exists():
            offset = 0
            with open(self.verdicts_path, "rb") as fh:
                for line in fh:
                    if line.endswith(b"\n"):
                        try:
                            verdict = _verdict_decoder.decode(line)
                        except msgspec.DecodeError:
                            verdict = None
                        i = self._by_uid.get(verdict.uid, -1) if verdict else -1
                        if i >= 0:
                            self.verdict_offsets[i] = offset
                            self.labels[i] = self.label_codes.code(verdict.label)
                            self.reasons[i] = self.reason_codes.code(verdict.reason)
                            self.sources[i] = self.source_codes.code(verdict.source)
                    offset += len(line)
        self.reload_overrides()
        return self

    def reload_overrides(self) -> None:
        self.overrides = {}
        if self.run.overrides_path.exists():
            with open(self.run.overrides_path, "rb") as fh:
                for line in fh:
                    try:
                        o = _override_decoder.decode(line)
                    except msgspec.DecodeError:
                        continue
                    self.overrides[o.uid] = o.decision

    def position(self, uid: str) -> int | None:
        return self._by_uid.get(uid)

    def _line(self, path: Path, offset: int) -> bytes:
        with open(path, "rb") as fh:
            fh.seek(offset)
            return fh.readline()

    def sample(self, i: int) -> Sample:
        from rchain.verify.extract import reply_parts

        record = orjson.loads(self._line(self.raw_path, self.offsets[i]))
        verdict = None
        if self.verdict_offsets[i] >= 0:
            verdict = _verdict_decoder.decode(self._line(self.verdicts_path, self.verdict_offsets[i]))
        assistant = next((m.get("content", "") for m in reversed(record.get("messages", [])) if m.get("role") == "assistant"), "")
        parts = reply_parts(assistant)
        return Sample(
            index=i,
            uid=record.get("uid", ""),
            source=record.get("source", ""),
            problem=record.get("problem", ""),
            solution=record.get("solution", ""),
            think=parts.think,
            answer=parts.answer if parts.well_formed else assistant,
            finish_reason=record.get("finish_reason", ""),
            verdict=verdict,
            override=self.overrides.get(record.get("uid", ""), ""),
        )

    # -- moving around ---------------------------------------------------------------------------

    def matches(self, i: int, *, label: str = "", reason: str = "", source: str = "", accepted: bool | None = None) -> bool:
        code_label = self.label_codes.names[self.labels[i]]
        if label and code_label != label:
            return False
        if reason and self.reason_codes.names[self.reasons[i]] != reason:
            return False
        if source and self.source_codes.names[self.sources[i]] != source:
            return False
        if accepted is not None and (code_label in ACCEPTED) != accepted:
            return False
        return True

    def step(self, start: int, direction: int, **criteria) -> int | None:
        """The next position after `start` (direction +1 or -1) that meets the criteria."""
        i = start + direction
        while 0 <= i < len(self):
            if self.matches(i, **criteria):
                return i
            i += direction
        return None

    def search(self, start: int, text: str, direction: int = 1) -> int | None:
        """The next position whose raw line contains `text` (case-insensitive), reading lines
        from disk; for a worker thread on a big file."""
        needle = text.lower()
        i = start + direction
        with open(self.raw_path, "rb") as fh:
            while 0 <= i < len(self):
                fh.seek(self.offsets[i])
                record = orjson.loads(fh.readline())
                texts = [record.get("uid", ""), record.get("problem", "")] + [str(m.get("content", "")) for m in record.get("messages", [])]
                if any(needle in t.lower() for t in texts):
                    return i
                i += direction
        return None


def record_override(run: RunDir, uid: str, decision: str, note: str = "") -> Override:
    """Append a manual accept/reject for `uid` to data/overrides.jsonl (the last one wins)."""
    if decision not in ("accept", "reject"):
        raise ValueError(f"decision must be accept or reject, got {decision!r}")
    override = Override(uid=uid, decision=decision, note=note, t=time.time())
    out = JsonlAppender(run.overrides_path)
    try:
        out.append(msgspec.json.encode(override))
    finally:
        out.close()
    return override


# -- eval predictions --------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalAnswer:
    repeat: int
    prediction: str
    extracted: str
    correct: bool


@dataclass(frozen=True)
class EvalProblem:
    benchmark: str
    subset: str
    question: str
    target: str
    answers: list[EvalAnswer]


def eval_problems(run: RunDir, model: str) -> Iterator[EvalProblem]:
    """Every evaluated problem of `model` with each of its sampled answers, right or wrong."""
    folder = run.eval_dir(model) / "reviews" / model
    for path in sorted(folder.glob("*.jsonl")):
        benchmark, _, subset = path.stem.partition("_")
        for name in ("math_500", "gpqa_diamond"):
            if path.stem.startswith(name + "_"):
                benchmark, subset = name, path.stem[len(name) + 1 :]
        groups: dict[int, list[dict]] = {}
        for line in path.read_bytes().splitlines():
            try:
                review = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            groups.setdefault(review["sample_score"].get("group_id", 0), []).append(review)
        for _, reviews in sorted(groups.items()):
            first = reviews[0]
            question = next((m.get("content", "") for m in first.get("messages", []) if m.get("role") == "user"), "")
            if not isinstance(question, str):
                question = str(question)
            target = first.get("target")
            answers = []
            for review in sorted(reviews, key=lambda r: r["sample_score"].get("generation_index", 0)):
                score = review["sample_score"]["score"]
                answers.append(
                    EvalAnswer(
                        repeat=review["sample_score"].get("generation_index", 0),
                        prediction=str(score.get("prediction", "")),
                        extracted=str(score.get("extracted_prediction", "")),
                        correct=float(score.get("value", {}).get("accuracy", 0.0)) > 0,
                    )
                )
            yield EvalProblem(benchmark, subset, question, ", ".join(target) if isinstance(target, list) else str(target), answers)
