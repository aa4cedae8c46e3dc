"""The sympy path: math-verify in worker processes only (its own timeout uses SIGALRM, which works
only in a process's main thread; the pool enforces a wall-clock limit instead)."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rchain.verify.judge import Comparison

_GOLD_CACHE: dict[str, object] = {}


_DOUBLE_BRACES = re.compile(r"\{\{([^{}]*)\}\}")


def _single_braces(text: str) -> str:
    """`\\frac{{x}}{{x^2}}` -> `\\frac{x}{x^2}` (cn_k12 references double them; math-verify fails)."""
    while True:
        tidier = _DOUBLE_BRACES.sub(r"{\1}", text)
        if tidier == text:
            return text
        text = tidier


def _parsed(gold: str, pred: str) -> tuple[list, list]:
    from math_verify import parse

    gold, pred = _single_braces(gold), _single_braces(pred)
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
        if not parsed_gold or not parsed_pred or not verify(parsed_gold, parsed_pred, timeout_seconds=None):
            return False
    return True


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
