"""Layout snapshots of the console at 80x24 and 120x40, on a run directory with fixed contents.

The run is written event by event with fixed timestamps, so every number on the screen is the
same on every machine; the screen text is compared with tests/snapshots/. After a deliberate
change to the layout, regenerate them with RCHAIN_UPDATE_SNAPSHOTS=1 and read the diff.
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import pytest

from rchain.events import (
    Check,
    EvalResult,
    EventWriter,
    FilterProgress,
    GenerateProgress,
    GpuInfo,
    GpuSample,
    Preflight,
    StageFinished,
    StageStarted,
    TrainProgress,
)
from rchain.runs import RunDir, StageState
from rchain.tui.app import RchainConsole
from rchain.workspace import resolve_target

SNAPSHOTS = Path(__file__).parent / "snapshots"
T0 = 1_790_000_000.0

CONFIG = """
[run]
name = "mathr"
[[teachers]]
name = "MathR"
model = "deepseek-reasoner"
base_url = "http://127.0.0.1:9/v1"
[[teachers]]
name = "MathR-32B"
model = "DeepSeek-R1-Distill-Qwen-32B"
base_url = "http://127.0.0.1:9/v1"
[[variants]]
name = "MathR-Distill-7B"
teacher = "MathR"
[[variants]]
name = "MathR-32B-Distill-7B"
teacher = "MathR-32B"
[eval]
baselines = ["Qwen/Qwen2.5-7B-Instruct"]
"""


def _finished(run: RunDir, stage: str, start: float, end: float, events: list, status: str = "done", reason: str = "") -> None:
    clock = iter([start + i for i in range(len(events) + 2)])
    writer = EventWriter(run.events_path(stage), stage, clock=lambda: next(clock))
    writer.emit(StageStarted(pid=1))
    for event in events:
        writer.emit(event)
    exit_code = 0 if status == "done" else 1
    writer.emit(StageFinished(status=status, exit_code=exit_code, reason=reason))  # type: ignore[arg-type]
    writer.close()
    run.write_state(StageState(stage=stage, status=status, argv=["rchain"], started_at=start, ended_at=end, host="gpu-box", pid=1, exit_code=exit_code, reason=reason))  # type: ignore[arg-type]


def write_fixed_run(root: Path) -> Path:
    config = root / "pipeline.toml"
    config.write_text(CONFIG, encoding="utf-8")
    run = RunDir(root / "runs" / "mathr")
    run.root.mkdir(parents=True)
    (run.root / "pipeline.toml").write_text(CONFIG, encoding="utf-8")
    gen = [
        GenerateProgress(teacher="MathR", done=40_000, total=40_000, requests_per_min=310.0, reasoning_tokens_per_s=41_230.0, answer_tokens_per_s=2_870.0, latency_p50_s=95.2, latency_p95_s=240.8, cost_usd=612.4, truncated=412, retries={"http_429": 83, "empty_body": 12}, concurrency_limit=64),
        GenerateProgress(teacher="MathR-32B", done=40_000, total=40_000, requests_per_min=520.0, reasoning_tokens_per_s=60_110.0, answer_tokens_per_s=4_020.0, latency_p50_s=61.0, latency_p95_s=180.3, truncated=905, concurrency_limit=128),
    ]
    _finished(run, "generate", T0, T0 + 7_260, gen)
    by_source = {
        "amc_aime": {"correct": 1_810, "wrong": 1_420, "unverifiable": 40, "malformed": 90},
        "cn_k12": {"correct": 9_400, "wrong": 3_100, "unverifiable": 620, "malformed": 310},
        "gsm8k": {"correct": 5_950, "wrong": 280, "malformed": 25},
        "math": {"correct": 6_100, "wrong": 1_050, "unverifiable": 35, "malformed": 60},
        "olympiads": {"correct": 4_020, "wrong": 2_950, "unverifiable": 1_210, "malformed": 180},
    }
    flt = [
        FilterProgress(teacher="MathR", judged=40_000, total=40_000, by_source=by_source, kept=27_280, reasons={"numeric_match": 9_000, "symbolic_mismatch": 4_100, "mc_letter_mismatch": 1_900, "truncated": 412, "proof_problem": 1_905}, flags={"math": {"contaminated:math_500": 37, "figure_missing": 120}})
    ]
    _finished(run, "filter", T0 + 7_300, T0 + 7_900, flt)
    curve = [(s, 1.2 - 0.5 * (s / 1000) + 0.02 * ((s * 7) % 5)) for s in range(5, 1001, 5)]
    train = [
        Preflight(subject="MathR-Distill-7B", checks=[Check(name="batch", level="pass", text="128"), Check(name="lengths", level="warn", text="3% cut"), Check(name="eos", level="pass", text="ok"), Check(name="gpus", level="pass", text="8"), Check(name="disk", level="pass", text="ok")]),
        TrainProgress(variant="MathR-Distill-7B", step=1000, max_steps=1065, epoch=4.69, loss=0.71, eval_loss=0.78, learning_rate=1.2e-6, grad_norm=0.41, token_acc=0.81, seconds_per_step=41.3, elapsed_s=41_300, remaining_s=2_680, checkpoints=[700, 800, 900, 1000], loss_curve=curve, eval_loss_curve=[(s, 0.95 - 0.17 * s / 1000) for s in range(100, 1001, 100)]),
        GpuSample(host="gpu-box", gpus=[GpuInfo(index=i, name="NVIDIA H100 80GB HBM3", utilization=97.0 - i, memory_used_mib=71_000 + 100 * i, memory_total_mib=81_559, temperature_c=61.0 + i, power_w=612.0 - 3 * i, processes={4000 + i: 70_000.0}) for i in range(8)]),
    ]
    _finished(run, "train:MathR-Distill-7B", T0 + 8_000, T0 + 49_300, train, status="stopped", reason="stopped by SIGINT")
    results = [
        EvalResult(key="MathR-32B-Distill-7B/math_500", model="MathR-32B-Distill-7B", benchmark="math_500", pass1=0.8536, stderr=0.0041, pass_at_k={"1": 0.8536, "5": 0.934}, truncation_rate=0.012),
        EvalResult(key="MathR-32B-Distill-7B/gpqa_diamond", model="MathR-32B-Distill-7B", benchmark="gpqa_diamond", pass1=0.4707, stderr=0.0112, pass_at_k={"1": 0.4707, "5": 0.8081}, truncation_rate=0.031),
    ]
    _finished(run, "eval:MathR-32B-Distill-7B", T0 + 50_000, T0 + 53_600, results)
    baseline = [
        EvalResult(key="Qwen2.5-7B-Instruct/math_500", model="Qwen2.5-7B-Instruct", benchmark="math_500", pass1=0.7552, stderr=0.0038, pass_at_k={"1": 0.7552, "5": 0.862}, truncation_rate=0.0),
        EvalResult(key="Qwen2.5-7B-Instruct/gpqa_diamond", model="Qwen2.5-7B-Instruct", benchmark="gpqa_diamond", pass1=0.3364, stderr=0.0151, pass_at_k={"1": 0.3364, "5": 0.7222}, truncation_rate=0.0),
    ]
    _finished(run, "eval:Qwen2.5-7B-Instruct", T0 + 54_000, T0 + 55_100, baseline)
    run.log_path("train:MathR-Distill-7B").write_text("[info] resuming MathR-Distill-7B from checkpoint-900\n{'loss': '0.71', 'global_step/max_steps': '1000/1065'}\n")
    return config


def screen_lines(app: RchainConsole) -> list[str]:
    """The screen as text rows, rebuilt from Textual's SVG export (one <text> per run of cells)."""
    svg = app.export_screenshot()
    width, height = app.size
    grid = [[" "] * width for _ in range(height)]
    for match in re.finditer(r'<text class="[^"]*" x="([\d.]+)" y="[\d.]+" textLength="[\d.]+" clip-path="url\(#[^)]*-line-(\d+)\)">(.*?)</text>', svg):
        col = round(float(match.group(1)) / 12.2)
        row = int(match.group(2))
        text = html.unescape(match.group(3)).replace("\xa0", " ")
        for i, ch in enumerate(text):
            if row < height and col + i < width:
                grid[row][col + i] = ch
    return ["".join(row).rstrip() for row in grid]


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_layout_snapshots(tmp_path: Path, size: tuple[int, int]) -> None:
    config = write_fixed_run(tmp_path)
    app = RchainConsole(resolve_target(config), refresh_s=0.05)
    app.animation_level = "none"  # the tab underline slides: a snapshot must not catch it mid-way
    screens = {}
    async with app.run_test(size=size) as pilot:

        async def settle(after: int) -> None:
            while app.updates < after:
                await pilot.pause(0.05)
            await pilot.pause(0.1)

        await settle(3)
        for key, pane in zip("12345", ("stage", "generate", "filter", "train", "eval"), strict=True):
            await pilot.press(key)
            await settle(app.updates + 2)  # the pane drawn with a snapshot after the switch
            screens[pane] = "\n".join(screen_lines(app)).replace(str(tmp_path), "<TMP>") + "\n"
    width, height = size
    for pane, text in screens.items():
        path = SNAPSHOTS / f"console_{width}x{height}_{pane}.txt"
        if os.environ.get("RCHAIN_UPDATE_SNAPSHOTS") or not path.exists():
            path.parent.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
            continue
        assert text == path.read_text(encoding="utf-8"), f"{path.name} changed; rerun with RCHAIN_UPDATE_SNAPSHOTS=1 if it should have"


async def test_ascii_only_panes_draw_no_unicode(tmp_path: Path) -> None:
    """A terminal without UTF-8 gets ASCII bars, plots and symbols rather than garbage."""
    from rich.console import Console

    config = write_fixed_run(tmp_path)
    app = RchainConsole(resolve_target(config), refresh_s=0.05, ascii_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        while app.updates < 2:
            await pilot.pause(0.05)
        for pane_id in ("generate", "filter", "train", "eval"):
            console = Console(width=118, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
            console.print(app.query_one(f"#{pane_id}").safe_render(app.view))
            text = console.export_text()
            assert text.strip() and text.isascii(), (pane_id, [c for c in text if not c.isascii()][:5])
        statuses = [str(app.query_one("#stages").get_cell(s.id, column)) for s in app.view.stages for column in ("status", "detail")]
        assert all(s.isascii() for s in statuses) and "+ done" in statuses


def test_console_without_a_target_offers_the_demo(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "rchain.tui.app"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 3
    assert "no pipeline.toml here and no run under ./runs" in result.stderr and "rchain-console --demo" in result.stderr
