"""Synthetic NuminaMath-style problems and small benchmarks for the offline demo.

Every problem is computed, not copied: numbers are drawn from a seeded generator and the answer
is worked out, so the reference solution (NuminaMath style, `\\boxed{}` at the end) is right.
The nine NuminaMath sources each get their typical answer shape: integers (gsm8k, orca_math),
decimals (orca_math), fractions (math), expressions (synthetic_math), intervals and choice
letters (cn_k12), `\\textbf{(X)}` choices (amc_aime, synthetic_amc), proofs without a final
answer (olympiads), sums of divisors (aops_forum).

The benchmarks use other wording than the training problems, so decontamination finds nothing.
"""

from __future__ import annotations

import json
import math
import random
from fractions import Fraction
from pathlib import Path

SOURCES = ("amc_aime", "math", "gsm8k", "olympiads", "cn_k12", "synthetic_math", "synthetic_amc", "aops_forum", "orca_math")
LETTERS = "ABCDE"


def _frac(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    sign = "-" if value < 0 else ""
    return f"{sign}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"


def _quadratic(b: int, c: int) -> str:
    """`x^2 + bx + c` with the signs written the way a textbook does."""
    text = "x^2"
    if b:
        text += f" {'-' if b < 0 else '+'} {'' if abs(b) == 1 else abs(b)}x"
    if c:
        text += f" {'-' if c < 0 else '+'} {abs(c)}"
    return text


def _choices(rng: random.Random, right: int, spread: int = 7) -> tuple[list[int], int]:
    values = {right}
    while len(values) < 5:
        values.add(right + rng.randint(-spread, spread))
    options = sorted(values)
    return options, options.index(right)


def _gsm8k(rng: random.Random) -> tuple[str, str]:
    name = rng.choice(["Tom", "Maria", "Ahmed", "Lin", "Sara"])
    a, b, c = rng.randint(3, 40), rng.randint(2, 9), rng.randint(2, 12)
    answer = a + b * c
    problem = f"{name} has {a} marbles and buys {b} bags with {c} marbles in each bag. How many marbles does {name} have now?"
    solution = f"{name} buys {b} \\times {c} = {b * c} marbles, so {name} has {a} + {b * c} = {answer} marbles.\nThe answer is $\\boxed{{{answer}}}$."
    return problem, solution


def _orca_math(rng: random.Random) -> tuple[str, str]:
    total, people = rng.randint(5, 60) * 2 + 1, rng.choice([2, 4, 5, 8])
    share = total / people
    answer = f"{share:g}"
    problem = f"A rope {total} meters long is cut into {people} equal pieces. How long is each piece, in meters?"
    solution = f"Each piece is ${total} \\div {people} = {answer}$ meters long, so the answer is $\\boxed{{{answer}}}$."
    return problem, solution


def _math(rng: random.Random) -> tuple[str, str]:
    a, b, c, d = rng.randint(1, 9), rng.randint(2, 12), rng.randint(1, 9), rng.randint(2, 12)
    total = Fraction(a, b) + Fraction(c, d)
    problem = f"Compute $\\frac{{{a}}}{{{b}}} + \\frac{{{c}}}{{{d}}}$. Express your answer as a common fraction in lowest terms."
    solution = f"With the common denominator {math.lcm(b, d)} the sum is ${_frac(total)}$, so the answer is $\\boxed{{{_frac(total)}}}$."
    return problem, solution


def _synthetic_math(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randint(1, 9), rng.randint(1, 9)
    expr = f"x^2 + {a + b}x + {a * b}"
    problem = f"Expand the product $(x + {a})(x + {b})$ and simplify."
    solution = f"Distributing gives $x^2 + {b}x + {a}x + {a * b} = {expr}$. Hence the result is $\\boxed{{{expr}}}$."
    return problem, solution


def _cn_k12(rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.5:
        r1, r2 = sorted(rng.sample(range(-6, 9), 2))
        poly = _quadratic(-(r1 + r2), r1 * r2)
        problem = f"The solution set of the inequality ${poly} < 0$ is ______."
        solution = f"The roots of ${poly} = 0$ are ${r1}$ and ${r2}$, and the parabola opens upward, so the solution set is $\\boxed{{({r1}, {r2})}}$."
        return problem, solution
    prime = rng.choice([7, 11, 13, 17, 19, 23, 29, 31, 37])
    others = rng.sample([9, 15, 21, 25, 27, 33, 35, 39, 49, 51], 3)
    letter = rng.randrange(4)
    options = others[:letter] + [prime] + others[letter:]
    lines = "\n".join(f"{LETTERS[i]}: ${v}$" for i, v in enumerate(options))
    problem = f"Which of the following numbers is a prime number?\n{lines}"
    solution = f"${prime}$ has no divisor other than 1 and itself, while each of the others is composite. Therefore, the correct choice is $\\boxed{{{LETTERS[letter]}}}$."
    return problem, solution


def _amc(rng: random.Random, source: str) -> tuple[str, str]:
    a, b = rng.randint(11, 39), rng.randint(3, 9)
    right = a * b - b if source == "amc_aime" else a + b * b
    options, index = _choices(rng, right)
    listed = " \\qquad ".join(f"\\textbf{{({LETTERS[i]})}}\\ {v}" for i, v in enumerate(options))
    if source == "amc_aime":
        problem = f"What is the value of ${a} \\cdot {b} - {b}$?\n\n${listed}$"
        work = f"${a} \\cdot {b} - {b} = {a * b} - {b} = {right}$"
    else:
        problem = f"Evaluate ${a} + {b}^2$.\n\n${listed}$"
        work = f"${b}^2 = {b * b}$, so ${a} + {b * b} = {right}$"
    solution = f"We compute {work}.\n\nThe answer is $\\boxed{{\\textbf{{({LETTERS[index]})}}\\ {right}}}$."
    return problem, solution


def _olympiads(rng: random.Random) -> tuple[str, str]:
    k = rng.randint(2, 6)
    if rng.random() < 0.6:
        problem = f"Prove that for every integer $n$, the number $n^{{{2 * k + 1}}} - n$ is divisible by 2."
        solution = f"The numbers $n^{{{2 * k + 1}}}$ and $n$ have the same parity, so their difference is even, which completes the proof."
        return problem, solution
    n = rng.randint(3, 9)
    answer = n * (n - 1) // 2
    problem = f"In a tournament, each of {n} players plays every other player exactly once. How many games are played?"
    solution = f"Each game is a pair of players, so there are $\\binom{{{n}}}{{2}} = {answer}$ games: $\\boxed{{{answer}}}$."
    return problem, solution


def _aops_forum(rng: random.Random) -> tuple[str, str]:
    n = rng.choice([12, 18, 20, 28, 30, 36, 42, 45, 50, 60])
    total = sum(d for d in range(1, n + 1) if n % d == 0)
    problem = f"Find the sum of all positive divisors of ${n}$."
    solution = f"The divisors of ${n}$ are " + ", ".join(str(d) for d in range(1, n + 1) if n % d == 0) + f"; their sum is $\\boxed{{{total}}}$."
    return problem, solution


_MAKERS = {
    "gsm8k": _gsm8k,
    "orca_math": _orca_math,
    "math": _math,
    "synthetic_math": _synthetic_math,
    "cn_k12": _cn_k12,
    "amc_aime": lambda rng: _amc(rng, "amc_aime"),
    "synthetic_amc": lambda rng: _amc(rng, "synthetic_amc"),
    "olympiads": _olympiads,
    "aops_forum": _aops_forum,
}


def problems(per_source: int = 6, seed: int = 0) -> list[dict]:
    """NuminaMath-CoT rows: source, problem, solution, messages."""
    rng = random.Random(seed)
    rows, seen = [], set()
    for source in SOURCES:
        made = 0
        while made < per_source:
            problem, solution = _MAKERS[source](rng)
            if problem in seen:
                continue
            seen.add(problem)
            made += 1
            messages = [{"role": "user", "content": problem}, {"role": "assistant", "content": solution}]
            rows.append({"source": source, "problem": problem, "solution": solution, "messages": messages})
    return rows


def math500_rows(n: int = 8, seed: int = 1) -> list[dict]:
    """A small benchmark in MATH-500's format (problem, solution, answer, subject, level, unique_id)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        a, b = rng.randint(5, 30), rng.randint(2, 4)
        kind = i % 3
        if kind == 0:
            answer = str(a * a - b * b)
            problem, subject = f"What is the value of ${a}^2 - {b}^2$?", "Algebra"
        elif kind == 1:
            answer = str(a % b)
            problem, subject = f"What is the remainder when ${a}$ is divided by ${b}$?", "Number Theory"
        else:
            answer = _frac(Fraction(b, a))
            problem, subject = f"Simplify the ratio ${b}:{a}$ and write it as a fraction.", "Prealgebra"
        rows.append({"problem": problem, "solution": f"The answer is $\\boxed{{{answer}}}$.", "answer": answer, "subject": subject, "level": 1 + i % 5, "unique_id": f"demo/{subject.lower().replace(' ', '_')}/{i}.json"})
    return rows


GPQA_ROWS = [
    ("Which particle carries a negative electric charge?", "Electron", "Proton", "Neutron", "Photon"),
    ("What is the chemical symbol of sodium?", "Na", "So", "Sd", "S"),
    ("Which gas makes up most of Earth's atmosphere?", "Nitrogen", "Oxygen", "Argon", "Carbon dioxide"),
    ("What is the SI unit of force?", "Newton", "Joule", "Watt", "Pascal"),
    ("Which organelle produces most of a cell's ATP?", "Mitochondrion", "Ribosome", "Nucleus", "Golgi apparatus"),
    ("What is the pH of pure water at 25 degrees Celsius?", "7", "0", "14", "1"),
]


def gpqa_rows() -> list[dict]:
    """A small benchmark in GPQA-Diamond's columns."""
    keys = ("Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")
    return [dict(zip(keys, row, strict=True)) for row in GPQA_ROWS]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
