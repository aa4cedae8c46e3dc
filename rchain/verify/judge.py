"""Is a reply fit to train on? A verdict and a reason code for every reply.

Fit = the reply finished (finish_reason stop), has a non-empty `<think>` and `<answer>`, and its
final answer matches the reference. `precheck` settles everything that plain string work can
(structure, gold extraction, multiple choice, string and numeric fast paths); what needs sympy
becomes a `Comparison`, settled by rchain.verify.symbolic. The filter stage runs both in its
worker pool (rchain.verify.runner.judge_in_worker).
How answers are written (normalisation, numbers, lists) is rchain.verify.answers.

Strategies by NuminaMath source:
* multiple choice (cn_k12, amc_aime, synthetic_amc): the letter, the option's text, or the value
  behind the letter, using the options parsed from the problem;
* numbers (gsm8k, orca_math): thousands separators, currency, percent, units, decimals vs fractions;
* expressions (everything else): math-verify equivalence.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Literal

from rchain.verify.answers import NUMBER_IN_TEXT, TEXT_WRAPPERS, answer_items, base_number, close, distinct, item_name, latex_math, normalize, number, other_power, prose_numbers, rounds_to, scaled_equation, units, value_key, words
from rchain.verify.extract import EITHER_NUMBER, Gold, after_last_boxed, boxed_all, choice_letter, choice_letters, choice_text, chosen_option, final_statement, gold_answers, is_proof_problem, options, reply_parts, stated_answer, states_answer
from rchain.verify.pool import TIMED_OUT, WorkerError
from rchain.verify.quality import MULTI_PART
from rchain.verify.symbolic import settle_symbolic

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
    #: The problem asks for a factorisation: an equal answer with fewer factors is not_factored.
    factored: bool = False
    #: The other options' texts, where the value stands for an option: it must equal none of them.
    rivals: tuple[str, ...] = ()

    def verdict(self, result: object) -> tuple[Label, str]:
        """Label and reason for what the pool returned: `settle_symbolic`'s reason, TIMED_OUT or a WorkerError."""
        if result is TIMED_OUT:
            return "unverifiable", "parse_timeout"  # never "wrong": math-verify's own timeout would say False
        if isinstance(result, WorkerError):
            return "unverifiable", "parse_error"
        return ("correct" if result == self.match_reason else "wrong"), str(result)


def precheck(source: str, problem: str, solution: str, assistant: str, finish_reason: str) -> Decision | Comparison:
    """A verdict by string work alone, or the Comparison that a worker settles with `settle_symbolic`."""
    # One reply's answers are normalised and read as numbers many times over; the caches hold one
    # reply's worth only, so that no reply is judged faster for looking like an earlier one.
    number.cache_clear()
    normalize.cache_clear()
    outcome = _precheck(source, latex_math(problem), latex_math(solution), assistant, finish_reason)
    if isinstance(outcome, Comparison) and _ASKS_FACTORING.search(problem):
        return dataclasses.replace(outcome, factored=True)
    return outcome


# "Factorize: ...", "Factor the expression ...", "factor completely" (not "the greatest common factor of").
_ASKS_FACTORING = re.compile(r"\bfactori[sz]e\b|\bfactor\s+(?:completely|fully|the\s+(?:following|expression|polynomial|quadratic)|\$)", re.I)


def _precheck(source: str, problem: str, solution: str, assistant: str, finish_reason: str) -> Decision | Comparison:
    parts = reply_parts(assistant)
    gold = gold_answers(solution)
    choices = options(problem) if source in MC_SOURCES else {}  # parsed once per reply
    if choices and gold.how == "boxed":
        gold = _gold_option(gold, solution, choices)
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
    if is_proof_problem(problem) and all(_RELATION.search(g) for g in gold.answers):
        # "Prove that 1-(2/3)^n <= S_n < 1": the boxed inequality is what was proved, not a value.
        return Decision("unverifiable", "proof_problem", shown_gold)
    answer = answer_text = latex_math(parts.answer)  # Unicode math in LaTeX where answers are read from
    predicted = boxed_all(answer_text)
    if not predicted and not states_answer(answer):
        # Some replies box their answer at the end of the reasoning only; one whose answer part
        # states its answer is judged by that ("\\boxed{6}. Wait, that's wrong" in the reasoning).
        answer_text = latex_math(parts.think[-2000:])
        predicted = boxed_all(answer_text)
    predicted = [_unwrap_boxed(p) for p in predicted]
    if not predicted:
        numeric = source in NUMERIC_SOURCES or _looks_numeric(gold)
        stated = stated_answer(answer, numeric=numeric, problem=problem)
        if stated is None and choices:
            stated = chosen_option(answer)  # "So the correct choice is (B).", "Option D is correct."
        if stated is None:
            return Decision("malformed", "no_boxed_in_reply", shown_gold)
        if numeric and EITHER_NUMBER.search(stated):
            return Decision("malformed", "ambiguous_answer", shown_gold, stated)  # "The answer is 5 or 6."
        outcome = _judge_predicted(source, choices, gold, [stated], shown_gold)
        return dataclasses.replace(outcome, flags=(*outcome.flags, "unboxed_answer"))
    after = after_last_boxed(answer_text)
    # An AIME problem (amc_aime) has no options: "The answer is given by the number of $(A,B)$" names none.
    multiple_choice = bool(choices) or any(map(choice_letters, gold.answers))
    before = _LETTER_BEFORE_BOX.search(answer_text[: answer_text.rfind("\\boxed")]) if choices else None
    if before and _contradicts(choices, predicted[-1], before.group(1)):
        # "A: $\\boxed{c > a > b}$" where c > a > b is option C: the letter and the box disagree.
        return Decision("malformed", "conflicting_answers", shown_gold, f"{before.group(1)} ; {predicted[-1]}")
    named = stated_answer(after, numeric=False) if source in MC_SOURCES and multiple_choice and after.strip() else None
    named = named if named and choice_letters(named) else None  # an option named after the box
    final = final_statement(after) if after.strip() and not named else None
    if named:
        # "... \\boxed{4}. Therefore, the correct answer is C: 4.": the option named last is the answer.
        if _derivation_between(after):
            # "the interval is \\boxed{(1,\\infty)}. [the intersection worked out] Therefore, the
            # correct answer is A": the box was a step on the way, the option named is the answer.
            predicted = [named]
        elif _contradicts(choices, predicted[-1], named):
            # "\\boxed{4a^2+9a+7} The answer is C: 4a^2+3a+7": the box and the option disagree.
            return Decision("malformed", "conflicting_answers", shown_gold, f"{predicted[-1]} ; {named}")
        else:
            predicted = [*predicted, named]
    elif final:
        # "... = \\boxed{255}. ... Final Answer: The final answer is $10,455$.": intermediate
        # results were boxed on the way; the final answer is the one stated as such (a value after
        # the box of a multiple-choice reply as well: "\\boxed{7} ... The final answer is $8$").
        between = after[: after.casefold().rfind("final")]
        if "=" not in between and not _derivation_between(between) and not _written_alike(_unwrap_boxed(final), predicted[-1]):
            # "= \\boxed{1}. So, the final answer is **0**.": nothing worked out in between.
            return Decision("malformed", "conflicting_answers", shown_gold, f"{predicted[-1]} ; {final}")
        predicted = [final]
    if len(gold.answers) > 1 and len(predicted) == len(gold.answers) and MULTI_PART.search(problem) and not any(map(choice_letters, gold.answers)):
        all_named = all(item_name(text)[0] for text in (*gold.answers, *predicted))
        if not all_named:  # values named on both sides are matched by name, in any order
            # "(1) ... (2) ...", a box for each part on both sides: each part against its own.
            return _in_order(source, gold, predicted, shown_gold)
    return _judge_predicted(source, choices, gold, predicted, shown_gold, answer_text)


def _in_order(source: str, gold: Gold, predicted: list[str], shown_gold: str) -> Decision | Comparison:
    """The reply's boxes, in turn, against the reference's: part (2)'s answer given for part (1) is
    wrong, though the two sets of values are the same."""
    shown_pred = " ; ".join(predicted)
    outcomes = [_judge_predicted(source, {}, dataclasses.replace(gold, answers=(part,)), [answer], part) for part, answer in zip(gold.answers, predicted, strict=True)]
    failed = next((o for o in outcomes if isinstance(o, Decision) and o.label != "correct"), None)
    if failed:
        return dataclasses.replace(failed, gold=shown_gold, predicted=shown_pred)
    pairs = tuple(pair for o in outcomes if isinstance(o, Comparison) for pair in o.pairs)
    if pairs:
        return Comparison(pairs, "symbolic_match", "symbolic_mismatch", shown_gold, shown_pred)
    reasons = {o.reason for o in outcomes}
    weakest = next((r for r in ("numeric_match", "mc_letter_match") if r in reasons), "exact_match")
    return Decision("correct", weakest, shown_gold, shown_pred)


def _gold_option(gold: Gold, solution: str, choices: dict[str, str]) -> Gold:
    """The option a reference that boxes values stands for, added to its answers as a letter: the
    one it names after its boxes ("$= \\boxed{\\frac{1}{6}}$ ... Therefore, the correct answer is:
    B."), or the one option whose text is its last boxed value ("... = \\boxed{30}" where C: 30)."""
    if not choices or not gold.answers or any(choice_letters(answer) for answer in gold.answers):
        return gold
    after = after_last_boxed(solution)
    named = stated_answer(after, numeric=False) if after.strip() else None
    letter = choice_letter(named.rstrip(".")) if named else None
    if not letter:
        same = [key for key, text in choices.items() if text and normalize(text) == normalize(gold.answers[-1])]
        letter = same[0] if len(same) == 1 else None
    return dataclasses.replace(gold, answers=(*gold.answers, letter)) if letter in choices else gold


def _derivation_between(after: str) -> bool:
    """The text after the last box has a paragraph of its own before the closing statement (the
    first piece is the rest of the box's own paragraph)."""
    return len([p for p in after.split("\n\n")[1:] if p.strip()]) > 1


_ANSWER_WORDS = re.compile(r"^(?:the\s+)?(?:final\s+)?answer\s*(?:is\s*)?[:：]?\s*", re.I)
_DISPLAY = re.compile(r"^(?:\$\$|\\\[|\\\(|\$)\s*(.*?)\s*(?:\$\$|\\\]|\\\)|\$)$", re.S)
_DECIMAL_COMMA = re.compile(r"-?\d+,\d{1,2}|-?0,\d+")


def _unwrap_boxed(answer: str) -> str:
    """`\\boxed{Answer $$ 9 $$}` -> `9`: words, math delimiters and a full stop a box should not hold."""
    text = _ANSWER_WORDS.sub("", answer.strip())
    display = _DISPLAY.fullmatch(text)
    text = display.group(1) if display and text != answer.strip() else text
    # `\\boxed{864.}`: the sentence's full stop, which math-verify cannot read past ("1, 2, \\ldots"
    # stays; so does a sentence boxed with its math, "Thus $x <= 2$ is our answer.", which it reads).
    text = text if "$" in text else _FULL_STOP.sub("", text)
    return text or answer


_FULL_STOP = re.compile(r"(?<=[\w})\]])\.\s*$")


# "B: $\\boxed{...}$", "**C.** \\boxed{...}": an option letter opening the line of the last box
# (not the point A of "... the distance to A. $\\boxed{3}$").
_LETTER_BEFORE_BOX = re.compile(r"(?:^|\n)[ \t]*[*(\[]*\s*([A-E])\s*[:.：)]\s*\**\s*\$*\s*$")
_RELATION = re.compile(r"<|>|\\[lg]eq?(?:slant)?\b|\\[lg]t\b|≤|≥|\\neq")


def _is_equation(answer: str) -> bool:
    """`2+3m=0` (a step), unlike `m=-\\frac{2}{3}` (a value given a name)."""
    return "=" in answer and not item_name(answer)[0]


def _contradicts(choices: dict[str, str], boxed: str, named: str) -> bool:
    """A boxed value followed by a named option: they disagree unless the box is that option's
    letter or text (or its number)."""
    letters = choice_letters(named) or frozenset()
    if not choices or len(letters) != 1 or choice_letters(boxed):
        return False
    letter = next(iter(letters))
    same = [key for key, text in choices.items() if _loose(text) == _loose(boxed) or (number(text) is not None and number(text) == number(boxed))]
    return same != [letter]


def _options_boxed(choices: dict[str, str], boxes: list[str]) -> set[str]:
    """The options that boxes name: by one letter, or by a value written as exactly one option's
    text. Nothing for a multiple-select answer, whose boxes name several options by design."""
    named: set[str] = set()
    for box in boxes:
        letters = choice_letters(box)
        if letters and len(letters) > 1:
            return set()
        matching = letters or {key for key, text in choices.items() if _loose(text) == _loose(box)}
        if len(matching) == 1:
            named |= matching
    return named


def _misquoted(choices: dict[str, str], answer: str) -> bool:
    """`B: 27` where option B is 24, `B: 2` where it is `\\sqrt{2}`, or `B: 5` where 5 is option C's:
    the letter and what the answer says of it disagree. A paraphrase ("B: Pulling open a drawer, as
    it slides") does not."""
    letter, said = choice_letter(answer), choice_text(answer)
    if not said or letter not in choices or _loose(said) == _loose(choices[letter]):
        return False
    if any(_loose(said) == _loose(text) for key, text in choices.items() if key != letter):
        return True
    if number(said) is not None:
        return not _written_alike(said, choices[letter])  # `B: 2` for `\\sqrt{2}`; `B: 0.5` is `\\frac{1}{2}`
    # The numbers of the option's text must all be there: `D: (7, +\\infty)` for `(4, +\\infty)`
    # drops its 4; `D: 48 (if the sequence starts at 60)` keeps 48.
    return not set(_DIGITS.findall(latex_math(choices[letter]))) <= set(_DIGITS.findall(latex_math(said)))


_DIGITS = re.compile(r"\d+(?:\.\d+)?")


def _written_alike(a: str, b: str) -> bool:
    """The same answer, however spaced and braced: `\\sqrt2` and `\\sqrt{2}`, `0.5` and `\\frac{1}{2}`, `C` and `\\text{(C)}`."""
    unspaced = re.sub(r"\s+", "", a), re.sub(r"\s+", "", b)  # a matrix's `\\\\ -14` and `\\\\-14`
    return value_key(a) == value_key(b) or _loose(unspaced[0]) == _loose(unspaced[1]) or choice_letter(a) is not None and choice_letter(a) == choice_letter(b)


def _loose(text: str) -> str:
    """`\\{2, 4\\}`, `{{2,4}}` and `{2,4}` alike; `x_{1}` and `x_1`; an option's closing `;` and a box's `.`."""
    return re.sub(r"\\[{}]|[{}$\s]", "", normalize(text)).rstrip(".;,")


def _closing_paragraph(text: str) -> str:
    paragraphs = [p for p in text.strip().split("\n\n") if p.strip()]
    return paragraphs[-1] if paragraphs else ""


def _looks_numeric(gold: Gold) -> bool:
    return all(number(answer) is not None for answer in gold.answers)


def _judge_predicted(
    source: str, choices: dict[str, str], gold: Gold, predicted: list[str], shown_gold: str, answer_text: str = ""
) -> Decision | Comparison:
    if source in MC_SOURCES:
        if choices and len(predicted) > 1 and len(_options_boxed(choices, boxed_all(_closing_paragraph(answer_text)))) > 1:
            # "The value is $\\boxed{12}$, so the answer is $\\boxed{B}$." where 12 is option A's.
            return Decision("malformed", "conflicting_answers", shown_gold, " ; ".join(predicted))
        decided = _multiple_choice(choices, gold, predicted, shown_gold, " ; ".join(predicted))
        if decided is not None:
            return decided
    golds = gold.answers
    if len(golds) == 1 and len(predicted) > 1:
        values = {value_key(p) for p in predicted}
        if len(values) > 1 and len(answer_items(golds[0])) == len(predicted):
            pass  # "3, 5, 7" answered as \boxed{3}, \boxed{5}, \boxed{7}
        elif len(values) > 1 and len({value_key(p) for p in boxed_all(_closing_paragraph(answer_text)) if not _is_equation(p)}) > 1:
            # Different answers boxed side by side at the end: a hedge, not an answer.
            return Decision("malformed", "conflicting_answers", shown_gold, " ; ".join(predicted))
        else:
            # Intermediate results boxed on the way: the last boxed answer is the final one.
            predicted = [predicted[-1]]
    if len(golds) == 1 and len(predicted) == 1 and _DECIMAL_COMMA.fullmatch(predicted[0].strip("$ ")) and "." in golds[0] and number(golds[0]) is not None:
        predicted = [predicted[0].replace(",", ".")]  # "1000,99" for 1000.99: a decimal comma, not a list
    elif len(golds) == 1 and len(predicted) == 1 and _DECIMAL_COMMA.fullmatch(golds[0].strip("$ ")) and "." in predicted[0] and number(predicted[0]) is not None:
        golds = (golds[0].replace(",", "."),)  # the reference writes the decimal comma: "1,22" for 1.22
        shown_gold = golds[0]
    shown_pred = " ; ".join(predicted)
    gold_items = distinct(item for g in golds for item in answer_items(g))
    pred_items = distinct(item for p in predicted for item in answer_items(p))
    if len(gold_items) > 1 and len(pred_items) > len(gold_items):
        # Several parts, with intermediate results boxed on the way: the closing summary's boxes.
        closing = boxed_all(_closing_paragraph(answer_text))
        if closing:
            predicted = closing
            pred_items = distinct(item for p in closing for item in answer_items(p))
            shown_pred = " ; ".join(closing)
    if len(gold_items) != len(pred_items):
        return Decision("wrong", "part_count_mismatch", shown_gold, shown_pred)
    if len(gold_items) == 1:
        return _compare_parts(golds[-1:], predicted[-1:], source, shown_gold, shown_pred)
    return _compare_lists(gold_items, pred_items, source, shown_gold, shown_pred)


def _multiple_choice(choices: dict[str, str], gold: Gold, predicted: list[str], shown_gold: str, shown_pred: str) -> Decision | Comparison | None:
    # cn_k12 references often box the value and then the letter: the last letter is the answer.
    letters = [found for found in map(choice_letters, gold.answers) if found]
    gold_letters = letters[-1] if letters else None
    if choices and not letters and len(distinct(gold.answers)) == 1:
        # The reference boxes the option's value, the reply names its letter: the value behind the letter.
        named = choice_letters(predicted[-1])
        if named and len(named) == 1 and next(iter(named)) in choices:
            # The reference's value must stand for the option named: the same test, the other way round.
            letter = next(iter(named))
            outcome = _option_value(choices, letter, gold.answers[0], shown_gold, f"{letter}: {choices[letter]}")
            return dataclasses.replace(outcome, gold=shown_gold) if isinstance(outcome, Comparison) else outcome
    if not choices or not gold_letters or not gold_letters <= set(choices):
        return None
    pred_letters = choice_letters(predicted[-1])
    if pred_letters and _misquoted(choices, predicted[-1]):
        return Decision("malformed", "conflicting_answers", "".join(sorted(gold_letters)), shown_pred)
    if pred_letters:
        same = pred_letters == gold_letters
        return Decision("correct" if same else "wrong", "mc_letter_match" if same else "mc_letter_mismatch", "".join(sorted(gold_letters)), "".join(sorted(pred_letters)))
    if len(gold_letters) > 1:
        return Decision("wrong", "mc_letter_mismatch", "".join(sorted(gold_letters)), shown_pred)
    gold_letter = next(iter(gold_letters))
    return _option_value(choices, gold_letter, predicted[-1], gold_letter, shown_pred)


def _option_value(choices: dict[str, str], letter: str, value: str, shown_gold: str, shown_pred: str) -> Decision | Comparison:
    """A value given for option `letter`: its text as written, or equal to it and to no other
    option (math-verify reads "Sufficient but not necessary condition" and "Necessary but not
    sufficient condition" as the same product of letters, and two set-builder options alike)."""
    def same(a: str, b: str) -> bool:
        return normalize(a).casefold() == normalize(b).casefold()

    if same(choices[letter], value):
        return Decision("correct", "mc_text_match", shown_gold, shown_pred)
    if any(same(text, value) for key, text in choices.items() if key != letter):
        return Decision("wrong", "mc_value_mismatch", shown_gold, shown_pred)
    rivals = tuple(text for key, text in choices.items() if key != letter and text)
    return Comparison(((choices[letter], value),), "mc_value_match", "mc_value_mismatch", f"{letter}: {choices[letter]}", shown_pred, rivals=rivals)


def _compare_parts(golds: tuple[str, ...], preds: list[str], source: str, shown_gold: str, shown_pred: str) -> Decision | Comparison:
    """Settle each (gold, predicted) part by the cheapest rule that can; what only sympy can
    settle becomes a Comparison. The verdict's reason is the weakest rule any part needed."""
    remaining: list[tuple[str, str]] = []
    reasons: list[str] = []
    for gold, pred in zip(golds, preds, strict=True):
        names = [re.sub(r"[{}\s]", "", item_name(text)[0]) for text in (gold, pred)]
        if all(names) and names[0] != names[1] and not any("(" in name for name in names):
            # "y = 5" for "x = 5": another unknown, or another line ("y = 2x + 3" for "f(x) = 2x + 3" is not)
            remaining.append((gold, pred))
            continue
        gold, pred = _values(gold, pred, names)
        if normalize(gold) == normalize(pred):
            reasons.append("exact_match")
            continue
        if other_power(units(gold), units(pred)):
            # "15\mbox{ cm}^3" for "15\mbox{ cm}^2": math-verify drops the units it cannot read.
            return Decision("wrong", "unit_mismatch", shown_gold, shown_pred)
        based = base_number(gold)
        if based:
            # "2516_8": the digits in that base (math-verify drops the subscript: it took 2516_9);
            # the digits alone are accepted where the problem asks for base 8.
            if base_number(pred) not in (based, None) or not base_number(pred) and normalize(pred) != based[0]:
                return Decision("wrong", "numeric_mismatch", shown_gold, shown_pred)
            reasons.append("exact_match")
            continue
        letters = choice_letter(gold), choice_letter(pred)
        if None not in letters:  # \\text{(C)} against C
            if letters[0] != letters[1]:
                return Decision("wrong", "mc_letter_mismatch", shown_gold, shown_pred)
            reasons.append("mc_letter_match")
            continue
        if _WORDS_ONLY.fullmatch(normalize(gold)) and (normalize(gold).casefold() == normalize(pred).casefold() or _sentence_on(gold, pred)):
            reasons.append("exact_match")  # \\text{east} against East, \\text{Navin} against "Navin earns the most"
            continue
        if _APPROXIMATE.fullmatch(normalize(pred)) and _EXACT_ONLY.search(gold):
            # 0.6056 for \\sqrt{13}-3: math-verify's rounding would accept it; the answer asked is exact.
            return Decision("wrong", "approximate_decimal", shown_gold, shown_pred)
        if "\\approx" in pred or "≈" in pred:
            return Decision("wrong", "approximate_answer", shown_gold, shown_pred)  # "x \\approx 600" is not "600"
        g, p = number(gold), number(pred)
        if g is not None and p is None and _UNEVALUATED.search(pred):
            # "\\frac{1}{4}[\\cos^2(\\frac{2\\pi}{5}) + ...]" for 1/16: equal, perhaps, but not an answer.
            return Decision("wrong", "unsimplified", shown_gold, shown_pred)
        if scaled_equation(gold, pred):
            # "20x - 28y + 44z + 16 = 0" where "5x - 7y + 11z + 4 = 0" (coprime coefficients) is asked.
            return Decision("wrong", "not_lowest_terms", shown_gold, shown_pred)
        if g is not None and p is None and source in NUMERIC_SOURCES and words(pred):
            # A word problem's answer given in a sentence: its one number, or no decision.
            found = [number(n) for n in NUMBER_IN_TEXT.findall(pred)]
            if len(found) != 1:
                reason = "ambiguous_answer" if found else "numeric_mismatch"
                return Decision("malformed" if found else "wrong", reason, shown_gold, shown_pred)
            p = found[0]
        if g is not None and p is not None:
            if not close(g, p, decimal="." in gold or "." in pred) and not rounds_to(gold, g, p):
                # Two plain numbers that differ: no need for sympy to say so.
                return Decision("wrong", "numeric_mismatch", shown_gold, shown_pred)
            reasons.append("numeric_match")
            continue
        if _prose_numbers_differ([gold], [pred]):
            return Decision("wrong", "numeric_mismatch", shown_gold, shown_pred)
        remaining.append((gold, pred))
    if remaining:
        return Comparison(tuple(remaining), "symbolic_match", "symbolic_mismatch", shown_gold, shown_pred)
    weakest = next((r for r in ("numeric_match", "mc_letter_match") if r in reasons), "exact_match")
    return Decision("correct", weakest, shown_gold, shown_pred)


def _values(gold: str, pred: str, names: list[str]) -> tuple[str, str]:
    """`e = \\frac{1}{2}` against `e = 0.6` or `0.5`: the values, with the name set aside where both
    sides give it or the other side is a plain value (not an equation: `y = 2x + 3` against
    `2x - y + 3 = 0` stays whole). math-verify reads the eccentricity `e` as Euler's number, which
    made `e = \\frac{\\sqrt{6}}{3}` a false statement, equal to any other (`e = 0.6` matched)."""
    if names[0] != names[1] and names[0] and names[1]:
        return gold, pred
    if names[0] and not names[1] and "=" in pred or names[1] and not names[0] and "=" in gold:
        return gold, pred
    return item_name(gold)[1], item_name(pred)[1]


_WORDS_ONLY = re.compile(r"[A-Za-z][A-Za-z ]*")


def _sentence_on(gold: str, pred: str) -> bool:
    """A sentence that opens with the reference's word (a name, a few words at most) as its
    subject and says nothing negative: "Navin earns the most after working an eight-hour day."
    for `\\text{Navin}`, as a reply states it without a box; not "Navin does not earn the most"
    nor "Navin and Ian earn the same"."""
    subject = TEXT_WRAPPERS.sub(r"\1", gold).strip().strip("$").strip()
    if not _WORDS_ONLY.fullmatch(subject) or len(subject.split()) > 3:
        return False
    said = pred.strip().strip("*").strip()
    opening = re.match(re.escape(subject) + r"\s+([a-z]+)\b", said, re.I)
    return bool(opening) and opening[1].casefold() not in _JOINING and not _NEGATION.search(said)


# Words after which the reference's word is no subject: "Navin and Ian ...", "Even though ...".
_JOINING = frozenset({"and", "or", "nor", "but", "vs", "versus", "than", "though", "if", "when", "so"})
_NEGATION = re.compile(r"\b(?:not|never|no|neither|nor|nobody|none|cannot)\b|n't\b", re.I)

_APPROXIMATE = re.compile(r"-?\d*\.\d{3,}")
_EXACT_ONLY = re.compile(r"\\sqrt|\\pi|\\log|\\ln|\\sin|\\cos|\\tan|e\^|\\frac\{[^}]*\}\{(?:3|6|7|9|11|12|13)\}")
_UNEVALUATED = re.compile(r"\\(?:sin|cos|tan|cot|sec|csc|log|ln|arcsin|arccos|arctan|sum|prod|int)\b")


def _compare_lists(golds: list[str], preds: list[str], source: str, shown_gold: str, shown_pred: str) -> Decision | Comparison:
    """Several values on each side, in any order. Named values (`x = 1, y = 2`) are matched by
    name; plain numbers as a multiset (`1 and -2` against `-2, 1`); anything else as a set by math-verify."""
    gold_named, pred_named = [item_name(g) for g in golds], [item_name(p) for p in preds]
    gold_names, pred_names = {n for n, _ in gold_named}, {n for n, _ in pred_named}
    one_unknown = len(gold_names) == 1 and gold_names == pred_names  # "p = -1 and p = 15/8": the values of p, a set
    if all(n for n, _ in gold_named) and all(n for n, _ in pred_named) and not one_unknown:
        by_name = dict(pred_named)
        if {n for n, _ in gold_named} != set(by_name) or len(by_name) != len(preds):
            return Decision("wrong", "part_count_mismatch", shown_gold, shown_pred)
        return _compare_parts(tuple(v for _, v in gold_named), [by_name[n] for n, _ in gold_named], source, shown_gold, shown_pred)
    if sorted(map(normalize, golds)) == sorted(map(normalize, preds)):
        return Decision("correct", "exact_match", shown_gold, shown_pred)
    gold_values, pred_values = [v for _, v in gold_named], [v for _, v in pred_named]
    if any(_APPROXIMATE.fullmatch(normalize(p)) for p in pred_values) and any(_EXACT_ONLY.search(g) for g in gold_values):
        return Decision("wrong", "approximate_decimal", shown_gold, shown_pred)  # as in _compare_parts
    gold_numbers, pred_numbers = [number(v) for v in gold_values], [number(v) for v in pred_values]
    if None not in gold_numbers and None not in pred_numbers:
        same = sorted(gold_numbers) == sorted(pred_numbers)  # type: ignore[type-var]
        return Decision("correct" if same else "wrong", "numeric_match" if same else "numeric_mismatch", shown_gold, shown_pred)
    if _prose_numbers_differ(gold_values, pred_values):
        return Decision("wrong", "numeric_mismatch", shown_gold, shown_pred)
    # math-verify compares comma-separated values as sets.
    return Comparison(((", ".join(gold_values), ", ".join(pred_values)),), "symbolic_match", "symbolic_mismatch", shown_gold, shown_pred)


def _prose_numbers_differ(golds: list[str], preds: list[str]) -> bool:
    """Sentences on both sides ("Yes, it will exceed 120,000") that state other numbers."""
    gold_prose = [found for found in map(prose_numbers, golds) if found is not None]
    pred_prose = [found for found in map(prose_numbers, preds) if found is not None]
    if not gold_prose or not pred_prose:
        return False
    return sorted(n for found in gold_prose for n in found) != sorted(n for found in pred_prose for n in found)


def settle_here(outcome: Decision | Comparison) -> tuple[Label, str]:
    """Label and reason of a precheck outcome, a Comparison settled in this process with no time
    limit: for tests and scripts; the stage settles Comparisons in its worker pool."""
    if isinstance(outcome, Decision):
        return outcome.label, outcome.reason
    return outcome.verdict(settle_symbolic(outcome))


