"""Is a reply fit to train on? A verdict and a reason code for every reply.

Fit = the reply finished (finish_reason stop), has a non-empty `<think>` and `<answer>`, and its
final answer matches the reference. `precheck` settles everything that plain string work can
(structure, gold extraction, multiple choice, string and numeric fast paths) in the main
process; what needs sympy becomes a `Comparison` for the worker pool (`symbolic_equal`).

Strategies by NuminaMath source:
* multiple choice (cn_k12, amc_aime, synthetic_amc): the letter, the option's text, or the value
  behind the letter, using the options parsed from the problem;
* numbers (gsm8k, orca_math): thousands separators, currency, percent, units, decimals vs fractions;
* expressions (everything else): math-verify equivalence.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from rchain.verify.extract import Gold, boxed_all, choice_letter, gold_answers, is_proof_problem, options, reply_parts, stated_answer

Label = Literal["correct", "wrong", "unverifiable", "malformed"]
MC_SOURCES = frozenset({"cn_k12", "amc_aime", "synthetic_amc"})
NUMERIC_SOURCES = frozenset({"gsm8k", "orca_math"})
#: Reasons of `unverifiable` that mean "the reference has no checkable answer" (kept when the
#: policy says keep); parse_timeout is not one of them.
ANSWERLESS_REASONS = frozenset({"proof_problem", "no_gold_answer", "empty_gold_boxed"})


@dataclass(frozen=True)
class Decision:
    label: Label
    reason: str
    gold: str = ""
    predicted: str = ""
    #: Reply-level marks: unboxed_answer (the answer was stated without \\boxed{}).
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Comparison:
    """Pairs of (gold, predicted) answer strings that must all be equivalent, for a worker."""

    pairs: tuple[tuple[str, str], ...]
    match_reason: str
    mismatch_reason: str
    gold: str
    predicted: str
    flags: tuple[str, ...] = ()


def precheck(source: str, problem: str, solution: str, assistant: str, finish_reason: str) -> Decision | Comparison:
    parts = reply_parts(assistant)
    gold = gold_answers(solution)
    shown_gold = " ; ".join(gold.answers)
    if finish_reason == "length":
        return Decision("malformed", "truncated", shown_gold)
    if not parts.well_formed:
        return Decision("malformed", "no_think_answer_tags", shown_gold)
    if not parts.think:
        return Decision("malformed", "empty_think", shown_gold)
    if not parts.answer:
        return Decision("malformed", "empty_answer", shown_gold)
    if not gold.answers:
        if gold.empty_boxed:
            return Decision("unverifiable", "empty_gold_boxed")
        return Decision("unverifiable", "proof_problem" if is_proof_problem(problem) else "no_gold_answer")
    answer_text = parts.answer
    predicted = boxed_all(answer_text)
    if not predicted:  # some replies box their answer at the end of the reasoning only
        answer_text = parts.think[-2000:]
        predicted = boxed_all(answer_text)
    if not predicted:
        stated = stated_answer(parts.answer, numeric=source in NUMERIC_SOURCES or _looks_numeric(gold))
        if stated is None:
            return Decision("malformed", "no_boxed_in_reply", shown_gold)
        outcome = _judge_predicted(source, problem, gold, [stated], shown_gold)
        return dataclasses.replace(outcome, flags=(*outcome.flags, "unboxed_answer"))
    return _judge_predicted(source, problem, gold, predicted, shown_gold, answer_text)


def _closing_paragraph(text: str) -> str:
    paragraphs = [p for p in text.strip().split("\n\n") if p.strip()]
    return paragraphs[-1] if paragraphs else ""


def _looks_numeric(gold: Gold) -> bool:
    return all(number(answer) is not None for answer in gold.answers)


def _judge_predicted(
    source: str, problem: str, gold: Gold, predicted: list[str], shown_gold: str, answer_text: str = ""
) -> Decision | Comparison:
    if source in MC_SOURCES:
        decided = _multiple_choice(problem, gold, predicted, shown_gold, " ; ".join(predicted))
        if decided is not None:
            return decided
    golds = gold.answers
    if len(golds) == 1:
        distinct = {normalize(p) for p in predicted}
        parts = split_top_level(golds[0])
        if len(distinct) > 1 and len(parts) == len(predicted):
            golds = tuple(parts)  # "3, 5, 7" answered as \boxed{3}, \boxed{5}, \boxed{7}
        elif len(distinct) > 1 and len({normalize(p) for p in boxed_all(_closing_paragraph(answer_text))}) > 1:
            # Different answers boxed side by side at the end: a hedge, not an answer.
            return Decision("malformed", "conflicting_answers", shown_gold, " ; ".join(predicted))
        else:
            # Intermediate results boxed on the way: the last boxed answer is the final one.
            predicted = [predicted[-1]]
    shown_pred = " ; ".join(predicted)
    if len(predicted) != len(golds):
        return Decision("wrong", "part_count_mismatch", shown_gold, shown_pred)
    return _compare_parts(golds, predicted, source, shown_gold, shown_pred)


def _multiple_choice(problem: str, gold: Gold, predicted: list[str], shown_gold: str, shown_pred: str) -> Decision | Comparison | None:
    choices = options(problem)
    # cn_k12 references often box the value and then the letter: the last letter is the answer.
    letters = [letter for letter in map(choice_letter, gold.answers) if letter is not None]
    gold_letter = letters[-1] if letters else None
    if not choices or gold_letter is None or gold_letter not in choices:
        return None
    pred_letter = choice_letter(predicted[-1])
    if pred_letter is not None:
        reason = "mc_letter_match" if pred_letter == gold_letter else "mc_letter_mismatch"
        return Decision("correct" if pred_letter == gold_letter else "wrong", reason, gold_letter, pred_letter)
    option_text = choices[gold_letter]
    if normalize(option_text) == normalize(predicted[-1]):
        return Decision("correct", "mc_text_match", gold_letter, shown_pred)
    return Comparison(((option_text, predicted[-1]),), "mc_value_match", "mc_value_mismatch", f"{gold_letter}: {option_text}", shown_pred)


def _compare_parts(golds: tuple[str, ...], preds: list[str], source: str, shown_gold: str, shown_pred: str) -> Decision | Comparison:
    """Settle each (gold, predicted) part by the cheapest rule that can; what only sympy can
    settle becomes a Comparison. The verdict's reason is the weakest rule any part needed."""
    remaining: list[tuple[str, str]] = []
    reasons: list[str] = []
    for gold, pred in zip(golds, preds, strict=True):
        if normalize(gold) == normalize(pred):
            reasons.append("exact_match")
            continue
        letters = choice_letter(gold), choice_letter(pred)
        if None not in letters:  # \\text{(C)} against C
            if letters[0] != letters[1]:
                return Decision("wrong", "mc_letter_mismatch", shown_gold, shown_pred)
            reasons.append("mc_letter_match")
            continue
        if _WORDS_ONLY.fullmatch(normalize(gold)) and normalize(gold).casefold() == normalize(pred).casefold():
            reasons.append("exact_match")  # \\text{east} against East
            continue
        if _APPROXIMATE.fullmatch(normalize(pred)) and _EXACT_ONLY.search(gold):
            # 0.6056 for \\sqrt{13}-3: math-verify's rounding would accept it; the answer asked is exact.
            return Decision("wrong", "approximate_decimal", shown_gold, shown_pred)
        g, p = number(gold), number(pred)
        if g is not None and p is None and source in NUMERIC_SOURCES:
            # A word problem's answer given in a sentence: its one number, or no decision.
            found = [number(n) for n in _NUMBER_IN_TEXT.findall(pred)]
            if len(found) != 1:
                reason = "ambiguous_answer" if found else "numeric_mismatch"
                return Decision("malformed" if found else "wrong", reason, shown_gold, shown_pred)
            p = found[0]
        if g is not None and p is not None:
            if not _close(g, p):
                # Two plain numbers that differ: no need for sympy to say so.
                return Decision("wrong", "numeric_mismatch", shown_gold, shown_pred)
            reasons.append("numeric_match")
            continue
        remaining.append((gold, pred))
    if remaining:
        return Comparison(tuple(remaining), "symbolic_match", "symbolic_mismatch", shown_gold, shown_pred)
    weakest = next((r for r in ("numeric_match", "mc_letter_match") if r in reasons), "exact_match")
    return Decision("correct", weakest, shown_gold, shown_pred)


# ---------------------------------------------------------------------------------------------
# Normalisation and numbers


_WORDS_ONLY = re.compile(r"[A-Za-z][A-Za-z ]*")
_BRACELESS_FRAC = re.compile(r"\\frac(\d)(\d)")
_NUMBER_IN_TEXT = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?!\d)")
_APPROXIMATE = re.compile(r"-?\d*\.\d{3,}")
_EXACT_ONLY = re.compile(r"\\sqrt|\\pi|\\log|\\ln|\\sin|\\cos|\\tan|e\^|\\frac\{[^}]*\}\{(?:3|6|7|9|11|12|13)\}")


def split_top_level(answer: str) -> list[str]:
    """`3, 5, 7` -> [3, 5, 7]; commas inside braces, brackets or parentheses do not split."""
    parts, depth, current = [], 0, []
    for char in answer:
        if char in "{([":
            depth += 1
        elif char in "})]":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return [p for p in parts if p]

_TEXT_WRAPPERS = re.compile(r"\\(?:text|textbf|mathrm|mbox|operatorname)\s*\{([^{}]*)\}")
_SPACING = re.compile(r"\\[,;:! ]|\\quad|\\qquad|~")
_UNITS = re.compile(
    r"\s*(?:dollars?|cents?|units?|meters?|metres?|cm|km|kg|grams?|g|hours?|hrs?|minutes?|mins?|seconds?|secs?|"
    r"days?|weeks?|months?|years?|miles?|feet|foot|ft|inches|inch|pounds?|lbs?|degrees?|percent|people|students?|"
    r"apples?|books?|pages?|square|sq|cubic|liters?|litres?|ml|mph|km/h|m/s)\b\.?",
    re.I,
)


def normalize(answer: str) -> str:
    """A canonical string for the fast equality path (never decides a mismatch alone)."""
    text = answer.strip()
    text = _TEXT_WRAPPERS.sub(r"\1", text)
    text = text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\\left", "").replace("\\right", "")
    text = _BRACELESS_FRAC.sub(r"\\frac{\1}{\2}", text)  # \\frac43 -> \\frac{4}{3}
    text = text.replace("^\\circ", "").replace("^{\\circ}", "").replace("°", "").replace("\\%", "%")
    text = _SPACING.sub("", text)
    text = re.sub(r"^[a-zA-Z]\s*=\s*", "", text)  # "x = 5" -> "5"
    text = text.replace("$", "").replace(" ", "").rstrip(".")
    return text


def number(answer: str) -> Fraction | None:
    """The number an answer states (`1,234`, `$5.50`, `12%`, `\\frac{3}{4}`, `2\\frac{1}{2}`, `7 apples`),
    or None when it is not a plain number."""
    text = _TEXT_WRAPPERS.sub(r"\1", answer).strip().strip("$").strip()
    text = text.replace("\\$", "").replace("$", "").replace("\\%", "").replace("%", "").replace("\\!", "")
    text = _UNITS.sub("", text).strip()
    text = _BRACELESS_FRAC.sub(r"\\frac{\1}{\2}", text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac"))
    text = text.replace("{,}", ",").rstrip(",.;:")
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text).replace(" ", "")
    mixed = re.fullmatch(r"(-?\d+)\\frac\{(\d+)\}\{(\d+)\}", text)
    if mixed and int(mixed[3]):
        whole = int(mixed[1])
        frac = Fraction(int(mixed[2]), int(mixed[3]))
        return whole - frac if whole < 0 else whole + frac
    frac = re.fullmatch(r"(-?)\\frac\{(-?\d+)\}\{(-?\d+)\}", text)
    if frac and int(frac[3]):
        value = Fraction(int(frac[2]), int(frac[3]))
        return -value if frac[1] else value
    slash = re.fullmatch(r"(-?\d+)/(\d+)", text)
    if slash and int(slash[2]):
        return Fraction(int(slash[1]), int(slash[2]))
    if re.fullmatch(r"-?(\d+\.?\d*|\.\d+)", text):
        return Fraction(text)
    return None


def _close(a: Fraction, b: Fraction) -> bool:
    return a == b or abs(a - b) <= Fraction(1, 10**6) * max(1, abs(a))


# ---------------------------------------------------------------------------------------------
# The sympy path (worker processes only: math-verify's own timeout uses SIGALRM)

_GOLD_CACHE: dict[str, object] = {}


def symbolic_equal(pairs: tuple[tuple[str, str], ...]) -> bool:
    """All pairs equivalent under math-verify. Its own timeouts are off: the pool enforces a
    wall-clock limit and records parse_timeout, where math-verify would silently answer False."""
    from math_verify import parse, verify

    # It warns once per process that its timeout is off; here that is by design.
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    for gold, pred in pairs:
        parsed_gold = _GOLD_CACHE.get(gold)
        if parsed_gold is None:
            parsed_gold = parse(f"\\boxed{{{gold}}}", parsing_timeout=None)
            if len(_GOLD_CACHE) > 10000:
                _GOLD_CACHE.clear()
            _GOLD_CACHE[gold] = parsed_gold
        parsed_pred = parse(f"\\boxed{{{pred}}}", parsing_timeout=None)
        if not parsed_gold or not parsed_pred or not verify(parsed_gold, parsed_pred, timeout_seconds=None):
            return False
    return True
