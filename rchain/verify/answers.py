"""How answers are written: a canonical string, the number a text states, lists of values, names,
units and bases. Plain string work, done before any sympy (see rchain.verify.judge)."""

from __future__ import annotations

import functools
import re
from fractions import Fraction
from typing import Iterable

TEXT_WRAPPERS = re.compile(r"\\(?:text|textbf|mathbf|mathrm|mbox|operatorname)\s*\{([^{}]*)\}")
# `\\textbf{(113) }`: how AoPS solutions write an AIME answer, in the style of a choice.
_BOLD_NUMBER = re.compile(r"^\s*\\(?:textbf|mathbf)\s*\{\s*\(\s*(\d+)\s*\)\s*\}\s*$")  # the whole answer, not a part's number
_SPACING = re.compile(r"\\[,;:! ]|\\quad|\\qquad|~")


_BRACELESS_FRAC = re.compile(r"\\frac(\d)(\d)")
# "x = ", "a_1 = ", "f(x) = " before a value
_NAME = re.compile(r"^([A-Za-z](?:_\{?\w+\}?)?(?:\(\w\))?)\s*=\s*(?=[^=]*$)")
_UNITS = re.compile(
    r"\s*(?:dollars?|cents?|units?|meters?|metres?|cm|km|kg|grams?|g|hours?|hrs?|minutes?|mins?|seconds?|secs?|"
    r"days?|weeks?|months?|years?|miles?|feet|foot|ft|inches|inch|pounds?|lbs?|degrees?|percent|people|students?|"
    r"apples?|books?|pages?|square|sq|cubic|liters?|litres?|ml|mph|km/h|m/s)\b(?:\^\{?[23]\}?)?\.?",
    re.I,
)


# Both caches hold one reply's answers: rchain.verify.judge.precheck clears them for each reply.
@functools.lru_cache(maxsize=1024)
def normalize(answer: str) -> str:
    """A canonical string for the fast equality path (never decides a mismatch alone)."""
    text = _BOLD_NUMBER.sub(r"\1", answer.strip()).replace("\\_", "_")  # `a\\_n`: NuminaMath escapes underscores
    text = TEXT_WRAPPERS.sub(r"\1", text)
    text = text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\\left", "").replace("\\right", "")
    text = _BRACELESS_FRAC.sub(r"\\frac{\1}{\2}", text)  # \\frac43 -> \\frac{4}{3}
    text = text.replace("^\\circ", "").replace("^{\\circ}", "").replace("°", "").replace("\\%", "%")
    text = _SPACING.sub("", text)
    text = _NAME.sub("", text)  # "x = 5" -> "5", "f(x) = 2x+3" -> "2x+3"
    text = text.replace("$", "").replace(" ", "").rstrip(".")
    return text


@functools.lru_cache(maxsize=1024)
def number(answer: str) -> Fraction | None:
    """The number an answer states (`1,234`, `$5.50`, `12%`, `\\frac{3}{4}`, `2\\frac{1}{2}`, `7 apples`),
    or None when it is not a plain number."""
    if not any(char.isdigit() for char in answer):
        return None
    text = TEXT_WRAPPERS.sub(r"\1", _BOLD_NUMBER.sub(r"\1", answer)).strip().strip("$").strip()
    text = text.replace("\\$", "").replace("$", "").replace("\\%", "").replace("%", "")
    text = _THOUSANDS.sub("", text).replace("\\!", "").replace("\\,", " ")  # `5\\,\\text{cm}`: a space
    text = _UNITS.sub("", text).strip()
    text = _BRACELESS_FRAC.sub(r"\\frac{\1}{\2}", text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac"))
    text = text.replace("{,}", ",").rstrip(",.;:")
    spaced = re.fullmatch(r"(-?\d+)\s+(\d+)/(\d+)", text.strip())  # "1 1/2", before spaces go
    if spaced and int(spaced[3]):
        whole, frac = int(spaced[1]), Fraction(int(spaced[2]), int(spaced[3]))
        return whole - frac if whole < 0 else whole + frac
    text = text.replace(" ", "")
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
    scientific = _SCIENTIFIC.fullmatch(text)
    if scientific:
        return Fraction(scientific[1]) * Fraction(10) ** int(scientific[2] or scientific[3])
    return None


# `2.314814814815 \\times 10^{-3}`, `3 \\cdot 10^8` (spaces gone); an exponent of three digits at most.
_SCIENTIFIC = re.compile(r"(-?\d+(?:\.\d+)?)(?:\\times|\\cdot)10\^(?:\{(-?\d{1,3})\}|(\d))")


def close(a: Fraction, b: Fraction, *, decimal: bool) -> bool:
    """Equal, or, where one was written as a decimal (`decimal`) and the other has no finite
    decimal (0.333333 for 1/3), within one part in a million. Two numbers that both have one must be
    equal (1450001 is not 1450000, nor 1450000.5), and so must two fractions (2240/78126 is not
    448/15625, a millionth of a unit away)."""
    if a == b:
        return True
    if not decimal or _terminates(a) and _terminates(b):
        return False
    return abs(a - b) <= Fraction(1, 10**6) * max(1, abs(a))


def rounds_to(reference: str, value: Fraction, exact: Fraction) -> bool:
    """The reference's number `value` is `exact` rounded to the decimal places the reference
    shows: 2.67 or 2.667 for 8/3 (word-problem references round a value that has no finite
    decimal, which a reply may give exactly). Only for such a value, and to two places at least:
    0.3 is too coarse to stand for 1/3, and 0.25 is no rounding of 1/4 - 1/1000."""
    places = _DECIMAL_PLACES.findall(reference)
    if len(places) != 1 or len(places[0]) < 2 or _terminates(exact):
        return False
    return abs(exact - value) * 2 * 10 ** len(places[0]) <= 1


_DECIMAL_PLACES = re.compile(r"\d\.(\d+)")


def _terminates(value: Fraction) -> bool:
    """A finite decimal: the denominator has no prime factor but 2 and 5."""
    d = value.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    return d == 1


# "6 \text{ and } 8", "p = -1 \text{ or } p = 2", "1; 2", "x = 1 \quad y = 2"
_LIST_JOINERS = re.compile(r"\\text\{\s*(?:and|or|,)\s*\}|\\q?quad|;|\s(?:and|or)\s|(?<=\))\s*(?:and|or)\s*(?=\()")
# `10{,}080`, `11,\\!111`, `1,000`, and the thin space of `276\\,000`.
_THOUSANDS = re.compile(r"(?<=\d)(?:\{,\}|,\\!\s*|,|\\,)(?=\d{3}(?!\d))")


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


def answer_items(answer: str) -> list[str]:
    """An answer as a list of its values: `1, 2` / `\\{1,2\\}` / `6 \\text{ and } 8` / `x=-5, p=\\frac{14}{3}`
    give two items; a tuple, interval or union stays one. Thousands separators do not split."""
    text = answer.strip().strip("$").strip()
    text = _SPACING.sub(" ", _THOUSANDS.sub("", text))
    named = _NAME.match(text)
    if named and _set_contents(text[named.end() :]) != text[named.end() :]:
        text = text[named.end() :]  # "x = \\{1, 2\\}": the set of x's values
    text = _set_contents(text)
    text = _LIST_JOINERS.sub(",", text)
    items = [item for item in split_top_level(text) if item.strip("\\, ")]
    return distinct(signed for item in items for signed in _plus_minus(item)) or [answer]


def _set_contents(text: str) -> str:
    """`\\{1, 2\\}` or `{1, 2}` -> `1, 2` when the braces enclose the whole answer."""
    open_, close_ = ("\\{", "\\}") if text.startswith("\\{") else ("{", "}")
    if not (text.startswith(open_) and text.endswith(close_)):
        return text
    depth = 0
    for i, char in enumerate(text):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if char == "}" and depth == 0 and i < len(text) - 1:
            return text  # `{a}{b}`: the first brace closes early
    return text[len(open_) : -len(close_)]


def _plus_minus(item: str) -> list[str]:
    """`3 \\pm 2\\sqrt{2}` -> `3 + 2\\sqrt{2}`, `3 - 2\\sqrt{2}` (one ± only)."""
    if item.count("\\pm") != 1 or "\\mp" in item:
        return [item]
    return [item.replace("\\pm", "+"), item.replace("\\pm", "-")]


def distinct(items: Iterable[str]) -> list[str]:
    """Items in order, each once (an answer restated, or one solution listed twice; a number
    restated in another form: "$\\boxed{15\\frac{39}{40}}$, or $\\boxed{\\frac{639}{40}}$ inches")."""
    items = list(items)
    if len(items) < 2:
        return items
    seen: dict[object, str] = {}
    for item in items:
        seen.setdefault(value_key(item), item)
    return list(seen.values())


def value_key(answer: str) -> object:
    """What two answers share when they are the same answer written alike: a number's value, or
    the normalised text."""
    value = number(answer)
    return value if value is not None else normalize(answer)


LATEX_COMMAND = re.compile(r"\\(?:begin|end)\s*\{[^{}]*\}|\\[A-Za-z]+")  # `\\begin{pmatrix}` is no word
_WORD = re.compile(r"[A-Za-z]{2,}")
#: A number written in a sentence ("540 meters in 3 sprints", "it will exceed 120,000").
NUMBER_IN_TEXT = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?!\d)")


def prose_numbers(answer: str) -> list[Fraction] | None:
    """The numbers a sentence states, in order ("Yes, it will exceed 120,000" -> [120000]); None
    for an answer that is not a sentence of two words or more. math-verify reads a sentence as a
    product of its letters, so that the numbers in it are not compared at all."""
    text = _plain(answer)
    if len(_WORD.findall(text)) < 2:
        return None
    return [value for found in NUMBER_IN_TEXT.findall(text) if (value := number(found)) is not None]


def words(answer: str) -> list[str]:
    """The words of an answer (two letters or more; LaTeX commands are none): a sentence has some,
    a formula such as `(-\\infty, 0)` none."""
    return _WORD.findall(_plain(answer))


def _plain(answer: str) -> str:
    return LATEX_COMMAND.sub(" ", TEXT_WRAPPERS.sub(r" \1 ", answer))


def item_name(item: str) -> tuple[str, str]:
    item = item.replace("\\_", "_")
    named = _NAME.match(item)
    return (named[1], item[named.end() :].strip()) if named else ("", item)


_UNIT = re.compile(r"\\(?:text|mbox|mathrm)\s*\{\s*([A-Za-z][A-Za-z ]*?)\s*\}\s*(?:\^\s*\{?\s*(\d)\s*\}?)?")


def units(answer: str) -> dict[str, str]:
    """The units written after a value, with their powers: `15\\mbox{ cm}^2` -> {"cm": "2"}; none
    for an answer that is only words (`\\text{east}`)."""
    if not _UNIT.sub("", answer).strip(" $\\,"):
        return {}
    return {word.casefold(): power or "1" for word, power in _UNIT.findall(answer)}


def other_power(gold: dict[str, str], pred: dict[str, str]) -> bool:
    """A unit both give, to another power (cm^3 for cm^2; "square cm" and "inches" for "in" are
    other words, not decided here)."""
    return any(unit in pred and pred[unit] != power for unit, power in gold.items())


_BASE_NUMBER = re.compile(r"([0-9A-Za-z]+)_\{?(\d+)\}?")


def base_number(answer: str) -> tuple[str, str] | None:
    """(digits, base) of a number written with its base: `2516_8`, `10101_{2}`, `\\text{AB}_{16}`."""
    found = _BASE_NUMBER.fullmatch(normalize(answer))
    if not found or not 2 <= int(found[2]) <= 36:
        return None
    digits, base = found[1].upper(), int(found[2])
    # Every digit valid in the base, and more than a letter (`a_1`, `x_2` are names; `b_{12}` a term).
    valid = all(int(c, 36) < base for c in digits) and (len(digits) > 1 or digits.isdigit())
    return (digits, found[2]) if valid else None


_INTEGER = re.compile(r"\d+")


def scaled_equation(gold: str, pred: str) -> bool:
    """The same linear equation with every coefficient multiplied by one integer k > 1."""
    g, p = normalize(gold), normalize(pred)
    if "=" not in g or _INTEGER.sub("#", g) != _INTEGER.sub("#", p):
        return False
    pairs = [(int(a), int(b)) for a, b in zip(_INTEGER.findall(g), _INTEGER.findall(p), strict=True) if int(a)]
    ratios = {Fraction(b, a) for a, b in pairs}
    return len(ratios) == 1 and next(iter(ratios)).denominator == 1 and next(iter(ratios)) > 1


#: Unicode math as chat models write it, in LaTeX: math-verify read `(-∞, 0)` as 0 and could not read
#: `√5`, `x²`, `2·3` or `30°`; rchain's own number reading took `−3` for 3.
_UNICODE_MATH = {
    "∞": "\\infty ", "π": "\\pi ", "·": "\\cdot ", "×": "\\times ", "÷": "\\div ", "−": "-", "≤": "\\le ", "≥": "\\ge ",
    "≠": "\\neq ", "°": "^{\\circ}", "½": "\\frac{1}{2}", "⅓": "\\frac{1}{3}", "⅔": "\\frac{2}{3}", "¼": "\\frac{1}{4}", "¾": "\\frac{3}{4}",
}
_UNICODE_SYMBOL = re.compile("[" + "".join(_UNICODE_MATH) + "]")
_UNICODE_MATH_CHAR = re.compile("[√⁰¹²³⁴⁵⁶⁷⁸⁹" + "".join(_UNICODE_MATH) + "]")
_ROOT = re.compile(r"√\s*(\d+(?:\.\d+)?|[A-Za-z]|\([^()]*\)|\{[^{}]*\})")
_SUPERSCRIPT = re.compile("[⁰¹²³⁴⁵⁶⁷⁸⁹]+")
_SUPERSCRIPT_DIGITS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")
_SQUARE_UNIT = re.compile(r"\d\s*(?:[ckm]?m|ft|in)$")  # `1,000.99m²`: a unit, which math-verify reads as one


def latex_math(text: str) -> str:
    """`2√5`, `(-∞, 0)`, `x²`, `−3` -> `2\\sqrt{5}`, `(-\\infty , 0)`, `x^{2}`, `-3`."""
    if text.isascii() or not _UNICODE_MATH_CHAR.search(text):
        return text
    text = _ROOT.sub(lambda m: "\\sqrt{" + m[1].removeprefix("{").removesuffix("}") + "}", text)
    text = _SUPERSCRIPT.sub(lambda m: m[0] if _SQUARE_UNIT.search(m.string, 0, m.start()) else "^{" + m[0].translate(_SUPERSCRIPT_DIGITS) + "}", text)
    return _UNICODE_SYMBOL.sub(lambda m: _UNICODE_MATH[m[0]], text)
