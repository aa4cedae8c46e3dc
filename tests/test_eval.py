"""The eval stage for real on a CPU: a tiny model trained to always answer `\\boxed{2}` and
`ANSWER: A` is served with `swift deploy` and evaluated by evalscope on real MATH-500 and
GPQA-Diamond rows from ../shared/data, which rchain converts into evalscope's local layout. The
model scores exactly the share of problems whose answer is 2: the scoring path is real.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import orjson
import pytest

from conftest import CPU_SWIFT, NUMINA_ROWS, SHARED_DATA, events_of, free_port, port_open, rchain_cmd
from rchain.config import load_config
from rchain.errors import DataError
from rchain.evaluate import prepare_benchmark, read_results
from rchain.events import EvalProgress, EvalResult
from rchain.runs import RunDir

FIXED_REPLY = "<think>\nfixed\n</think>\n\nThe answer is $\\boxed{2}$.\nANSWER: A"
INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


@pytest.fixture(scope="module")
def fixed_run(tmp_path_factory, tiny_model: Path):
    root = tmp_path_factory.mktemp("eval")
    # Train on NuminaMath prompts (never on the benchmarks), always with the same reply.
    prompts = [json.loads(line)["problem"] for line in NUMINA_ROWS.read_text().splitlines()[:64]]
    (root / "fixed.jsonl").write_text(
        "".join(json.dumps({"messages": [{"role": "user", "content": f"{p}\n{INSTRUCTION}"}, {"role": "assistant", "content": FIXED_REPLY}]}) + "\n" for p in prompts)
    )
    # 3 MATH-500 problems whose answer is 2 and 5 whose answer is not, as the real file has them.
    math = [json.loads(line) for line in (SHARED_DATA / "math500" / "test.jsonl").read_text().splitlines()]
    subset = [r for r in math if r["answer"] == "2"][:3] + [r for r in math if r["answer"] != "2"][:5]
    (root / "math500.jsonl").write_text("".join(json.dumps(r) + "\n" for r in subset))
    # Short questions: a long one derails a 140k-parameter model before it says ANSWER.
    gpqa = [line for line in (SHARED_DATA / "gpqa_diamond" / "gpqa_diamond.jsonl").read_text().split("\n") if line and len(json.loads(line)["Question"]) < 500][:8]
    (root / "gpqa.jsonl").write_text("\n".join(gpqa) + "\n")
    port = free_port()
    config = root / "pipeline.toml"
    config.write_text(
        f"""
[run]
name = "fixed"
[[variants]]
name = "Fixed"
teacher = "none"
model = "{tiny_model}"
dataset = "fixed.jsonl"
nproc_per_node = 1
global_batch = 8
[variants.swift]
{CPU_SWIFT}
per_device_train_batch_size = 8
learning_rate = 5e-3
max_steps = 80
save_steps = 80
logging_steps = 10
split_dataset_ratio = 0
[deploy]
backend = "transformers"
port = {port}
[eval]
repeats = 3
temperature = 0.0
max_tokens = 48
concurrency = 4
baselines = []
[eval.local_paths]
math_500 = "math500.jsonl"
gpqa_diamond = "gpqa.jsonl"
"""
    )
    result = subprocess.run(rchain_cmd("train", str(config)), capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return config, port, subset


def test_eval_deploys_scores_exactly_the_fixed_answer_share_and_stops_the_server(fixed_run) -> None:
    config_path, port, subset = fixed_run
    result = subprocess.run(rchain_cmd("eval", str(config_path)), capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "deploy:Fixed: starting the server..." in result.stderr
    assert not port_open(port)  # the server rchain eval started is stopped again

    run = RunDir(load_config(config_path).run_dir)
    results = {r.benchmark: r for r in read_results(run)}
    math = results["math_500"]
    expected = sum(r["answer"] == "2" for r in subset) / len(subset)
    assert expected == 3 / 8
    assert math.pass1 == expected and math.repeat_accuracies == [expected] * 3 and math.stderr == 0.0
    assert math.pass_at_k == {1: expected, 2: expected, 3: expected} and math.problems == 8 and math.repeats == 3
    levels: dict[str, list[bool]] = {}
    for row in subset:
        levels.setdefault(f"Level {row['level']}", []).append(row["answer"] == "2")
    assert math.by_level == pytest.approx({k: sum(v) / len(v) for k, v in sorted(levels.items())}, abs=1e-4)
    assert math.truncation_rate == 0.0 and math.mean_output_tokens > 10
    assert math.protocol["harness"].startswith("evalscope 1.") and math.protocol["max_tokens"] == 48
    assert math.protocol["example_prompt"].endswith(INSTRUCTION)

    # The parsed numbers are evalscope's own report's.
    work = run.eval_dir("Fixed")
    for bench, parsed in results.items():
        report = orjson.loads((work / "reports" / "Fixed" / f"{bench}.json").read_bytes())
        scores = {(m["identity"]["aggregation"], m["identity"]["dimensions"].get("k")): m["score"] for m in report["metrics"]}
        assert parsed.pass1 == scores[("mean", None)]
        assert parsed.pass_at_k == {k: s for (agg, k), s in scores.items() if agg == "pass_at_k"}

    # GPQA: the model always answers A, so it scores the share of questions whose shuffled
    # correct letter is A, and every extracted prediction is A.
    reviews = [json.loads(line) for f in (work / "reviews" / "Fixed").glob("gpqa_diamond_*.jsonl") for line in f.read_text().splitlines()]
    assert len(reviews) == 8 * 3
    assert {r["sample_score"]["score"]["extracted_prediction"] for r in reviews} == {"A"}
    assert results["gpqa_diamond"].pass1 == pytest.approx(sum(r["target"] == ["A"] or r["target"] == "A" for r in reviews) / len(reviews))

    events = events_of(run, "eval:Fixed", EvalResult)
    assert {(e.benchmark, e.pass1) for e in events} == {(b, r.pass1) for b, r in results.items()}
    progress = [e for e in events_of(run, "eval:Fixed", EvalProgress) if e.benchmark == "math_500"]
    assert progress[-1].done == progress[-1].total == 24 and progress[-1].accuracy == expected

    # What the console's inspector browses: each problem with its 3 answers, right or wrong.
    from rchain.inspect import eval_problems

    problems = [p for p in eval_problems(run, "Fixed") if p.benchmark == "math_500"]
    assert len(problems) == 8 and all(len(p.answers) == 3 for p in problems)
    assert sum(all(a.correct for a in p.answers) for p in problems) == 3
    assert all((p.target == "2") == all(a.correct for a in p.answers) and {a.extracted for a in p.answers} == {"2"} for p in problems)

    status = subprocess.run(rchain_cmd("status", str(run.root)), capture_output=True, text=True)
    assert "Fixed MATH-500: Pass@1 37.5 ± 0.0 | pass@3 37.5" in status.stdout

    report = subprocess.run(rchain_cmd("report", str(run.root)), capture_output=True, text=True)
    assert report.returncode == 0, report.stderr
    assert "| Fixed | 37.5 ± 0.0 | 37.5 | 0.0% |" in report.stdout
    for name in ("report.md", "report.csv", "report.json"):
        assert (run.root / name).is_file()
    assert "MATH-500 Pass@1" in (run.root / "report.csv").read_text().splitlines()[0]


def test_eval_without_a_server_or_a_way_to_start_one_names_the_url(tmp_path: Path) -> None:
    config = tmp_path / "pipeline.toml"
    port = free_port()
    config.write_text(f'[run]\nname = "x"\n[[variants]]\nname = "V"\nteacher = "T"\ndataset = "train.jsonl"\n[deploy]\nport = {port}\n')
    result = subprocess.run(rchain_cmd("start", str(config), "eval:V"), capture_output=True, text=True)
    assert result.returncode == 0
    run = RunDir(tmp_path / "runs" / "x")
    import time

    deadline = time.monotonic() + 60
    while (state := run.read_state("eval:V")) is None or state.status in {"starting", "running"}:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert state.exit_code == 3 and state.reason == f"V is not served at http://127.0.0.1:{port}/v1 (nothing answers)"


def test_dry_run_prints_the_seed_protocol(tmp_path: Path) -> None:
    config = tmp_path / "pipeline.toml"
    subprocess.run(rchain_cmd("init", str(config)), check=True, capture_output=True)
    result = subprocess.run(rchain_cmd("eval", str(config), "--dry-run", "--variant", "MathR-Distill-7B"), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    task = json.loads(result.stdout.split("\n", 1)[1])
    assert task["eval_type"] == "openai_api" and task["datasets"] == ["math_500", "gpqa_diamond"]
    assert task["repeats"] == 5
    assert task["generation_config"] == {"max_tokens": 28000, "temperature": 0.6, "top_p": 0.95}
    assert task["model"] == "MathR-Distill-7B" and task["api_url"] == "http://127.0.0.1:8000/v1"
    assert task["work_dir"] == str(tmp_path / "runs" / "mathr" / "eval" / "MathR-Distill-7B")
    check = subprocess.run(rchain_cmd("check", str(config)), capture_output=True, text=True)
    assert "deploy:Qwen2.5-7B-Instruct -> eval:Qwen2.5-7B-Instruct" in check.stdout  # the baseline
    # The baseline is deployed as it is, under its name, on the port after the two variants'.
    baseline = subprocess.run(rchain_cmd("deploy", str(config), "--model", "Qwen/Qwen2.5-7B-Instruct", "--dry-run"), capture_output=True, text=True)
    assert "--model Qwen/Qwen2.5-7B-Instruct" in baseline.stdout and "--served_model_name Qwen2.5-7B-Instruct" in baseline.stdout
    assert "--port 8002" in baseline.stdout
    unknown = subprocess.run(rchain_cmd("eval", str(config), "--model", "foo/bar", "--dry-run"), capture_output=True, text=True)
    assert unknown.returncode == 3 and "'foo/bar' is neither a variant nor in eval.baselines" in unknown.stderr


def test_benchmark_conversion_names_the_bad_line_and_field(tmp_path: Path) -> None:
    source = tmp_path / "gpqa.jsonl"
    rows = (SHARED_DATA / "gpqa_diamond" / "gpqa_diamond.jsonl").read_text().split("\n")[:3]
    broken = json.loads(rows[1])
    del broken["Incorrect Answer 2"]
    source.write_text("\n".join([rows[0], json.dumps(broken), rows[2]]) + "\n")
    with pytest.raises(DataError, match=rf"{source}:2: missing field 'Incorrect Answer 2'"):
        prepare_benchmark("gpqa_diamond", source, tmp_path / "out")
    count = prepare_benchmark("math_500", SHARED_DATA / "math500" / "test.jsonl", tmp_path / "m", limit=5)
    converted = [json.loads(line) for line in (tmp_path / "m" / "test.jsonl").read_text().splitlines()]
    assert count == 5 and set(converted[0]) == {"problem", "solution", "answer", "subject", "level", "unique_id"}
    assert isinstance(converted[0]["level"], int)
