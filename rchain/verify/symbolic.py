"""The sympy path: math-verify in worker processes only (its own timeout uses SIGALRM, which works
only in a process's main thread; the pool enforces a wall-clock limit instead)."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from rchain.verify.answers import LATEX_COMMAND, TEXT_WRAPPERS

if TYPE_CHECKING:
    from rchain.verify.judge import Comparison

_GOLD_CACHE: dict[str, object] = {}


_DOUBLE_BRACES = re.compile(r"\{\{([^{}]*)\}\}")


def _tidy(text: str) -> str:
    """What math-verify misreads, written as it reads it: `\\frac{{x}}{{x^2}}` -> `\\frac{x}{x^2}`
    (cn_k12 references double braces; it fails) and `T\\_n` -> `T_n` (NuminaMath escapes
    underscores; it read `T\\_n=2n+\\frac{1}{2^{n}}-1` as the number 2, equal to any other such line).
    Unicode math is LaTeX already: rchain.verify.judge.precheck writes it so before anything reads it."""
    text = text.replace("\\_", "_")
    while True:
        tidier = _DOUBLE_BRACES.sub(r"{\1}", text)
        if tidier == text:
            return text
        text = tidier


def _parsed(gold: str, pred: str) -> tuple[list, list]:
    from math_verify import parse

    gold, pred = _tidy(gold), _tidy(pred)
    parsed_gold = _GOLD_CACHE.get(gold)
    if parsed_gold is None:
        parsed_gold = parse(f"\\boxed{{{gold}}}", parsing_timeout=None)
        if len(_GOLD_CACHE) > 10000:
            _GOLD_CACHE.clear()
        _GOLD_CACHE[gold] = parsed_gold
    return parsed_gold, parse(f"\\boxed{{{pred}}}", parsing_timeout=None)


def symbolic_equal(pairs: tuple[tuple[str, str], ...]) -> bool:
    """All pairs equivalent under math-verify. Its own timeouts are off: the pool enforces a
    wall-clock limit and records parse_timeout, where math-verify would silently answer False."""
    from math_verify import verify

    # It warns once per process that its timeout is off; here that is by design.
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    for gold, pred in pairs:
        parsed_gold, parsed_pred = _parsed(gold, pred)
        if not parsed_gold or not parsed_pred:
            return False
        if not verify(parsed_gold, parsed_pred, timeout_seconds=None):
            complex_pair = _with_imaginary_unit(parsed_gold, parsed_pred)
            if complex_pair is None or not verify(*complex_pair, timeout_seconds=None):
                return False
            parsed_gold, parsed_pred = complex_pair
        if _lost_in_parsing(gold, parsed_gold) or _lost_in_parsing(pred, parsed_pred):
            return False
        if not _equations_agree(parsed_gold[0], parsed_pred[0]):
            return False
    return True


def _with_imaginary_unit(gold: list, pred: list) -> tuple[list, list] | None:
    """The two parsed answers with `i` as the imaginary unit, or None where neither has an `i`.
    math-verify reads a lowercase `i` as a variable (only `I` is the unit to it), so `i(2-i)` was
    not `1+2i`, nor `\\frac{2}{1-i}` `1+i`, nor `i^2` `-1`. Nothing is evaluated while `i` is
    replaced: `z = 1 + 2i` would become False for a real `z`, and two Falses compare equal. A
    form that cannot hold a complex number (an interval) leaves the pair as math-verify read it."""
    import sympy

    def replaced(parsed: list) -> list:
        out = []
        for item in parsed:
            if isinstance(item, sympy.Basic):
                unit = {symbol: sympy.I for symbol in item.free_symbols if getattr(symbol, "name", "") == "i"}
                if unit:
                    with sympy.evaluate(False):
                        item = item.subs(unit)
            out.append(item)
        return out

    try:
        pair = replaced(gold), replaced(pred)
    except (TypeError, ValueError):  # "Non-real intervals are not supported"
        return None
    return None if pair == (gold, pred) else pair


def _equations_agree(gold: object, pred: object) -> bool:
    """math-verify compares two equations by their lists of solutions, and an identity (every n
    solves it) lists none, as does a false equation or one with nothing to solve for (`e` is
    Euler's number to it, so `e=\\frac{\\sqrt{6}}{3}` is a closed statement): it took
    `(n+1)^2-n^2=2n+2` for the pattern `(n+1)^2-n^2=2n+1`, and `e = 2` for `x^2+1=x^2+1`. Two
    equations of which either is such a one must have the same two sides; and each identity the
    reference states in a list must be matched by an identity of the reply between the same
    expressions. Against a value it compares an equation's right side, which `x + y = 5` for
    "find x + y" wants but which took `0` for the line `3x - y - 9 = 0`: an equation `... = 0`
    in a variable is no value."""
    import sympy

    def same(a: object, b: object) -> bool:
        return sympy.simplify(a - b) == 0  # type: ignore[operator]

    def degenerate(expr: object) -> bool:
        if not isinstance(expr, sympy.Eq) or not isinstance(expr.lhs, sympy.Expr) or not isinstance(expr.rhs, sympy.Expr):
            return False  # `(p,q)=(3,2)` is an Eq of tuples
        return not expr.free_symbols or same(expr.lhs, expr.rhs)

    def identities(expr: object) -> list:
        if isinstance(expr, sympy.Eq):
            # An identity in a variable; `z = 1 + 1 = 2` is a sum worked out.
            return [expr] if expr.free_symbols and degenerate(expr) else []
        return [found for arg in getattr(expr, "args", ()) for found in identities(arg)]

    def zero_form(expr: object) -> bool:  # `3x - y - 9 = 0`: an equation is the answer (`x = 0` is a value named)
        if not isinstance(expr, sympy.Eq) or 0 not in (expr.lhs, expr.rhs):
            return False
        other = expr.lhs if expr.rhs == 0 else expr.rhs
        return bool(expr.free_symbols) and not getattr(other, "is_Symbol", False)

    if isinstance(gold, sympy.Eq) != isinstance(pred, sympy.Eq) and (zero_form(gold) or zero_form(pred)):
        return False
    if isinstance(gold, sympy.Eq) and isinstance(pred, sympy.Eq) and (degenerate(gold) or degenerate(pred)):
        sides = (gold.lhs, gold.rhs)
        return any(all(map(same, sides, order)) for order in ((pred.lhs, pred.rhs), (pred.rhs, pred.lhs)))
    stated = identities(gold)
    if not stated:
        return True
    answered = identities(pred)
    return all(any(same(mine.lhs, theirs.lhs) for mine in answered) for theirs in stated)


def _lost_in_parsing(text: str, parsed: list) -> bool:
    """math-verify read a formula as a bare number: `2n + 1, 2n - 1, (n \\in N^{}), ...` as 1 (and,
    before `\\_` was tidied, `T\\_n=2n+\\frac{1}{2^{n}}-1` as 2): two such readings compare equal.
    A bare number is believed unless what it was read from (the last side of an equation) has a
    variable left once text, LaTeX commands and the units math-verify itself drops (`5 m`) are set
    aside; a sentence ("the number is not 10 which is 1,000.99€") is math-verify's to read."""
    import sympy
    from latex2sympy2_extended.math_normalization import units_regex

    if not parsed or not isinstance(parsed[0], sympy.Number):
        return False
    rest = TEXT_WRAPPERS.sub(" ", text.rsplit("=", 1)[-1])
    rest = units_regex.sub(r"\1", LATEX_COMMAND.sub(" ", rest).strip())
    return bool(_VARIABLE.search(rest)) and not _PROSE_WORD.search(rest)


_VARIABLE = re.compile(r"(?<![A-Za-z])[A-Za-z](?![A-Za-z])")
_PROSE_WORD = re.compile(r"[A-Za-z]{3,}")


def settle_symbolic(comparison: Comparison) -> str:
    """The reason of a Comparison's verdict, in a worker process: its match or mismatch reason, or
    not_factored (equal, but with fewer factors than the reference where a factorisation is asked)."""
    if not symbolic_equal(comparison.pairs):
        return comparison.mismatch_reason
    for rival in comparison.rivals:
        if symbolic_equal(tuple((rival, pred) for _, pred in comparison.pairs)):
            return comparison.mismatch_reason  # it stands for another option as well
    if comparison.factored:
        for gold, pred in comparison.pairs:
            parsed_gold, parsed_pred = _parsed(gold, pred)
            if _factor_count(parsed_pred[0]) < _factor_count(parsed_gold[0]):
                return "not_factored"
    return comparison.match_reason


def _factor_count(expr: object) -> int:
    """The non-constant factors of a product as written, with multiplicity: 3y(a-1)^2 has 3,
    3y(a^2-2a+1) has 2, the expanded 3ya^2-6ya+3y has 1 (math-verify keeps the form written)."""
    import sympy

    if isinstance(expr, sympy.Mul):
        return sum(_factor_count(arg) for arg in expr.args)
    if isinstance(expr, sympy.Pow) and expr.exp.is_Integer and expr.exp > 0:
        return int(expr.exp) * _factor_count(expr.base)
    return 0 if getattr(expr, "is_number", True) else 1
