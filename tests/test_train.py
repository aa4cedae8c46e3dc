"""Train and deploy for real on a CPU: a tiny Qwen2 model built offline, trained with ms-swift on a
clean subset that rchain's own generate and filter stages made against the local teacher server,
stopped and resumed, then served with `swift deploy` (transformers backend) and asked a question.
"""

from __future__ import annotations

import json
import shlex
import socket
import subprocess
from pathlib import Path

import pytest

from conftest import CPU_SWIFT, NUMINA_ROWS, TeacherServerProcess, events_of, free_port, numina_rows, port_open, rchain_cmd, run_stages
from rchain.config import load_config
from rchain.errors import ExitCode
from rchain.events import GpuSample, Preflight, ServerStatus, TrainProgress
from rchain.records import iter_lines
from rchain.runs import RunDir
from rchain.stages import prepare_run
from rchain.supervisor import Supervisor
from rchain.tools import failure_reason
from rchain.train import SEED_RECIPE, TrainLog, complete_checkpoints, sft_arguments


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory, tiny_model: Path):
    """A run whose generate and filter stages ran for real: 30 NuminaMath problems x 2 samples."""
    root = tmp_path_factory.mktemp("chain")
    (root / "problems.jsonl").write_text("\n".join(numina_rows(30)) + "\n", encoding="utf-8")
    server = TeacherServerProcess("--problems", str(NUMINA_ROWS), "--error-rate", "demo-r1=0.3")
    port = free_port()

    def write(max_steps: int, save_steps: int) -> Path:
        path = root / "pipeline.toml"
        path.write_text(
            f"""
[run]
name = "chain"
[problems]
dataset = "problems.jsonl"
[[teachers]]
name = "MathR"
model = "demo-r1"
base_url = "{server.base_url}"
samples_per_problem = 2
[[variants]]
name = "Tiny"
teacher = "MathR"
model = "{tiny_model}"
nproc_per_node = 1
global_batch = 4
[variants.swift]
{CPU_SWIFT}
per_device_train_batch_size = 4
learning_rate = 1e-3
logging_steps = 1
split_dataset_ratio = 0.1
max_steps = {max_steps}
save_steps = {save_steps}
eval_steps = {save_steps}
[deploy]
backend = "transformers"
port = {port}
ready_timeout_s = 120
""",
            encoding="utf-8",
        )
        return path

    config = write(6, 3)
    try:
        run_stages(config, "generate", "filter")
    finally:
        server.stop()
    yield config, write, port


def test_train_on_the_filtered_clean_subset_reports_real_losses_and_checkpoints(clean_run) -> None:
    config_path, _, _ = clean_run
    run = RunDir(load_config(config_path).run_dir)
    clean = [json.loads(raw) for _, raw in iter_lines(run.clean_path("MathR"))]
    assert 10 < len(clean) < 60  # the filter kept the right replies and dropped the wrong ones

    result = subprocess.run(rchain_cmd("train", str(config_path)), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "pre-flight batch: pass" in result.stdout and "global batch 4 per device x 1 accumulation x 1 GPU(s) = 4" in result.stdout

    [preflight] = events_of(run, "train:Tiny", Preflight)
    levels = {c.name: c.level for c in preflight.checks}
    assert levels == {"batch": "pass", "lengths": "pass", "eos": "pass", "gpus": "warn", "disk": "pass"}
    [gpu] = events_of(run, "train:Tiny", GpuSample)
    assert gpu.gpus == [] and gpu.note.startswith("no GPU")

    progress = events_of(run, "train:Tiny", TrainProgress)
    last = progress[-1]
    assert last.finished and last.step == last.max_steps == 6
    assert last.checkpoints == [3, 6] == [step for step, _ in complete_checkpoints(run.train_dir("Tiny"))]
    # Real losses from ms-swift's log: one per step, a random model starts near ln(1024) = 6.9,
    # and a learning rate of 1e-3 brings it down.
    assert [s for s, _ in last.loss_curve] == [1, 2, 3, 4, 5, 6]
    losses = [loss for _, loss in last.loss_curve]
    assert 5.5 < losses[0] < 7.5 and losses[-1] < losses[0]
    assert [s for s, _ in last.eval_loss_curve] == [3, 6] and last.eval_loss == last.eval_loss_curve[-1][1]
    assert last.token_acc is not None and last.seconds_per_step is not None


def test_stop_writes_the_summary_and_restart_resumes_without_repeated_steps(clean_run, stage_env) -> None:
    config_path, write, _ = clean_run
    write(30, 5)
    config = load_config(config_path)
    run = prepare_run(config)
    output = run.train_dir("Tiny")
    for path in output.glob("checkpoint-*"):
        subprocess.run(["rm", "-rf", str(path)], check=True)
    (output / "logging.jsonl").unlink(missing_ok=True)

    supervisor = Supervisor(run)
    supervisor.start("train:Tiny")
    import time

    deadline = time.monotonic() + 90
    # Stop between checkpoints, so that the steps after checkpoint-10 are trained twice.
    while not (output / "checkpoint-10" / "trainer_state.json").exists() or '"12/30"' not in (output / "logging.jsonl").read_text():
        assert time.monotonic() < deadline and supervisor.is_active("train:Tiny"), run.log_path("train:Tiny").read_text()[-3000:]
        time.sleep(0.05)
    state = supervisor.stop("train:Tiny")
    assert state.status == "stopped"
    # SIGINT first: the trainer wrote its summary line before exiting.
    summary = json.loads(output.joinpath("logging.jsonl").read_text().splitlines()[-1])
    assert summary["last_model_checkpoint"].endswith(tuple(f"checkpoint-{n}" for n in (10, 15, 20, 25)))
    stopped_at = max(step for step, _ in complete_checkpoints(output))
    assert not [p for p in __import__("psutil").process_iter(["cmdline"]) if "swift" in " ".join(p.info["cmdline"] or []) and str(output) in " ".join(p.info["cmdline"] or [])]

    supervisor.start("train:Tiny")
    assert supervisor.wait("train:Tiny", timeout=120) == "done", run.log_path("train:Tiny").read_text()[-3000:]
    log = run.log_path("train:Tiny").read_text()
    assert f"resuming Tiny from checkpoint-{stopped_at}" in log
    assert f"--resume_from_checkpoint {output / f'checkpoint-{stopped_at}'}" in log
    last = events_of(run, "train:Tiny", TrainProgress)[-1]
    assert last.finished and last.step == 30 and last.resumed_from == stopped_at
    steps = [s for s, _ in last.loss_curve]
    assert steps == list(range(1, 31))  # ms-swift logged the steps after the checkpoint twice
    raw_steps = [json.loads(line).get("global_step/max_steps") for line in output.joinpath("logging.jsonl").read_text().splitlines()]
    assert len([s for s in raw_steps if s and s.split("/")[0] == str(stopped_at + 1)]) >= 2


def test_deploy_serves_the_trained_checkpoint_and_stop_frees_the_port(clean_run, stage_env) -> None:
    config_path, _, port = clean_run
    config = load_config(config_path)
    run = prepare_run(config)
    assert complete_checkpoints(run.train_dir("Tiny"))
    supervisor = Supervisor(run)
    supervisor.start("deploy:Tiny")
    try:
        import time

        deadline = time.monotonic() + 120
        while not any(s.status == "ready" for s in events_of(run, "deploy:Tiny", ServerStatus)):
            assert time.monotonic() < deadline and supervisor.is_active("deploy:Tiny"), run.log_path("deploy:Tiny").read_text()[-3000:]
            time.sleep(0.3)
        from openai import OpenAI

        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="EMPTY", max_retries=0, timeout=60)
        reply = client.chat.completions.create(model="Tiny", messages=[{"role": "user", "content": "What is 2 + 3?"}], max_tokens=8)
        assert reply.choices[0].finish_reason in {"stop", "length"} and reply.usage.completion_tokens >= 1
        ready = [s for s in events_of(run, "deploy:Tiny", ServerStatus) if s.status == "ready"][0]
        assert ready.checkpoint.endswith("checkpoint-30") or ready.checkpoint.endswith("checkpoint-6")
    finally:
        state = supervisor.stop("deploy:Tiny")
    assert state.status == "stopped" and not port_open(port)
    assert events_of(run, "deploy:Tiny", ServerStatus)[-1].status == "stopped"


def test_deploy_refuses_a_port_in_use_naming_it(clean_run, stage_env) -> None:
    config_path, _, port = clean_run
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", port))
        busy.listen()
        result = subprocess.run(rchain_cmd("deploy", str(config_path)), capture_output=True, text=True, timeout=60)
    assert result.returncode == ExitCode.CONFLICT, result.stderr
    assert f"deploy.port: {port} on 127.0.0.1 is already in use" in result.stderr


# -- without a model: the command lines and the parsers ---------------------------------------


def test_default_dry_run_is_the_seed_recipe_on_8_gpus_and_swift_knows_every_flag(tmp_path: Path) -> None:
    config = tmp_path / "pipeline.toml"
    subprocess.run(rchain_cmd("init", str(config)), check=True, capture_output=True)
    result = subprocess.run(rchain_cmd("train", str(config), "--dry-run", "--variant", "MathR-Distill-7B"), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    words = shlex.split(result.stdout.replace("\\\n", " "))
    assert words[:3] == ["NPROC_PER_NODE=8", "swift", "sft"]
    flags = words[3:]
    args = dict(zip(flags[0::2], flags[1::2], strict=True))
    assert args == {
        "--model": "Qwen/Qwen2.5-7B-Instruct",
        "--dataset": str(tmp_path / "runs" / "mathr" / "data" / "clean" / "MathR.jsonl"),
        "--output_dir": str(tmp_path / "runs" / "mathr" / "train" / "MathR-Distill-7B"),
        "--add_version": "false",
        "--tuner_type": "full",
        "--torch_dtype": "bfloat16",
        "--num_train_epochs": "5",
        "--per_device_train_batch_size": "1",
        "--per_device_eval_batch_size": "1",
        "--learning_rate": "1e-05",
        "--gradient_accumulation_steps": "16",  # 128 / 8 GPUs / 1 node
        "--eval_steps": "100",
        "--save_steps": "100",
        "--save_total_limit": "10",
        "--logging_steps": "5",
        "--gradient_checkpointing": "true",
        "--gradient_checkpointing_kwargs": '{"use_reentrant": false}',
        "--deepspeed": "zero3",
        "--split_dataset_ratio": "0.01",
    }
    from swift.arguments import DeployArguments, SftArguments
    from transformers import HfArgumentParser

    _, unknown = HfArgumentParser([SftArguments]).parse_known_args(flags)
    assert unknown == []
    _, unknown = HfArgumentParser([SftArguments]).parse_known_args(["--train_type", "full"])
    assert unknown == ["--train_type", "full"]  # the check can fail: 3.x spelling is refused

    deploy = subprocess.run(rchain_cmd("deploy", str(config), "--dry-run", "--variant", "MathR-Distill-7B"), capture_output=True, text=True)
    words = shlex.split(deploy.stdout.replace("\\\n", " "))
    assert words[:2] == ["swift", "deploy"]
    args = dict(zip(words[2::2], words[3::2], strict=True))
    assert args["--infer_backend"] == "vllm" and args["--served_model_name"] == "MathR-Distill-7B"
    assert args["--host"] == "127.0.0.1" and args["--vllm_gpu_memory_utilization"] == "0.9"
    _, unknown = HfArgumentParser([DeployArguments]).parse_known_args(words[2:])
    assert unknown == []


def test_global_batch_arithmetic_over_nodes_and_overrides(tmp_path: Path) -> None:
    config = tmp_path / "pipeline.toml"
    subprocess.run(rchain_cmd("init", str(config)), check=True, capture_output=True)
    text = config.read_text().replace("nproc_per_node = 8\nnnodes = 1\n", 'nproc_per_node = 4\nnnodes = 2\nswift = { per_device_train_batch_size = 2, deepspeed = "" }\n', 1)
    assert text != config.read_text()
    config.write_text(text)
    cfg = load_config(config)
    args = sft_arguments(cfg, cfg.variants[0], RunDir(cfg.run_dir))
    assert args["gradient_accumulation_steps"] == 128 // (2 * 4 * 2) == 8
    assert "deepspeed" not in args and args["per_device_train_batch_size"] == 2
    assert set(SEED_RECIPE) - {"deepspeed"} <= set(args)


def test_train_log_reads_both_speed_spellings_and_keeps_the_last_record_of_a_step(tmp_path: Path) -> None:
    path = tmp_path / "logging.jsonl"
    lines = [
        {"loss": 6.9, "learning_rate": 1e-3, "epoch": 0.1, "global_step/max_steps": "1/40", "elapsed_time": "1m 2s", "remaining_time": "1h 3m 4s", "train_speed(s/it)": 0.5},
        {"loss": 6.8, "epoch": 0.2, "global_step/max_steps": "2/40", "train_speed(s/it)": 0.5},
        {"eval_loss": 6.7, "global_step/max_steps": "2/40"},
        {"loss": 6.6, "epoch": 0.3, "global_step/max_steps": "3/40", "train_speed(iter/s)": 4.0},
        {"last_model_checkpoint": "/x/checkpoint-2", "global_step": 3},
        # resumed from checkpoint-2 with a new max: step 3 again, then on
        {"loss": 6.5, "epoch": 0.3, "global_step/max_steps": "3/10", "train_speed(iter/s)": 4.0},
    ]
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in lines[:2]) + b'{"loss": 6.')
    log = TrainLog(path)
    assert log.poll()
    first = log.snapshot("V", [], 0)
    assert first.step == 2 and first.elapsed_s is None and [s for s, _ in first.loss_curve] == [1, 2]
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in lines))
    log = TrainLog(path)
    log.poll()
    snap = log.snapshot("V", [2], 2)
    assert snap.loss_curve == [(1, 6.9), (2, 6.8), (3, 6.5)] and snap.max_steps == 10
    assert snap.seconds_per_step == 0.25 and snap.eval_loss_curve == [(2, 6.7)]
    assert snap.finished  # no attempt marked: every summary counts
    first_line = TrainLog(path)
    first_line.poll()
    first_line.latest = lines[0]
    assert first_line.snapshot("V", [], 0).remaining_s == 3784.0


def test_failure_reasons_from_real_shaped_tool_output() -> None:
    assert failure_reason(["Traceback (most recent call last):", "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"]) == "out of GPU memory"
    assert failure_reason(["ValueError: remaining_argv: ['--train_type', 'full']"]) == "ms-swift does not know the argument(s) ['--train_type', 'full']"
    assert "NCCL error" in failure_reason(["RuntimeError: NCCL error in: ProcessGroupNCCL.cpp:1970, unhandled system error"])
    assert failure_reason(["x", "KeyError: 'messages'", ""]) == "KeyError: 'messages'"


def test_eos_check_fails_when_the_turn_end_is_not_a_stop_token(tiny_model: Path, tmp_path: Path) -> None:
    import shutil

    from rchain.config import Variant
    from rchain.train import _check_eos

    assert _check_eos(Variant(name="V", teacher="T", model=str(tiny_model))).level == "pass"
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    for name in ("tokenizer_config.json", "generation_config.json"):
        data = json.loads((broken / name).read_text())
        if name == "tokenizer_config.json":
            data["eos_token"] = "<|endoftext|>"
        else:
            data["eos_token_id"] = 0
        (broken / name).write_text(json.dumps(data))
    check = _check_eos(Variant(name="V", teacher="T", model=str(broken)))
    assert check.level == "fail" and "<|im_end|>" in check.text and "<|endoftext|>" in check.text
