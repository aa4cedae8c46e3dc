"""Cheap answer extraction from LaTeX text, before any sympy work."""

from __future__ import annotations

import re

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*")


def boxed_all(text: str) -> list[str]:
    """Contents of every `\\boxed{...}` / `\\fbox{...}` (nested braces handled), in order.
    `\\boxed 5` (no braces) yields the token after it."""
    found: list[str] = []
    for match in _BOXED.finditer(text):
        start = match.end()
        if start < len(text) and text[start] == "{":
            depth = 0
            for i in range(start, len(text)):
                char = text[i]
                if char == "{" and text[i - 1] != "\\":
                    depth += 1
                elif char == "}" and text[i - 1] != "\\":
                    depth -= 1
                    if depth == 0:
                        found.append(text[start + 1 : i].strip())
                        break
        else:
            token = re.match(r"[^\s$]+", text[start:])
            if token:
                found.append(token.group(0))
    return found


def last_boxed(text: str) -> str | None:
    found = boxed_all(text)
    return found[-1] if found else None
