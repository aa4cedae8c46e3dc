"""Problem-level checks beside answer checking: benchmark contamination and quality flags.

* Decontamination: a problem that shares an 8-gram (lower-cased words) with a MATH-500 or
  GPQA-Diamond question is flagged `contaminated:<benchmark>` and kept out of the clean subset.
  The benchmark texts come from local copies named in the config (never shipped with rchain).
* Quality flags, as in OpenThoughts' audit of NuminaMath: `figure_missing` (the text refers to a
  figure or diagram it does not contain) and `multi_part` ("(1) ... (2) ..." problems).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from rchain.records import iter_objects

NGRAM = 8
_WORD = re.compile(r"[a-z0-9]+")
_QUESTION_FIELDS = ("problem", "question", "Question")
_FIGURE = re.compile(r"\b(?:figure|diagram|as shown|shown below|shown above|the graph below|picture)\b", re.I)
_DRAWN = re.compile(r"\[asy\]|\\begin\{tikzpicture\}|!\[", re.I)
#: A problem of several numbered parts: "(1) ... (2) ...", "(I) ... (II)", "① ... ②".
MULTI_PART = re.compile(r"(?:[(（]\s*(?:1|I|Ⅰ)\s*[)）]|①|\b1[.)]\s).*?(?:[(（]\s*(?:2|II|Ⅱ)\s*[)）]|②|\b2[.)]\s)", re.S)


def ngrams(text: str, n: int = NGRAM) -> set[int]:
    words = _WORD.findall(text.lower())
    return {hash(tuple(words[i : i + n])) for i in range(len(words) - n + 1)}


def benchmark_texts(path: Path) -> list[str]:
    """Questions in a benchmark copy: a .jsonl file, or a folder of them (evalscope's layout)."""
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    texts = []
    for file in files:
        for row in iter_objects(file):
            for field in _QUESTION_FIELDS:
                if isinstance(row.get(field), str):
                    texts.append(row[field])
                    break
    return texts


class ContaminationIndex:
    def __init__(self, benchmarks: dict[str, Iterable[str]]) -> None:
        self._grams: dict[str, set[int]] = {}
        for name, texts in benchmarks.items():
            grams: set[int] = set()
            for text in texts:
                grams |= ngrams(text)
            self._grams[name] = grams

    @property
    def benchmarks(self) -> list[str]:
        return sorted(self._grams)

    def hits(self, problem: str) -> list[str]:
        grams = ngrams(problem)
        return [name for name, bench in self._grams.items() if grams & bench]


def quality_flags(problem: str) -> list[str]:
    flags = []
    if _FIGURE.search(problem) and not _DRAWN.search(problem):
        flags.append("figure_missing")
    if MULTI_PART.search(problem):
        flags.append("multi_part")
    return flags
