"""Filter throughput: rchain's filter stage against the naive math-verify loop, side by side.

    .venv/bin/python scripts/bench_filter.py [--copies 10]

Input: the real DeepSeek-R1 replies in ../shared/data/r1_responses (MATH-500 and GSM8K, in the
toolkit's `<think>...</think>\\n\\n<answer>...</answer>` format), repeated `--copies` times with
fresh uids. Both sides judge the same replies:

* naive:  `verify(parse(solution), parse(reply))` for each reply in one process, the way
          math-verify is usually first used;
* rchain: the real filter stage process (`python -m rchain.stage_process ... filter`), using
          every core, writing verdicts and the clean subset.

Prints the median replies/s of each over several rounds, taken in turns, and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "r1_responses" / "deepseek_r1_cohere_reasoning_v5.jsonl"


def load_replies(copies: int) -> list[dict]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").split("\n") if line.strip()]
    records = []
    for copy in range(copies):
        for index, row in enumerate(rows):
            raw, end, start = row["response_raw"], int(row["reasoning_end"]), int(row["content_start"])
            assistant = f"<think>{raw[:end]}</think>\n\n<answer>{raw[start:]}</answer>"
            source = "math" if row["benchmark"] == "math500" else "gsm8k"
            solution = (row["gold_solution"] if source == "gsm8k" else None) or f"$\\boxed{{{row['gold_answer']}}}$"
            records.append({
                "uid": f"{index}:{copy}", "id": row["id"], "source": source, "problem": row["problem"],
                "solution": solution, "finish_reason": "stop",
                "messages": [{"role": "user", "content": row["problem"]}, {"role": "assistant", "content": assistant}],
            })
    return records


def naive(records: list[dict]) -> float:
    from math_verify import parse, verify

    started = time.monotonic()
    for record in records:
        verify(parse(record["solution"]), parse(record["messages"][-1]["content"]))
    return time.monotonic() - started


def naive_in_a_fresh_process(copies: int, sample: int) -> float:
    """The naive loop's time in a new process, as the stage gets one: sympy's caches would make a
    second pass over the same replies in one process faster than any first pass."""
    out = subprocess.run([sys.executable, __file__, "--copies", str(copies), "--naive-sample", str(sample), "--naive-only"],
                         capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def rchain(records: list[dict], workdir: Path) -> float:
    run = workdir / "run"
    (run / "data" / "raw").mkdir(parents=True)
    (run / "data" / "raw" / "R1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    config = workdir / "pipeline.toml"
    config.write_text(f'[run]\nname = "bench"\ndir = "{run}"\n')
    from rchain.config import load_config
    from rchain.stages import prepare_run

    prepare_run(load_config(config))
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "rchain.stage_process", str(run), "filter"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True)
    elapsed = time.monotonic() - started
    verdicts = (run / "data" / "verdicts" / "R1.jsonl").read_text().count("\n")
    assert verdicts == len(records), (verdicts, len(records))
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--naive-sample", type=int, default=1500, help="replies the (slow) naive loop judges")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of both sides, one after the other; medians are compared")
    parser.add_argument("--naive-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    records = load_replies(args.copies)
    sample = records[: args.naive_sample]
    if args.naive_only:
        print(naive(sample))
        return
    naive_rates, rchain_rates = [], []
    # Both sides take turns, so that a busy spell on a shared machine falls on both.
    for _ in range(args.rounds):
        naive_rates.append(len(sample) / naive_in_a_fresh_process(args.copies, args.naive_sample))
        with tempfile.TemporaryDirectory() as tmp:
            rchain_rates.append(len(records) / rchain(records, Path(tmp)))
    naive_rate, rchain_rate = statistics.median(naive_rates), statistics.median(rchain_rates)
    print(f"cores: {os.cpu_count()}, rounds: {args.rounds} (medians; each round's ratio in brackets)")
    print(f"naive math-verify loop: {len(sample):>6,} replies, {naive_rate:8.1f} replies/s (one process)")
    print(f"rchain filter stage:    {len(records):>6,} replies, {rchain_rate:8.1f} replies/s (process start-up included)")
    rounds = ", ".join(f"{r / n:.1f}x" for n, r in zip(naive_rates, rchain_rates))
    print(f"ratio: {rchain_rate / naive_rate:.1f}x [{rounds}]")


if __name__ == "__main__":
    main()
