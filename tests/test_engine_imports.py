"""The engine never imports Textual: only rchain.tui may (harlequin's rule, checked for real)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import rchain


def engine_modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(rchain.__path__, "rchain.")]
    return [n for n in names if not n.startswith("rchain.tui") and n != "rchain.__main__"]


def test_there_are_engine_modules_to_check() -> None:
    assert {"rchain.config", "rchain.runs", "rchain.supervisor", "rchain.cli", "rchain.stages"} <= set(engine_modules())


def test_no_engine_module_imports_textual() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {engine_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.') or m.startswith('rchain.tui'))\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
