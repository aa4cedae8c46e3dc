"""Console speed and memory on a big run: 1,000,000 raw records and verdicts by default.

    .venv/bin/python scripts/bench_console.py [--records N] [--dir PATH] [--reply-bytes B]

Measures, in one headless console (Textual's run_test, so what is timed is the app's own work):
  - first full screen: from creating the app to the stage list and panes drawn from the run;
  - RSS of the process with the inspector's index built (the whole 1M-record run);
  - next inspector sample: the time for `n` to show the next sample, mean and worst of 200;
  - key latency while a stage appends 500 events/s (100x what a generate stage writes): a pane
    switch pressed until drawn, mean and worst of 50;
  - idle cost: CPU time per wall second while watching a run where nothing happens.
Side by side, the baseline is what a straightforward inspector does: read every record into a
list of dicts (time and memory to open the dataset), against rchain's offset index.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import orjson
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rchain.events import EventWriter, FilterProgress, GenerateProgress, StageFinished, StageStarted  # noqa: E402
from rchain.runs import RunDir, StageState  # noqa: E402

SOURCES = ("amc_aime", "math", "gsm8k", "olympiads", "cn_k12", "synthetic_math", "synthetic_amc", "aops_forum", "orca_math")
CONFIG = """[run]
name = "big"
[[teachers]]
name = "MathR"
model = "deepseek-reasoner"
base_url = "http://127.0.0.1:9/v1"
"""


def write_run(root: Path, records: int, reply_bytes: int) -> RunDir:
    run = RunDir(root / "runs" / "big")
    marker = run.root / ".complete"
    if marker.exists() and marker.read_text() == f"{records} {reply_bytes}":
        return run
    run.root.mkdir(parents=True, exist_ok=True)
    (root / "pipeline.toml").write_text(CONFIG)
    (run.root / "pipeline.toml").write_text(CONFIG)
    think = ("Let me think about this step by step. " * (reply_bytes // 38 + 1))[:reply_bytes]
    raw_path, verdict_path = run.raw_path("MathR"), run.verdicts_path("MathR")
    raw_path.parent.mkdir(parents=True, exist_ok=True)
    verdict_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(raw_path, "wb") as raw, open(verdict_path, "wb") as verdicts:
        for i in range(records):
            uid, pid, source = f"{i:016x}:MathR:0", f"{i:016x}", SOURCES[i % 9]
            label = "correct" if i % 3 else ("wrong" if i % 2 else "malformed")
            assistant = f"<think>{think}</think>\n\n<answer>The final answer is $\\boxed{{{i % 97}}}$.</answer>"
            raw.write(orjson.dumps({"uid": uid, "id": pid, "source": source, "problem": f"Problem {i}: compute {i} mod 97.", "solution": f"$\\boxed{{{i % 97}}}$", "messages": [{"role": "user", "content": f"Problem {i}"}, {"role": "assistant", "content": assistant}], "teacher": "MathR", "finish_reason": "stop"}) + b"\n")
            verdicts.write(orjson.dumps({"uid": uid, "id": pid, "teacher": "MathR", "source": source, "label": label, "reason": "exact_match" if label == "correct" else "numeric_mismatch", "gold": str(i % 97), "predicted": str(i % 97)}) + b"\n")
    for stage, events in (
        ("generate", [GenerateProgress(teacher="MathR", done=records, total=records)]),
        ("filter", [FilterProgress(teacher="MathR", judged=records, total=records, by_source={s: {"correct": records // 9} for s in SOURCES})]),
    ):
        writer = EventWriter(run.events_path(stage), stage)
        writer.emit(StageStarted(pid=1))
        for event in events:
            writer.emit(event)
        writer.emit(StageFinished(status="done", exit_code=0))
        writer.close()
        run.write_state(StageState(stage=stage, status="done", argv=["x"], started_at=1.0, ended_at=2.0, host="bench", pid=1, exit_code=0))
    marker.write_text(f"{records} {reply_bytes}")
    print(f"wrote {records:,} records in {time.monotonic() - started:.0f}s: raw {raw_path.stat().st_size / 1e9:.2f} GB", file=sys.stderr)
    return run


#: A stage emitting snapshots at RATE events per second, as a stage does (with its checkpoint);
#: real stages emit a few per second per teacher, so this is far above what any run produces.
EVENT_WRITER = """
import os, sys, time
from rchain.events import EventWriter, GenerateProgress, StageStarted
from rchain.runs import RunDir, StageState, ViewCheckpoint
run, rate = RunDir(sys.argv[1]), float(sys.argv[2])
run.stage_dir("generate:live").mkdir(parents=True, exist_ok=True)
run.write_state(StageState(stage="generate:live", status="running", argv=["x"], started_at=time.time(), host="bench", pid=os.getpid()))
checkpoint = ViewCheckpoint(run, "generate:live")
w = EventWriter(run.events_path("generate:live"), "generate:live", observer=checkpoint.observe)
w.emit(StageStarted(pid=os.getpid()))
i, start = 0, time.monotonic()
while True:
    i += 1
    w.emit(GenerateProgress(teacher=f"Live{i % 4}", done=i, total=10**9, in_flight=64))
    delay = start + i / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
"""
EVENT_RATE = 500.0


async def measure(root: Path, run: RunDir) -> dict[str, float]:
    from rchain.tui.app import RchainConsole
    from rchain.tui.screens import InspectorScreen
    from rchain.workspace import resolve_target

    process = psutil.Process()
    out: dict[str, float] = {}
    started = time.perf_counter()
    app = RchainConsole(resolve_target(root / "pipeline.toml"), refresh_s=1.0)
    app.animation_level = "none"
    async with app.run_test(size=(120, 40)) as pilot:
        while app.updates < 1:
            await pilot.pause(0.01)
        await pilot.pause(0)
        out["first_screen_s"] = time.perf_counter() - started

        # Idle: nothing changes in the run.
        cpu0, wall0 = process.cpu_times(), time.perf_counter()
        await asyncio.sleep(10)
        cpu1 = process.cpu_times()
        out["idle_cpu_share"] = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / (time.perf_counter() - wall0)

        # Key latency while a stage appends events as fast as it can.
        writer = subprocess.Popen([sys.executable, "-c", EVENT_WRITER, str(run.root), str(EVENT_RATE)], env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            await asyncio.sleep(2)
            latencies, idle_keys = [], []
            for i in range(50):
                t0 = time.perf_counter()
                await pilot.press("2" if i % 2 == 0 else "3")
                await pilot.pause(0)
                latencies.append(time.perf_counter() - t0)
                idle_keys.append(await _unbound_key(pilot))
            out["key_latency_mean_s"] = statistics.fmean(latencies)
            out["key_latency_max_s"] = max(latencies)
            out["key_unbound_mean_s"] = statistics.fmean(idle_keys)
        finally:
            writer.kill()
            writer.wait()

        # Inspector over the whole dataset.
        t0 = time.perf_counter()
        await pilot.press("i")
        while not isinstance(app.screen, InspectorScreen) or app.screen.position is None:
            await pilot.pause(0.05)
        out["inspector_open_s"] = time.perf_counter() - t0
        gc.collect()
        out["rss_mb"] = process.memory_info().rss / 2**20
        steps, idle_keys = [], []
        for _ in range(200):
            before = app.screen.position
            t0 = time.perf_counter()
            await pilot.press("n")
            await pilot.pause(0)
            steps.append(time.perf_counter() - t0)
            assert app.screen.position == before + 1
            idle_keys.append(await _unbound_key(pilot))
        out["next_sample_mean_s"] = statistics.fmean(steps)
        out["next_sample_max_s"] = max(steps)
        out["next_unbound_mean_s"] = statistics.fmean(idle_keys)
        await pilot.press("escape", "q")
    return out


async def _unbound_key(pilot) -> float:
    """The harness's own cost of a key press and a screen update: a key bound to nothing."""
    t0 = time.perf_counter()
    await pilot.press("z")
    await pilot.pause(0)
    return time.perf_counter() - t0


def naive_open(run: RunDir) -> dict[str, float]:
    """The baseline inspector: every record decoded into memory, verdicts joined by uid."""
    process = psutil.Process()
    rss0 = process.memory_info().rss
    t0 = time.perf_counter()
    records = [json.loads(line) for line in open(run.raw_path("MathR"), encoding="utf-8")]
    verdicts = {v["uid"]: v for v in (json.loads(line) for line in open(run.verdicts_path("MathR"), encoding="utf-8"))}
    elapsed = time.perf_counter() - t0
    rss = (process.memory_info().rss - rss0) / 2**20
    assert len(records) == len(verdicts)
    return {"open_s": elapsed, "extra_rss_mb": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--reply-bytes", type=int, default=600, help="size of each reply's think text")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/rchain-bench-console"))
    args = parser.parse_args()
    run = write_run(args.dir, args.records, args.reply_bytes)
    rss_before = psutil.Process().memory_info().rss / 2**20
    ours = asyncio.run(measure(args.dir, run))
    print(f"console on {args.records:,} records ({run.raw_path('MathR').stat().st_size / 1e9:.2f} GB raw), process RSS before the app {rss_before:.0f} MB")
    rows = [
        ("first full screen", f"{ours['first_screen_s']:.2f} s", "< 2 s"),
        ("RSS with the inspector index", f"{ours['rss_mb']:.0f} MB", "< 300 MB"),
        ("next inspector sample (mean / worst)", f"{1000 * ours['next_sample_mean_s']:.1f} / {1000 * ours['next_sample_max_s']:.1f} ms", "< 50 ms"),
        ("  the same harness, a key bound to nothing (mean)", f"{1000 * ours['next_unbound_mean_s']:.1f} ms", ""),
        ("  so the console's own part (mean)", f"{1000 * (ours['next_sample_mean_s'] - ours['next_unbound_mean_s']):.1f} ms", "< 50 ms"),
        (f"key to screen, a stage writing {EVENT_RATE:.0f} events/s (mean / worst)", f"{1000 * ours['key_latency_mean_s']:.1f} / {1000 * ours['key_latency_max_s']:.1f} ms", "< 100 ms"),
        ("  the same harness, a key bound to nothing (mean)", f"{1000 * ours['key_unbound_mean_s']:.1f} ms", ""),
        ("  so the console's own part (mean)", f"{1000 * (ours['key_latency_mean_s'] - ours['key_unbound_mean_s']):.1f} ms", "< 100 ms"),
        ("watching an idle run", f"{100 * ours['idle_cpu_share']:.1f}% of a core", "< 5%"),
        ("opening the inspector (index build)", f"{ours['inspector_open_s']:.1f} s", "in a worker"),
    ]
    for name, value, target in rows:
        print(f"  {name:<62} {value:>18}   {'target ' + target if target else ''}")
    base = naive_open(run)
    print("inspector: rchain's offset index vs reading every record into memory (the baseline)")
    print(f"  open: {ours['inspector_open_s']:.1f} s vs {base['open_s']:.1f} s  ({base['open_s'] / ours['inspector_open_s']:.1f}x)")
    print(f"  memory: whole process {ours['rss_mb']:.0f} MB vs the baseline's records alone {base['extra_rss_mb']:.0f} MB ({base['extra_rss_mb'] / ours['rss_mb']:.1f}x)")


if __name__ == "__main__":
    main()
