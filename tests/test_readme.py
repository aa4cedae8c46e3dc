"""The README's promises: the two Quickstart commands, CI running the test one, a current reference."""

from __future__ import annotations

import re

from conftest import REPO
from rchain.config import reference_markdown

README = (REPO / "README.md").read_text(encoding="utf-8")


def quickstart_commands() -> list[str]:
    section = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_quickstart_is_exactly_two_commands_and_ci_runs_the_test_one() -> None:
    commands = quickstart_commands()
    assert len(commands) == 2
    assert "rchain-console --demo" in commands[0]
    assert "pytest" in commands[1]
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert commands[1] in ci


def test_config_reference_is_generated_from_the_models() -> None:
    start, end = "<!-- config-reference:start -->\n", "\n<!-- config-reference:end -->"
    current = README.split(start, 1)[1].split(end, 1)[0]
    assert current == reference_markdown(), "regenerate the README's config reference"
