"""Regenerate the config reference table in README.md from the config models' docstrings."""

from pathlib import Path

from rchain.config import reference_markdown

START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"

readme = Path(__file__).resolve().parents[1] / "README.md"
text = readme.read_text(encoding="utf-8")
head, rest = text.split(START, 1)
tail = rest.split(END, 1)[1]
readme.write_text(f"{head}{START}\n{reference_markdown()}\n{END}{tail}", encoding="utf-8")
print(f"updated {readme}")
