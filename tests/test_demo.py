"""The offline demo end to end, headless: every stage for real on a CPU with no network."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from pathlib import Path

from conftest import ctrl_c_stops_it, rchain_cmd
from rchain.config import load_config
from rchain.demo import synthetic
from rchain.demo.teacher_server import wrong_answer
from rchain.verify.extract import last_boxed
from rchain.runs import RunDir
from rchain.verify.judge import precheck, settle_here


def test_synthetic_references_agree_with_the_filter_and_cover_every_source() -> None:
    rows = synthetic.problems(per_source=6)
    rng = random.Random(0)
    assert {r["source"] for r in rows} == set(synthetic.SOURCES) and len(rows) == 54
    assert len({r["problem"] for r in rows}) == 54
    for row in rows:
        gold = row["solution"].rsplit("\\boxed{", 1)[-1] if "\\boxed{" in row["solution"] else None
        reply = f"<think>worked</think>\n\n<answer>{row['solution']}</answer>"
        outcome = precheck(row["source"], row["problem"], row["solution"], reply, "stop")
        label, _ = settle_here(outcome)
        # The reference solution itself, given as the reply, is judged correct; proofs are not judged.
        assert label == ("unverifiable" if gold is None else "correct"), (row, outcome)
        if gold is not None:  # and a wrong answer of the teacher server's making is caught
            answer = last_boxed(row["solution"])
            wrong = f"<think>worked</think>\n\n<answer>The final answer is $\\boxed{{{wrong_answer(answer, rng, row['problem'])}}}$.</answer>"
            outcome = precheck(row["source"], row["problem"], row["solution"], wrong, "stop")
            label, _ = settle_here(outcome)
            assert label == "wrong", (row["source"], answer, wrong, outcome)


def test_the_demo_runs_every_stage_resumes_after_ctrl_c_and_fills_the_comparison_table(tmp_path: Path) -> None:
    made = subprocess.run(rchain_cmd("demo", str(tmp_path / "demo")), capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    config_path = tmp_path / "demo" / "pipeline.toml"
    config = load_config(config_path)
    run = RunDir(config.run_dir)
    first = config.variants[0].name
    # Ctrl-C in the middle of the first training: the run stops it (its checkpoint kept) ...
    proc = subprocess.Popen(rchain_cmd("run", str(config_path)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=ctrl_c_stops_it)
    deadline = time.monotonic() + 300
    while not (run.train_dir(first) / "checkpoint-20" / "trainer_state.json").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)  # 20 more steps take about 2 s: stop well inside them
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out[-2000:] + err[-2000:]
    assert run.read_state(f"train:{first}").status == "stopped" and run.read_state("generate").status == "done"
    # ... and running it again skips what is done, resumes the training and finishes.
    result = subprocess.run(rchain_cmd("run", str(config_path)), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "generate: already done, skipped" in result.stderr and "filter: already done, skipped" in result.stderr
    assert f"resuming {first} from checkpoint-" in run.log_path(f"train:{first}").read_text()
    for stage in ["generate", "filter", *(f"{s}:{v.name}" for v in config.variants for s in ("train", "eval"))]:
        assert run.read_state(stage).status == "done", stage
    # Servers were started for their consumers and stopped after them.
    for server in ["teachers", *(f"deploy:{v.name}" for v in config.variants)]:
        assert run.read_state(server).status == "stopped", server
    # Both teachers made mistakes (error rates 15% and 35%) and the filter caught them.
    for teacher in config.teachers:
        labels = [json.loads(line)["label"] for line in run.verdicts_path(teacher.name).read_text().splitlines()]
        assert len(labels) == 54 and "wrong" in labels and "unverifiable" in labels
        clean = run.clean_path(teacher.name).read_text().splitlines()
        assert len(clean) == labels.count("correct")
    # The comparison table, printed at the end and written into the run.
    for variant in config.variants:
        assert f"| {variant.name} |" in result.stdout
    report = json.loads((run.root / "report.json").read_text())
    assert {(r["model"], r["benchmark"]) for r in report} == {(v.name, b) for v in config.variants for b in ("math_500", "gpqa_diamond")}
    assert all(r["repeats"] == 2 and r["problems"] in (6, 8) for r in report)
    # Last, the datasets laid out as they would be published, with cards of the run's counts.
    assert run.read_state("publish").status == "done"
    for teacher in config.teachers:
        card = (run.root / "publish" / teacher.name / "README.md").read_text()
        raw_rows = len(run.raw_path(teacher.name).read_text().splitlines())
        assert f"| raw | {raw_rows:,} |" in card and f"| clean | {len(run.clean_path(teacher.name).read_text().splitlines()):,} |" in card
