"""The built-in offline demo: the whole chain on a 2-core box with no GPU and no network.

`write_demo(DIR)` lays out an experiment: its config (the local teacher server as the run's
`teachers` stage), synthetic NuminaMath-style problems over the nine sources, small synthetic
benchmarks in MATH-500 and GPQA-Diamond formats, and a tiny Qwen2 model built offline.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

MODEL_DIR = "models/tiny-qwen2"


def write_demo(directory: Path, *, build_model: bool = True) -> Path:
    """Write the demo experiment into `directory` (what exists is kept); return its config."""
    from rchain.demo import synthetic

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "pipeline.toml"
    if not config.exists():
        config.write_text(files("rchain").joinpath("templates/demo.toml").read_text(encoding="utf-8"), encoding="utf-8")
    if not (directory / "problems.jsonl").exists():
        synthetic.write_jsonl(directory / "problems.jsonl", synthetic.problems(per_source=6))
    benchmarks = directory / "benchmarks"
    if not (benchmarks / "math_500" / "test.jsonl").exists():
        synthetic.write_jsonl(benchmarks / "math_500" / "test.jsonl", synthetic.math500_rows())
    if not (benchmarks / "gpqa_diamond" / "train.jsonl").exists():
        synthetic.write_jsonl(benchmarks / "gpqa_diamond" / "train.jsonl", synthetic.gpqa_rows())
    if build_model and not (directory / MODEL_DIR / "config.json").exists():
        from rchain.tinymodel import build_tiny_model

        build_tiny_model(directory / MODEL_DIR)
    return config
