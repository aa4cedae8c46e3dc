"""The headless CLI, run as a person would: in a subprocess, reading stdout, stderr and exit codes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import ctrl_c_stops_it, rchain_cmd
from rchain.errors import ExitCode
from rchain.runs import RunDir


def rchain(*args: str, cwd: Path | None = None, env=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(rchain_cmd(*args), capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def test_help_is_fast_because_nothing_heavy_is_imported() -> None:
    code = "import sys; import rchain.cli; print(sorted(m for m in sys.modules if m.split('.')[0] in {'pydantic','textual','openai','datasets','modelscope','sympy','math_verify','rich','psutil','msgspec'}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    result = rchain("--help")
    assert result.returncode == 0
    for command in ("init", "check", "run", "generate", "filter", "train", "deploy", "eval", "publish", "start", "status", "stop", "logs"):
        assert f"  {command}" in result.stdout
    assert "130  interrupted" in result.stdout


def test_init_check_status_round_trip(tmp_path: Path) -> None:
    result = rchain("init", "x.toml", cwd=tmp_path)
    assert result.returncode == 0 and (tmp_path / "x.toml").is_file()
    again = rchain("init", "x.toml", cwd=tmp_path)
    assert again.returncode == ExitCode.CONFLICT and "already exists" in again.stderr

    check = rchain("check", "x.toml", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert "teacher    MathR: deepseek-reasoner" in check.stdout
    assert "stages     generate -> filter -> train:MathR-Distill-7B" in check.stdout

    status = rchain("status", "x.toml", "--json", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    view = json.loads(status.stdout)
    assert view["name"] == "mathr"
    assert [s["status"] for s in view["stages"]] == ["pending"] * 10
    # With no argument, status finds ./pipeline.toml.
    (tmp_path / "x.toml").rename(tmp_path / "pipeline.toml")
    plain = rchain("status", cwd=tmp_path)
    assert plain.returncode == 0 and "pending" in plain.stdout and "eval:MathR-Distill-7B" in plain.stdout


def test_run_stops_at_the_first_failing_stage_and_names_it(config_file: Path) -> None:
    result = rchain("run", str(config_file))  # its problems file does not exist
    assert result.returncode == ExitCode.STAGE_FAILED
    problems = config_file.parent / "problems.jsonl"
    assert result.stderr.startswith(f"error: stage generate failed: problems.dataset: {problems}: no such file")
    assert "generate: failed" in result.stdout  # plain progress lines when stdout is not a terminal
    run_dir = config_file.parent / "runs" / "t"
    status = json.loads(rchain("status", str(run_dir), "--json").stdout)
    assert {s["id"]: s["status"] for s in status["stages"]}["generate"] == "failed"
    assert {s["id"]: s["status"] for s in status["stages"]}["filter"] == "pending"
    assert (run_dir / "pipeline.toml").is_file()


def test_start_status_logs_stop_through_the_cli(config_file: Path, stage_env) -> None:
    from rchain.config import load_config
    from rchain.stages import prepare_run
    from rchain.supervisor import Supervisor

    run = prepare_run(load_config(config_file))
    Supervisor(run).start("generate", entry="stage_fixtures:sleep_stage")
    deadline = time.monotonic() + 20
    while "running" not in rchain("status", str(run.root)).stdout:
        assert time.monotonic() < deadline
        time.sleep(0.1)

    again = rchain("start", str(config_file), "generate")
    assert again.returncode == ExitCode.CONFLICT and "already running" in again.stderr
    unknown = rchain("start", str(config_file), "nonsense")
    assert unknown.returncode == ExitCode.NOT_FOUND and "no stage 'nonsense'" in unknown.stderr

    logs = rchain("logs", str(run.root), "generate")
    assert logs.returncode == 0 and "=== rchain: generate started" in logs.stdout

    stop = rchain("stop", str(config_file), "generate", "--grace", "5")
    assert stop.returncode == 0 and stop.stdout.startswith("generate stopped")
    not_running = rchain("stop", str(config_file), "generate")
    assert "generate is not running (stopped)" in not_running.stderr
    status = json.loads(rchain("status", str(run.root), "--json").stdout)
    assert {s["id"]: s["status"] for s in status["stages"]}["generate"] == "stopped"


def test_foreground_stage_streams_its_log_and_ctrl_c_stops_it(config_file: Path, stage_env) -> None:
    """`rchain generate` runs the stage as a managed process; Ctrl-C in the terminal stops it."""
    run = RunDir(config_file.parent / "runs" / "t")
    proc = subprocess.Popen(rchain_cmd("train", str(config_file)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=60)
    # Nothing was generated or filtered yet: the stage names the file it needs, exit 3.
    assert proc.returncode == ExitCode.NOT_FOUND, out + err
    clean = run.clean_path("MathR")
    assert "=== rchain: train:V started" in out and f"error: {clean}: no clean subset of teacher 'MathR' to train on" in out
    assert err.startswith(f"error: stage train:V failed: {clean}: no clean subset")
    assert run.read_state("train:V").status == "failed"
    stub = subprocess.run(rchain_cmd("publish", str(config_file), "--entry", "rchain.stages:not_built"), capture_output=True, text=True, timeout=60)
    assert stub.returncode == ExitCode.NOT_BUILT and "the publish stage is not built yet" in stub.stderr


def test_sigint_to_a_foreground_stage_stops_it(config_file: Path, stage_env) -> None:
    proc = subprocess.Popen(
        rchain_cmd("generate", str(config_file), "--entry", "stage_fixtures:sleep_stage"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ctrl_c_stops_it,
    )
    run = RunDir(config_file.parent / "runs" / "t")
    deadline = time.monotonic() + 30
    while (state := run.read_state("generate")) is None or state.status != "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == ExitCode.INTERRUPTED, err
    assert "stopping generate" in err
    assert run.read_state("generate").status == "stopped"
