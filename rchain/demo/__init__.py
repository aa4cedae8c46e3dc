"""The built-in offline demo: an experiment that runs on a 2-core box with no GPU and no network.

Today it lays out the demo's config; the local teacher server, synthetic problems and tiny
model arrive with their stages.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def write_demo(directory: Path) -> Path:
    """Write the demo experiment into `directory` (keeping an existing config); return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "pipeline.toml"
    if not config.exists():
        config.write_text(files("rchain").joinpath("templates/demo.toml").read_text(encoding="utf-8"), encoding="utf-8")
    return config
