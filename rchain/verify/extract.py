"""Cheap answer extraction from LaTeX text, before any sympy work.

Everything here is plain string work; only the short answer strings it finds are handed to
math-verify. Both run in the filter's worker processes (rchain.verify.runner.judge_in_worker).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from rchain.verify.answers import number, value_key

# `\\framebox[2cm]{204}`: AoPS solutions use it as a box; its optional width is skipped.
_BOXED = re.compile(r"\\(?:boxed|fbox|framebox(?:\[[^\]]*\])*)\s*")
_TEXTBF_CHOICE = re.compile(r"\\textbf\{\s*\(?\s*([A-E])\s*\)?")
_HASHES = re.compile(r"####\s*([^\n]+)")
_PROOF = re.compile(r"\b(prove|show that|demonstrate that|proof)\b", re.I)
# Options in a problem: "A: 1", "A. 1", "(A) 1", "A．1" (full-width), separated by spaces or newlines.
_OPTION = re.compile(r"(?:^|\s|\$)\(?([A-E])\s*[).:．、]\s*")
# AMC options as AoPS writes them: `$\\textbf{(A) }6 \\qquad \\textbf{(B)}\\ 8$`, `\\mathrm{(C)}~7`.
_LATEX_OPTION = re.compile(r"\\(?:textbf|mathrm|mathbf|text)\s*\{\s*\(\s*([A-E])\s*\)\s*\}(?:\s|\\[ ,;:]|~)*")
_OPTION_END = re.compile(r"(?:\s|\$|\\q?quad|\\\\|\\[ ,;:]|~)+$")
# Layout a box's content may open or close with and that says nothing of its value:
# `\boxed{\displaystyle 52_8}`, `\boxed{\, \{1\pm\sqrt{5},-2\} \,}` (a line break `\\` stays).
_LAYOUT_SPACE = r"\s|\\[,;:! ]|\\q?quad(?![A-Za-z])|~"
_BOX_LAYOUT = re.compile(rf"^(?:{_LAYOUT_SPACE}|\\(?:display|text)style(?![A-Za-z]))+|(?<!\\)(?:{_LAYOUT_SPACE})+$")


def _closing_brace(text: str, start: int) -> int | None:
    """The index of the brace that closes the one at `start`; `\\{` is an escaped brace, but in
    `\\\\{` (a line break, then a group) the brace counts."""
    depth = 0
    backslashes = 0
    for i in range(start, len(text)):
        char = text[i]
        if char == "\\":
            backslashes += 1
            continue
        escaped, backslashes = backslashes % 2 == 1, 0
        if escaped:
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i
    return None


def boxed_all(text: str) -> list[str]:
    """Contents of every `\\boxed{...}` / `\\fbox{...}` / `\\framebox{...}` (nested braces handled), in order.
    `\\boxed 5` (no braces) yields the token after it."""
    found: list[str] = []
    for match in _BOXED.finditer(text):
        start = match.end()
        if start < len(text) and text[start] == "{":
            end = _closing_brace(text, start)
            if end is not None:
                found.append(_BOX_LAYOUT.sub("", text[start + 1 : end]).strip())
        else:
            token = re.match(r"[^\s$]+", text[start:])
            if token:
                found.append(token.group(0))
    return found


def after_last_boxed(text: str) -> str:
    """The text after the last `\\boxed{...}` closes ("" when there is none)."""
    matches = list(_BOXED.finditer(text))
    if not matches:
        return ""
    start = matches[-1].end()
    if start >= len(text) or text[start] != "{":
        return text[start:].split(maxsplit=1)[-1] if text[start:].strip() else ""
    end = _closing_brace(text, start)
    return text[end + 1 :] if end is not None else ""


def last_boxed(text: str) -> str | None:
    found = boxed_all(text)
    return found[-1] if found else None


@dataclass(frozen=True)
class ReplyParts:
    think: str
    answer: str
    #: False when the text is not `<think>...</think><answer>...</answer>`.
    well_formed: bool


def reply_parts(assistant: str) -> ReplyParts:
    """`<think>...</think>` then `<answer>...</answer>` (the closing answer tag optional).
    Plain string searches: a regex over 20 KB replies was a third of the string rules' time."""
    text = assistant.strip()
    close = text.find("</think>")
    if not text.startswith("<think>") or close < 0:
        return ReplyParts("", assistant, False)
    rest = text[close + len("</think>") :].lstrip()
    if not rest.startswith("<answer>"):
        return ReplyParts("", assistant, False)
    answer = rest[len("<answer>") :]
    if answer.endswith("</answer>"):
        answer = answer[: -len("</answer>")]
    return ReplyParts(text[len("<think>") : close].strip(), answer.strip(), True)


@dataclass(frozen=True)
class Gold:
    """What the reference solution says the answer is."""

    answers: tuple[str, ...]
    #: How it was found: boxed, textbf_choice, hashes, answer_is; "" when nothing was.
    how: str
    #: The reference has `\\boxed{}` with nothing inside.
    empty_boxed: bool = False


def gold_answers(solution: str) -> Gold:
    agreed = _agreed_answer(solution)
    if agreed:
        return Gold((agreed,), "boxed")
    boxed = boxed_all(solution)
    if boxed:
        non_empty = tuple(b for b in boxed if b.strip())
        return Gold(non_empty, "boxed", empty_boxed=not non_empty)
    choice = _TEXTBF_CHOICE.findall(solution)
    if choice:
        return Gold((choice[-1],), "textbf_choice")
    hashes = _HASHES.findall(solution)
    if hashes:
        return Gold((hashes[-1].strip(),), "hashes")
    said = _said_answer(solution)
    if said:
        return Gold((said.strip("*").strip().strip("$").strip(),), "answer_is")
    return Gold((), "")


# Where one solution ends and the next begins in a reference that collects several (AoPS wiki
# pages): a signature line ("~angie.", "~[isabelchen](...)") or a heading "Solution 2", "== Solution 2 ==",
# "### Solution 2:", "**Solution 2.**".
_NEXT_SOLUTION = re.compile(r"\n[ \t]*(?:~[^\n]*|(?:[=#*]+[ \t]*)?Solution[ \t]+\d[\d.]*\b[^\n]*)(?=\n)")


def _agreed_answer(solution: str) -> str | None:
    """The answer of a reference made of several solutions, when each ends on the same boxed
    value (the earlier boxes of each are steps, not parts of the answer); None otherwise."""
    if not _NEXT_SOLUTION.search(solution):
        return None
    finals = [boxed[-1] for piece in _NEXT_SOLUTION.split(solution) if (boxed := [b for b in boxed_all(piece) if b.strip()])]
    if len(finals) < 2 or len({value_key(final) for final in finals}) != 1:
        return None
    return finals[0]


def is_proof_problem(problem: str) -> bool:
    return bool(_PROOF.search(problem))


def choice_letter(answer: str) -> str | None:
    """The option letter an answer names: `C`, `(C)`, `\\text{C}`, `\\textbf{(C)}`, `C: 5`, `\\textbf{(C)}\\ 5`."""
    match = _named_choice(answer)
    return match.group(1) if match else None


def choice_text(answer: str) -> str:
    """What an answer that names an option says of it: `5` in `C: 5`; "" for a bare letter."""
    match = _named_choice(answer)
    return (match.group(2) or "").strip() if match else ""


def _named_choice(answer: str) -> re.Match[str] | None:
    text = re.sub(r"\\(?:text|textbf|mathrm|mathbf)\s*\{([^{}]*)\}", r"\1", answer).strip().strip("$ ")
    text = _OPTION_WORD.sub("", text)  # "Option B", "\\text{Choice } C"
    return re.fullmatch(r"\(?\s*([A-E])\s*\)?(?:\s*[:.．、。，)]\s*(.*))?", text, re.S)


def choice_letters(answer: str) -> frozenset[str] | None:
    """The option letters an answer names: one (`C`, as `choice_letter`) or several for a
    multiple-select question (`AC`, `A, C`, `[A, C]`, `A and C`)."""
    single = choice_letter(answer)
    if single:
        return frozenset(single)
    text = re.sub(r"\\(?:text|textbf|mathrm|mathbf)\s*\{([^{}]*)\}", r"\1", answer).strip().strip("$*[]() .")
    text = _OPTIONS_ARE.sub("", text)  # "The correct options are A and C"
    if re.fullmatch(r"[A-E](?:\s*(?:,|、|and|\\text\{ and \})?\s*[A-E])+", text):
        found = re.findall(r"[A-E]", text)
        if len(set(found)) == len(found):
            return frozenset(found)
    return None


def chosen_option(text: str) -> str | None:
    """The option a reply says it chooses, in words, without boxing or "the answer is": "the
    correct choice is (B)", "Option D is correct.", "B is the correct answer.", "we choose C", in
    its last 1,500 characters; None where it names none, or several (an option-by-option analysis
    that finds two "correct" names no one answer)."""
    found = {next(letter for letter in match.groups() if letter) for match in _CHOSEN.finditer(text[-1500:])}
    return found.pop() if len(found) == 1 else None


# The words in any case, the letter a capital: "we choose a value" names no option.
_CHOSEN = re.compile(
    r"(?i:\b(?:correct|right)\s+(?:option|choice)\s+is\s*:?\s*(?:option\s+)?)\**\(?([A-E])\b"
    r"|(?i:\b(?:option|choice)\s+)\(?([A-E])\)?(?i:\s+is\s+(?:the\s+)?(?:correct|right)\b)"
    r"|(?<![\w$\\])\(?([A-E])\)?(?i:\s+is\s+the\s+(?:correct|right)\s+(?:answer|option|choice)\b)"
    r"|(?i:\b(?:we|I)\s+(?:choose|select|pick)\s+(?:option\s+)?)\(?([A-E])\b"
)
_OPTION_WORD = re.compile(r"^(?i:option|choice)\s+(?=\(?[A-E]\b)")
_OPTIONS_ARE = re.compile(r"^(?:the\s+)?(?:correct\s+)?(?:options?|choices?|answers?)\s+(?:is|are)\s*:?\s*", re.I)


def options(problem: str) -> dict[str, str]:
    """Multiple-choice options written in the problem, letter -> text; {} when there are none.
    Requires A and B in order so that a stray capital letter is not taken for an option."""
    marks = list(_LATEX_OPTION.finditer(problem))
    if len(marks) < 2:
        marks = list(_OPTION.finditer(problem))
    found: dict[str, str] = {}
    expected = "A"
    positions = []
    for mark in marks:
        if mark.group(1) == expected:
            positions.append(mark)
            expected = chr(ord(expected) + 1)
    if len(positions) < 2:
        return {}
    for i, mark in enumerate(positions):
        end = positions[i + 1].start() if i + 1 < len(positions) else len(problem)
        text = _OPTION_END.sub("", problem[mark.end() : end]).strip().strip("$").strip()
        boxed = boxed_all(text)
        # "B: $\\boxed{\\frac{1}{6}}$" (a problem copied with its options boxed): the option is the value.
        found[mark.group(1)] = boxed[0] if len(boxed) == 1 and text.startswith("\\boxed") and text.endswith("}") else text
    return found


# How a statement of the answer opens: "The final answer is", "**Answer:**", "answer =".
_SAYS = r"(?:final answer|the answer|answer)\s*(?:\*\*)?\s*"
# The lookahead lets the regex engine skip to the letters a statement can start with (a quarter faster).
_STATED = re.compile(
    r"(?=[fta])" + _SAYS + r"(?:is\s*(?:therefore|thus)?\s*:?|:|=)\s*(?:\*\*)?\s*(?:\\\(|\$)?\s*([^\n]*?)\s*(?:\\\)|\$)?\s*(?:\*\*)?\s*\.?\s*$",
    re.I | re.M,
)
_BOLD = re.compile(r"\*\*([^*\n]{1,80})\*\*")
_NUMBER = re.compile(r"-?\$?\d(?:[\d,]|\{,\})*(?:\.\d+)?(?:/\d+)?")  # `$129{,}200`


def _said_answer(text: str) -> str | None:
    """What follows the last "the answer is" / "**Answer:**" (or the next line, when the
    statement ends its line: "The correct answer is:"), without the wrapping a chat model puts
    around it: "boxed below: **D**", "[B: 2]", "### 7/9", "\\[B: Pulling open a drawer\\]"."""
    said = _statement(text)
    return said[0] if said else None


# A reply's answer part is asked for its statement twice (whether it states one, then what it is).
@functools.lru_cache(maxsize=8)
def _statement(text: str) -> tuple[str, str] | None:
    """(the answer stated, the statement's whole line as written)."""
    if "final answer" in text.casefold():  # "**Final Answer**\nThe result is \\(1 + 2i\\)."
        text = _ANSWER_HEADING.sub("Final Answer:\n", text)
    matches = list(_STATED.finditer(text))
    if not matches:
        return None
    last = matches[-1]
    display = _STATED_DISPLAY.match(text, last.start(0))
    if display:  # "Therefore, the final answer is:\n\n\\[\n36\n\\]"
        return (display.group(1) or display.group(2)).strip(), display.group(0)
    stated, line = last.group(1).strip(), last.group(0)
    inner = _statement(stated) if _STATED.search(stated) else None
    if inner:
        return inner[0], line  # "Final Answer: The final answer is $28\\%$.": the statement inside
    opener = text[last.start(0) : last.start(1)].rstrip()
    opened = "$" if opener.endswith("$") else "\\(" if opener.endswith("\\(") else ""
    leading = _LEADING_MATH.fullmatch(opened + stated) if opened else None
    if leading:
        # "$28\\%$. I hope it is correct.": the value, not the sentence after it.
        stated = (leading.group(1) or leading.group(2)).strip()
    elif not opened:
        head = _NEXT_SENTENCE.split(stated, maxsplit=1)[0]
        if re.search(r"[\d\\]", head) and not _SENTENCE.search(head):
            stated = head  # "14400. I hope it is correct" (but not "... exceeds Mrs. Cruz's budget by $9,500")
    answer = _unwrap(_BOXED_BELOW.sub("", stated))
    if not answer.strip("*:. "):
        following = [row.strip() for row in text[last.end() :].split("\n") if row.strip()]
        answer = line = _unwrap(following[0]) if following else ""
    return (answer, line) if answer.strip("*:. ") else None


_ANSWER_HEADING = re.compile(r"^[#* \t]*final answer[* \t]*\n(?=\s*\S)", re.I | re.M)
# A statement whose answer is the display on the lines after it.
_STATED_DISPLAY = re.compile(_SAYS + r"(?:is\s*(?:therefore|thus)?\s*)?:?\s*(?:\*\*)?[ \t]*\n\s*(?:\\\[(.+?)\\\]|\$\$(.+?)\$\$)", re.I | re.S)
_NEXT_SENTENCE = re.compile(r"\.\s+(?=[A-Z])")
# A math span, then nothing or another sentence: "$28\\%$. I hope it is correct." ("$5 and $6" is two prices).
_LEADING_MATH = re.compile(r"(?:\$((?:\\\$|[^$])+)\$|\\\((.+?)\\\))\s*(?:[.;,!](?:\s+\S.*)?)?", re.S)  # `$\\$21$` too


def final_statement(text: str) -> str | None:
    """The answer of a closing "Final Answer: The final answer is $X$." (a statement that says
    it is the final answer), or None."""
    if "final" not in text.casefold():
        return None  # most text after a box is "$." or "\\]": no need for the statement regex
    said = _statement(text)
    if not said or "final" not in said[1].casefold() or _points_to_box(said[0]):
        return None  # "The final answer is boxed as requested.": the box is the answer
    return said[0]


def states_answer(text: str) -> bool:
    """The text says what its answer is ("The answer is 5.", "**Final Answer:** $5$"), and not
    only where to find it ("The final answer is boxed above."), in its last 1,500 characters, where
    `stated_answer` reads it."""
    said = _said_answer(text[-1500:])
    return bool(said) and not _points_to_box(said)


def _points_to_box(said: str) -> bool:
    """What a statement says is only where the answer is: "boxed as requested", "boxed above"."""
    return bool(_POINTS_TO_BOX.search(said)) and not re.search(r"[\d\\$]", said)


_POINTS_TO_BOX = re.compile(r"\b(?:box(?:ed)?|above)\b", re.I)


_BOXED_BELOW = re.compile(r"^(?:boxed|shown|given|written)?\s*(?:below|as|here)?\s*:\s*", re.I)


def _unwrap(answer: str) -> str:
    text = answer.strip().lstrip("#").strip().strip("*").strip()
    if text.startswith("\\[") and text.endswith("\\]"):
        text = text[2:-2].strip()
    if text.startswith("[") and text.endswith("]") and "," not in text:
        text = text[1:-1].strip()  # "[D]", "[B: 2]"; "[1, 2]" is an interval
    return text.strip("*").strip()


def stated_answer(text: str, *, numeric: bool, problem: str = "") -> str | None:
    """A final answer a reply states without `\\boxed{}`: "The answer is 540.", "**Answer:** 540",
    a whole answer part that is only a value ("even"), a closing "**Total**: 120 + 15 = 135", a bold
    final value, or (for word problems) the last number of the answer part."""
    tail = text[-1500:]
    lines = [line.strip() for line in tail.split("\n") if line.strip()]
    labelled = _LABELLED_MATH.fullmatch(lines[0]) if len(lines) == 1 else None
    if labelled:
        # "Matrix with fractions: $\\begin{pmatrix}...\\end{pmatrix}$": the whole answer part is one formula.
        return next(group for group in labelled.groups() if group is not None).strip()
    if len(lines) == 1 and len(lines[0]) <= 40 and not _SENTENCE.search(lines[0]) and not _STATED.match(lines[0].lstrip("*#_ ")):
        # "even", "$x = 3$" (not "**Answer:** Navin", a statement: the value after its label).
        return lines[0].strip("*$ ").removeprefix("\\[").removesuffix("\\]").strip()
    said = _statement(tail)
    answer = said[0] if said else None
    if answer and choice_letter(answer.rstrip(".")):
        return answer.rstrip(".")  # "D: When $x < -1$, ...": the option named, with its text
    letter = _LEADING_LETTER.match(answer or "")
    if letter:
        return letter.group(1)  # "**D**. But please note, ..."
    if said and answer:
        if numeric:
            return _word_problem_number(answer, problem, said[1])
        return _statement_formula(said[1], problem) or answer.strip("*").strip().strip("$").strip()
    if not lines:
        return None
    if numeric and re.search(r"[:=]", lines[-1]):
        result = lines[-1].split("=")[-1].split(":")[-1]
        whole = _unwrap(result.strip().rstrip(".").strip().removeprefix("\\(").removesuffix("\\)"))
        if number(whole) is not None:
            return whole  # "= \\dfrac{1}{8}\\)." (not its 8)
        closing = list(_NUMBER.finditer(result))
        if closing and _bare(result, closing[-1]):
            return closing[-1].group(0).lstrip("$")
    closing = tail.rstrip().rstrip(".").rstrip()
    if not numeric and closing.endswith("\\]") and "\\[" in closing:
        return closing[closing.rindex("\\[") + 2 : -2].strip()  # a closing display: "\\[ (5, \\infty) \\]"
    bold = [value for value in (_bold_value(b, numeric) for b in _BOLD.findall(tail)) if value]
    if bold:
        return _unwrap(bold[-1])
    found = list(_NUMBER.finditer(tail)) if numeric else []
    return found[-1].group(0) if found and _bare(tail, found[-1]) else None


def _bare(text: str, found: re.Match[str]) -> bool:
    """A number standing on its own, not a piece of a formula: not the 3 of `\\frac{14}{3}`, `x^2`, `a_1`."""
    return text[found.start() - 1 : found.start()] not in ("{", "^", "_") and text[found.end() : found.end() + 1] != "}"


def _statement_formula(line: str, problem: str) -> str | None:
    """The formula a statement gives: "Archimedes should choose \\( x = -\\dfrac{3}{8} \\)"; of
    several, the one the problem does not already give ("\\(10101001110_2\\) is equal to \\(2516_8\\)")."""
    spans = list(_MATH_SPAN.finditer(line))
    formulas = [(m.group(1) or m.group(2)).strip() for m in spans]
    if len(formulas) > 1:
        given = _loose(problem)
        new = [f for f in formulas if _loose(f) not in given]
        if len(new) == 1:
            return new[0]
        return _what_it_is(line, spans) or formulas[0]
    return formulas[0] if formulas else None


def _what_it_is(line: str, spans: list[re.Match[str]]) -> str | None:
    """Of several formulas in a sentence, the one it says the answer is: `3` in "The degree of \\(f\\) is \\(3\\)."."""
    stated = [span for span in spans if _IS.search(line[: span.start()])]
    return next(group for group in stated[0].groups() if group is not None).strip() if stated else None


def _loose(text: str) -> str:
    return re.sub(r"[{}$\s]", "", text)


def _bold_value(bold: str, numeric: bool) -> str | None:
    """A bold text that is a final value: "**540 meters**", the result of "**3 × $2,200 = $6,600**",
    and for other than word problems an option or a formula."""
    text = bold.strip()
    if not numeric and choice_letter(text):
        return text  # "**A: 4x+6(8-x)=38**": the option, not the 38 its equation ends on
    if _BOLD_VALUE.fullmatch(text):
        return text
    result = text.rsplit("=", 1)[-1].strip()
    if "=" in text and _BOLD_VALUE.fullmatch(result):
        return result
    return text if not numeric and _valued(_unwrap(text)) else None


def _valued(text: str) -> bool:
    """A bold text that can be an answer: an option ("C: $y^2=-8x$") or a formula, not a heading."""
    if choice_letter(text):
        return True
    # Not a heading: "Step 4: Divide ...", "Solving for \\(r\\)", "Calculate \\( c \\)" (words before the math).
    first = re.search(r"[\d$\\]", text)
    return len(text) <= 80 and bool(first) and not text.endswith(":") and not re.search(r"[A-Za-z]{2,}", text[: first.start()])


_LABELLED_MATH = re.compile(r"(?:[^$\\]{0,40}:\s*)?(?:\$\$(.+?)\$\$|\$([^$]+)\$|\\\[(.+?)\\\]|\\\((.+?)\\\))\s*\.?", re.S)
_SENTENCE = re.compile(r"[A-Za-z]{2,}\s+[A-Za-z]{2,}\s")
_IS = re.compile(r"\b(?:is|are|equals)\s*$")
_MATH_SPAN = re.compile(r"\\\(\s*(.+?)\s*\\\)|\$([^$]+)\$")
_LEADING_LETTER = re.compile(r"\*{0,2}\(?([A-E])\)?\*{0,2}[.;,](?:\s|$)")
_PAREN_MATH = re.compile(r"\\\(\s*(.+?)\s*\\\)")
_BOLD_VALUE = re.compile(r"\$?-?\d[\d,]*(?:\.\d+)?\s*%?\s*[A-Za-z/ ]{0,30}")


def _digits(found: str) -> str:
    return found.replace("{,}", "").replace(",", "")


def _word_problem_number(answer: str, problem: str = "", line: str = "") -> str:
    """The number a stated answer gives: "260 sheep." -> 260; "James runs a total of
    **540 meters** per week." -> 540 (the bold value); "choose \\( x = -\\dfrac{3}{8} \\)" -> the
    formula (`\\(...\\)` only: in "$5 and $6" the dollar signs are prices); "3 loaves cost $4 more
    than 2 bagels" -> 4 (the one number of the statement that the problem does not give)."""
    plain = answer.strip("*").strip()
    if EITHER_NUMBER.search(plain):
        return plain  # "5 or 6.": two answers, not its first number
    leading = re.match(r"\$?\s*(-?\d[\d,]*(?:\.\d+)?)\s*%?(?:\s+[A-Za-z][\w\s-]*)?(?:\s*\([^()]*\))?\.?$", plain)
    if leading:
        return leading.group(1)
    for bold in reversed(_BOLD.findall(answer)):
        numbers = _NUMBER.findall(bold)
        if len(numbers) == 1:
            return numbers[0].lstrip("$")
    maths = list(_PAREN_MATH.finditer(line))
    if maths:
        return _what_it_is(line, maths) or maths[0].group(1).strip()
    numbers = [n.lstrip("$") for n in _NUMBER.findall(plain)]
    if len(numbers) > 1 and problem:
        given = {_digits(n) for n in _NUMBER.findall(problem.replace("$", ""))}
        new = [n for n in numbers if _digits(n) not in given]
        if len(new) == 1:
            return new[0]
        # "The median number of students in 2005 is $29$.": the one number the sentence says it is.
        stated = _NUMBER_STATED.findall(plain)
        if len(stated) == 1:
            return stated[0]
    return numbers[0] if len(numbers) == 1 else plain


#: Two numbers offered as the answer: "5 or 6", "either $5$ or $6$", "5 apples or maybe 6".
EITHER_NUMBER = re.compile(r"\d[^\s.;]*(?:\s+[A-Za-z]+)?\$?,?\s+or\s+(?:maybe\s+|perhaps\s+|possibly\s+)?\$?-?\d")
_NUMBER_STATED = re.compile(r"\b(?:is|are|equals)\s+\$?\s*(-?\d[\d,]*(?:\.\d+)?)(?![\d.,]*\s*[-+*/×^])")
