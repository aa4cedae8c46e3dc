from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent
SHARED_DATA = REPO.parent / "shared" / "data"

MINIMAL_CONFIG = """\
[run]
name = "t"

[problems]
dataset = "problems.jsonl"

[[teachers]]
name = "MathR"
model = "demo-r1"
base_url = "http://127.0.0.1:9/v1"
api_key_env = "RCHAIN_TEST_SECRET"

[[variants]]
name = "V"
teacher = "MathR"
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "pipeline.toml"
    path.write_text(MINIMAL_CONFIG, encoding="utf-8")
    return path


@pytest.fixture
def stage_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment in which stage processes can import the test stage functions."""
    paths = [str(TESTS_DIR), str(REPO)]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    return dict(os.environ)


def rchain_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "rchain", *args]
