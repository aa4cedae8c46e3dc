"""The generate stage for real: real HTTP against the local teacher server, real processes,
real NuminaMath rows from ../shared/data, SIGKILL and resume."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path


from conftest import NUMINA_ROWS, numina_rows, rchain_cmd
from rchain.config import load_config
from rchain.errors import ExitCode
from rchain.records import iter_lines
from rchain.runs import RunDir, RunWatcher
from rchain.stages import prepare_run
from rchain.supervisor import Supervisor

FAULTS = ("--fault", "429=0.10", "--fault", "500=0.05", "--fault", "drop=0.05", "--fault", "empty=0.02")
ASSISTANT = re.compile(r"\A<think>(.*)</think>\n\n<answer>(.*)</answer>\Z", re.S)


def write_config(tmp_path: Path, base_url: str, *, problems: int, samples: int = 2, extra: str = "", concurrency: int = 16) -> Path:
    (tmp_path / "problems.jsonl").write_text("\n".join(numina_rows(problems)) + "\n", encoding="utf-8")
    config = tmp_path / "pipeline.toml"
    config.write_text(
        f"""
[run]
name = "gen"
[problems]
dataset = "problems.jsonl"
[[teachers]]
name = "MathR"
model = "demo-r1"
base_url = "{base_url}"
concurrency = {concurrency}
samples_per_problem = {samples}
max_attempts = 30
retry_base_s = 0.05
retry_max_s = 0.3
stall_timeout_s = 5
{extra}
""",
        encoding="utf-8",
    )
    return config


def read_raw(path: Path) -> list[dict]:
    """Every line must parse: the file is read strictly, line by line."""
    return [json.loads(raw) for _, raw in iter_lines(path)]


def test_generate_completes_every_reply_through_faults_and_three_sigkills(tmp_path: Path, teacher_server_factory) -> None:
    server = teacher_server_factory("--problems", str(NUMINA_ROWS), "--rate", "150", "--reasoning-tokens", "80", "--retry-after", "0.2", *FAULTS)
    config_path = write_config(tmp_path, server.base_url, problems=60, samples=2)
    config = load_config(config_path)
    run = prepare_run(config)
    raw_path = run.raw_path("MathR")
    supervisor = Supervisor(run)
    seen_before_kills: list[set[str]] = []
    for kill in range(3):
        supervisor.start("generate")
        deadline = time.monotonic() + 60
        target = 12 * (kill + 1)  # kill once a few more replies have landed than last time
        while not raw_path.exists() or sum(1 for _ in iter_lines(raw_path)) < target:
            assert time.monotonic() < deadline, "no progress"
            assert supervisor.status("generate") in ("starting", "running"), run.log_path("generate").read_text()
            time.sleep(0.05)
        os.killpg(run.read_state("generate").pid, signal.SIGKILL)
        supervisor.wait("generate", timeout=10)
        assert supervisor.status("generate") == "crashed"
        seen_before_kills.append({r["uid"] for r in read_raw(raw_path)})
    supervisor.start("generate")
    assert supervisor.wait("generate", timeout=120) == "done", run.log_path("generate").read_text()

    records = read_raw(raw_path)
    uids = [r["uid"] for r in records]
    assert len(uids) == len(set(uids)) == 120  # every problem x sample, no duplicate
    for seen in seen_before_kills:
        assert seen <= set(uids)  # no finished reply lost
    assert raw_path.read_bytes().endswith(b"\n")
    stats = server.stats()
    for fault in ("fault_429", "fault_500", "fault_drop", "fault_empty"):
        assert stats.get(fault, 0) > 0, stats
    for record in records:
        system, user, assistant = record["messages"]
        assert system["role"] == "system" and "<think> </think> and <answer> </answer>" in system["content"]
        assert user == {"role": "user", "content": record["problem"] + "\nPlease reason step by step, and put your final answer within \\boxed{}."}
        match = ASSISTANT.match(assistant["content"])
        assert match and match.group(1).startswith("Let me work through this.") and "\\boxed{" in match.group(2)
        assert record["finish_reason"] == "stop" and record["flags"] == []
        assert record["usage"]["reasoning_tokens"] > 0 and record["usage"]["reported"]
    assert max(r["attempts"] for r in records) > 1  # retries really happened
    progress = RunWatcher(run, ["generate"]).snapshot().stage("generate").snapshots["generate_progress:MathR"]
    assert (progress.done, progress.total, progress.failed) == (120, 120, 0)
    assert progress.resumed > 0 and sum(progress.retries.values()) > 0
    log = run.log_path("generate").read_text()
    assert "resuming," in log and "cut a torn last line" in log or "resuming," in log


def test_sigterm_stops_within_seconds_keeping_finished_replies(tmp_path: Path, teacher_server_factory) -> None:
    server = teacher_server_factory("--rate", "20", "--reasoning-tokens", "200")  # slow: ~10 s a reply
    config_path = write_config(tmp_path, server.base_url, problems=40, samples=1, concurrency=4)
    run = prepare_run(load_config(config_path))
    supervisor = Supervisor(run)
    supervisor.start("generate")
    deadline = time.monotonic() + 30
    while supervisor.status("generate") != "running" or server.stats().get("requests", 0) < 4:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    started = time.monotonic()
    state = supervisor.stop("generate", grace=15)
    assert time.monotonic() - started < 6
    assert state.status == "stopped" and "stopped" in state.reason
    records = read_raw(run.raw_path("MathR"))  # whatever landed parses, line by line
    assert len(records) < 40
    supervisor.start("generate")  # resumes and asks only for the rest
    deadline = time.monotonic() + 20
    while server.stats()["requests"] < 4 + 4:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    supervisor.stop("generate", grace=15)


def test_failed_requests_are_recorded_and_retried_on_the_next_start(tmp_path: Path, teacher_server_factory) -> None:
    server = teacher_server_factory("--fault", "500=0.5")
    config_path = write_config(tmp_path, server.base_url, problems=20, samples=1, extra="", concurrency=4)
    text = config_path.read_text().replace("max_attempts = 30", "max_attempts = 1")
    config_path.write_text(text)
    result = subprocess.run(rchain_cmd("generate", str(config_path)), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    run = RunDir(tmp_path / "runs" / "gen")
    failures = [json.loads(raw) for _, raw in iter_lines(run.failures_path("MathR"))]
    done = read_raw(run.raw_path("MathR"))
    assert failures and len(done) + len(failures) == 20
    assert {f["cause"] for f in failures} == {"http_5xx"} and all(f["attempts"] == 1 for f in failures)
    assert "requests failed after 1 attempts" in result.stdout
    config_path.write_text(text.replace("max_attempts = 1", "max_attempts = 40"))
    again = subprocess.run(rchain_cmd("generate", str(config_path)), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0
    assert sorted(r["uid"] for r in read_raw(run.raw_path("MathR"))) == sorted([r["uid"] for r in done] + [f["uid"] for f in failures])


def test_missing_key_and_refused_key_fail_with_the_variable_named(tmp_path: Path, teacher_server_factory, monkeypatch) -> None:
    monkeypatch.setenv("SERVER_KEY", "sk-server-side-key-0123456789")
    server = teacher_server_factory("--api-key-env", "SERVER_KEY", env=dict(os.environ))
    config_path = write_config(tmp_path, server.base_url, problems=3, samples=1, extra='api_key_env = "RCHAIN_TEST_TEACHER_KEY"')
    monkeypatch.delenv("RCHAIN_TEST_TEACHER_KEY", raising=False)
    missing = subprocess.run(rchain_cmd("generate", str(config_path)), capture_output=True, text=True, timeout=60)
    assert missing.returncode == ExitCode.USAGE
    assert "environment variable RCHAIN_TEST_TEACHER_KEY is not set" in missing.stderr
    monkeypatch.setenv("RCHAIN_TEST_TEACHER_KEY", "sk-wrong-key-abcdefghijklmnop")
    refused = subprocess.run(rchain_cmd("generate", str(config_path)), capture_output=True, text=True, timeout=60)
    assert refused.returncode == ExitCode.STAGE_FAILED
    assert "teacher MathR: the API refused the key (HTTP 401); check $RCHAIN_TEST_TEACHER_KEY" in refused.stderr
    assert server.stats().get("requests", 0) == 0  # refused at pre-flight, before any chat request
    monkeypatch.setenv("RCHAIN_TEST_TEACHER_KEY", "sk-server-side-key-0123456789")
    ok = subprocess.run(rchain_cmd("generate", str(config_path)), capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    for path in (tmp_path / "runs").rglob("*"):
        if path.is_file():
            assert b"sk-server-side-key" not in path.read_bytes() and b"sk-wrong-key" not in path.read_bytes()


def test_unreachable_teacher_fails_at_preflight_naming_the_url(tmp_path: Path) -> None:
    config_path = write_config(tmp_path, "http://127.0.0.1:9/v1", problems=2, samples=1)
    result = subprocess.run(rchain_cmd("generate", str(config_path)), capture_output=True, text=True, timeout=120)
    assert result.returncode == ExitCode.STAGE_FAILED
    assert "teacher MathR: cannot reach http://127.0.0.1:9/v1" in result.stderr


def test_a_model_the_server_does_not_list_is_warned_about(tmp_path: Path, teacher_server_factory) -> None:
    server = teacher_server_factory()
    config_path = write_config(tmp_path, server.base_url, problems=2, samples=1)
    config_path.write_text(config_path.read_text().replace('model = "demo-r1"', 'model = "mystery-model"'))
    result = subprocess.run(rchain_cmd("generate", str(config_path)), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "does not list model 'mystery-model'" in result.stdout
    assert len(read_raw(RunDir(tmp_path / "runs" / "gen").raw_path("MathR"))) == 2


def test_rchain_run_generates_filters_then_stops_at_train_preflight_without_gpus(tmp_path: Path, teacher_server_factory) -> None:
    server = teacher_server_factory("--problems", str(NUMINA_ROWS), "--error-rate", "demo-r1=0.3", "--fault", "429=0.1")
    config_path = write_config(tmp_path, server.base_url, problems=20, samples=2, extra='[[variants]]\nname = "V"\nteacher = "MathR"\n')
    result = subprocess.run(rchain_cmd("run", str(config_path)), capture_output=True, text=True, timeout=180)
    # The default variant asks for 8 GPUs; this machine has none, and pre-flight says so.
    assert result.returncode == ExitCode.STAGE_FAILED, result.stdout + result.stderr
    # (A 7B checkpoint with optimizer state is about 106 GB: the disk check may fail too.)
    assert re.match(r"error: stage train:V failed: pre-flight failed \(gpus(, disk)?\): no GPU", result.stderr), result.stderr
    assert "the variant asks for 8 per node" in result.stderr
    assert "generate: done" in result.stdout and "filter: done" in result.stdout
    run = RunDir(tmp_path / "runs" / "gen")
    assert len(read_raw(run.raw_path("MathR"))) == 40
    verdicts = [json.loads(line) for line in run.verdicts_path("MathR").read_text().splitlines()]
    assert sorted(v["uid"] for v in verdicts) == sorted(r["uid"] for r in read_raw(run.raw_path("MathR")))
    clean = read_raw(run.clean_path("MathR"))
    assert 0 < len(clean) < 40 and {r["uid"] for r in clean} == {v["uid"] for v in verdicts if v["label"] == "correct"}
    again = subprocess.run(rchain_cmd("run", str(config_path)), capture_output=True, text=True, timeout=180)
    assert "generate: already done, skipped" in again.stderr and "filter: already done, skipped" in again.stderr
