"""The publish stage's layout: both subsets load back with `datasets`, the card has the run's counts."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from conftest import free_port, rchain_cmd
from rchain.config import load_config
from rchain.demo import synthetic
from rchain.errors import ExitCode
from rchain.runs import RunDir


def served_run(tmp_path: Path, name: str, *, per_source: int, server: str = "rate = 0\n", teacher: str = "", publish: str = "enabled = true\n") -> Path:
    """A pipeline.toml over synthetic problems, one teacher served by the run's own teacher
    server (`server`, `teacher` and `publish` add lines to their sections); returns its path."""
    synthetic.write_jsonl(tmp_path / "problems.jsonl", synthetic.problems(per_source=per_source))
    port = free_port()
    config_path = tmp_path / "pipeline.toml"
    config_path.write_text(
        f'[run]\nname = "{name}"\n[problems]\ndataset = "problems.jsonl"\n[teacher_server]\nenabled = true\nport = {port}\n{server}'
        f'[[teachers]]\nname = "MathR"\nmodel = "demo-r1"\nbase_url = "http://127.0.0.1:{port}/v1"\n{teacher}[publish]\n{publish}'
    )
    return config_path


def test_rchain_run_publishes_raw_and_clean_with_a_card_of_the_real_counts(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RCHAIN_TEST_SECRET", "sk-publish-secret-123456")
    config_path = served_run(
        tmp_path, "pub", per_source=3, server="rate = 0\ndefault_error_rate = 0.3\n", teacher='samples_per_problem = 2\napi_key_env = "RCHAIN_TEST_SECRET"\n'
    )
    result = subprocess.run(rchain_cmd("run", str(config_path)), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    run = RunDir(load_config(config_path).run_dir)
    folder = run.root / "publish" / "MathR"

    import datasets

    # A cache of our own: datasets' shared cache may hold another run's files of the same name.
    raw = datasets.load_dataset(str(folder), "raw", split="train", cache_dir=str(tmp_path / "hf"))
    clean = datasets.load_dataset(str(folder), "clean", split="train", cache_dir=str(tmp_path / "hf"))
    raw_lines = run.raw_path("MathR").read_text().splitlines()
    clean_lines = run.clean_path("MathR").read_text().splitlines()
    assert len(raw) == len(raw_lines) == 54 and len(clean) == len(clean_lines) > 0
    assert sorted(clean["uid"]) == sorted(json.loads(line)["uid"] for line in clean_lines)
    assert clean[0]["messages"][-1]["content"].startswith("<think>")

    card = (folder / "README.md").read_text()
    assert f"| raw | {len(raw_lines):,} |" in card and f"| clean | {len(clean_lines):,} |" in card
    by_source: dict[str, Counter] = {}
    for line in run.verdicts_path("MathR").read_text().splitlines():
        verdict = json.loads(line)
        by_source.setdefault(verdict["source"], Counter())[verdict["label"]] += 1
    for source, labels in by_source.items():
        seen = sum(labels.values())
        row = f"| {source} | {seen:,} | {labels['correct']:,} | {labels['wrong']:,} | {labels['unverifiable']:,} | {labels['malformed']:,} | {100 * labels['correct'] / seen:.1f}% |"
        assert row in card
    assert "- rchain 0.1.0" in card and "- math-verify " in card and "temperature 0.6" in card
    assert "sk-publish-secret-123456" not in card and 'api_key_env = "RCHAIN_TEST_SECRET"' in card


def _small_run(tmp_path: Path, publish: str) -> Path:
    run_root = tmp_path / "runs" / "x"
    (run_root / "data" / "raw").mkdir(parents=True)
    (run_root / "data" / "raw" / "T.jsonl").write_text(json.dumps({"uid": "a", "source": "math", "messages": []}) + "\n")
    config = tmp_path / "pipeline.toml"
    config.write_text('[run]\nname = "x"\n[[teachers]]\nname = "T"\nmodel = "m"\nbase_url = "http://127.0.0.1:9/v1"\n[publish]\n' + publish)
    return config


def test_upload_to_a_hub_stand_in_through_huggingface_hub(tmp_path: Path, monkeypatch) -> None:
    from hub_standin import HubStandIn

    hub = HubStandIn(tmp_path / "hub", token="hf_test_token_987654").start()
    try:
        config = _small_run(tmp_path, f'hub = "huggingface"\nrepo_id = "me/{{teacher}}-data"\ntoken_env = "RCHAIN_HUB_TOKEN"\nendpoint = "{hub.url}"\n')
        missing = subprocess.run(rchain_cmd("publish", str(config)), capture_output=True, text=True, timeout=120)
        assert missing.returncode == ExitCode.USAGE and "RCHAIN_HUB_TOKEN" in missing.stderr
        monkeypatch.setenv("RCHAIN_HUB_TOKEN", "hf_test_token_987654")
        result = subprocess.run(rchain_cmd("publish", str(config)), capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    finally:
        hub.stop()
    stored = tmp_path / "hub" / "datasets" / "me" / "T-data"
    assert sorted(p.relative_to(stored).as_posix() for p in stored.rglob("*") if p.is_file()) == [
        "README.md",
        "clean/train-00000.jsonl",
        "raw/train-00000.jsonl",
    ]
    assert (stored / "raw" / "train-00000.jsonl").read_bytes() == (tmp_path / "runs" / "x" / "data" / "raw" / "T.jsonl").read_bytes()
    assert [kind for kind, _ in hub.requests if kind != "validate-yaml"] == ["create", "preupload", "commit"]
    assert "uploaded to huggingface me/T-data" in result.stdout
    run = RunDir(tmp_path / "runs" / "x")
    assert "hf_test_token_987654" not in "".join(p.read_text(errors="replace") for p in run.root.rglob("*") if p.is_file())


def test_upload_to_a_modelscope_stand_in_through_modelscopes_hub_api(tmp_path: Path, monkeypatch) -> None:
    from hub_standin import ModelScopeStandIn

    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path / "ms-cache"))
    hub = ModelScopeStandIn(tmp_path / "hub", token="ms-test-token-24680").start()
    try:
        config = _small_run(tmp_path, f'repo_id = "me/{{teacher}}-data"\nendpoint = "{hub.url}"\n')
        monkeypatch.setenv("MODELSCOPE_API_TOKEN", "ms-wrong-token-13579")
        refused = subprocess.run(rchain_cmd("publish", str(config)), capture_output=True, text=True, timeout=120)
        assert refused.returncode != 0 and "AccessToken is invalid" in refused.stdout + refused.stderr
        assert "ms-wrong-token-13579" not in refused.stdout + refused.stderr
        monkeypatch.setenv("MODELSCOPE_API_TOKEN", "ms-test-token-24680")
        first = subprocess.run(rchain_cmd("publish", str(config)), capture_output=True, text=True, timeout=120)
        assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
        again = subprocess.run(rchain_cmd("publish", str(config)), capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    finally:
        hub.stop()
    stored = tmp_path / "hub" / "datasets" / "me" / "T-data"
    run = RunDir(tmp_path / "runs" / "x")
    assert sorted(p.relative_to(stored).as_posix() for p in stored.rglob("*") if p.is_file()) == ["README.md", "clean/train-00000.jsonl", "raw/train-00000.jsonl"]
    assert (stored / "raw" / "train-00000.jsonl").read_bytes() == run.raw_path("T").read_bytes()
    assert (stored / "README.md").read_bytes() == (run.root / "publish" / "T" / "README.md").read_bytes()
    assert hub.created == [{"Owner": "me", "Name": "T-data", "Visibility": "1", "License": "Apache-2.0"}]  # private, created once
    kinds = [kind for kind, _ in hub.requests]
    assert kinds.count("commit") == 2 and "put-blob" in kinds and "unknown" not in kinds
    assert "uploaded to modelscope me/T-data" in first.stdout
    assert not list((run.root / "publish" / "T").rglob("*cache*"))  # the client's upload cache stays out of the dataset
    assert "ms-test-token-24680" not in "".join(p.read_text(errors="replace") for p in run.root.rglob("*") if p.is_file())


@pytest.mark.parametrize("hub_name", ["modelscope", "huggingface"])
def test_progressive_upload_sends_each_raw_shard_while_generation_runs(tmp_path: Path, monkeypatch, hub_name: str) -> None:
    from hub_standin import HubStandIn, ModelScopeStandIn

    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path / "ms-cache"))
    monkeypatch.setenv("RCHAIN_HUB_TOKEN", "progressive-token-1122")
    hub = (ModelScopeStandIn if hub_name == "modelscope" else HubStandIn)(tmp_path / "hub", token="progressive-token-1122").start()
    try:
        config_path = served_run(
            tmp_path, "prog", per_source=3, server="rate = 60\n", teacher="samples_per_problem = 2\nconcurrency = 6\n",
            publish=f'enabled = true\nhub = "{hub_name}"\nrepo_id = "me/MathR"\nendpoint = "{hub.url}"\ntoken_env = "RCHAIN_HUB_TOKEN"\nshard_rows = 10\nprogressive = true\n',
        )
        result = subprocess.run(rchain_cmd("run", str(config_path)), capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    finally:
        hub.stop()
    run = RunDir(load_config(config_path).run_dir)
    raw_lines = run.raw_path("MathR").read_bytes().splitlines(keepends=True)
    assert len(raw_lines) == 54
    generated = run.read_state("generate")
    progressive = [c for c in hub.commits if "raw replies so far" in c["summary"]]
    # Five full shards of ten went up one by one while replies were still being generated.
    assert [sorted(c["files"]) for c in progressive] == [["README.md", f"raw/train-{i:05d}.jsonl"] for i in range(5)]
    assert all(c["t"] < generated.ended_at for c in progressive)
    # The publish stage added the last, partial shard, the clean subset and the final card.
    stored = tmp_path / "hub" / "datasets" / "me" / "MathR"
    shards = sorted((stored / "raw").glob("train-*.jsonl"))
    assert [s.name for s in shards] == [f"train-{i:05d}.jsonl" for i in range(6)]
    assert b"".join(s.read_bytes() for s in shards) == b"".join(raw_lines)
    assert (stored / "README.md").read_bytes() == (run.root / "publish" / "MathR" / "README.md").read_bytes()
    assert "| raw | 54 |" in (stored / "README.md").read_text()
    if hub_name == "modelscope":  # a blob is sent once: the final upload found the full shards stored
        assert sum(1 for kind, _ in hub.requests if kind == "put-blob") == len(hub.blobs)
    state = json.loads((run.root / "publish" / ".MathR.progress.json").read_text())
    assert state["shards"] == 5 and state["offset"] == sum(map(len, raw_lines[:50]))


def test_a_refused_progressive_upload_does_not_stop_generation(tmp_path: Path, monkeypatch) -> None:
    from hub_standin import ModelScopeStandIn

    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path / "ms-cache"))
    monkeypatch.setenv("MODELSCOPE_API_TOKEN", "ms-revoked-token-3344")
    hub = ModelScopeStandIn(tmp_path / "hub", token="another-token").start()
    try:
        config_path = served_run(
            tmp_path, "refused", per_source=2, publish=f'repo_id = "me/MathR"\nendpoint = "{hub.url}"\nshard_rows = 5\nprogressive = true\n'
        )
        result = subprocess.run(rchain_cmd("run", str(config_path)), capture_output=True, text=True, timeout=300)
    finally:
        hub.stop()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    run = RunDir(load_config(config_path).run_dir)
    assert len(run.raw_path("MathR").read_text().splitlines()) == 18  # every reply, though no shard went up
    log = run.log_path("generate").read_text()
    assert "uploading raw/train-00000.jsonl to modelscope failed" in log and "AccessToken is invalid" in log
    assert not (run.root / "publish" / ".MathR.progress.json").exists() and not hub.commits
    assert "ms-revoked-token-3344" not in log


def test_ms_swift_trains_on_an_exported_clean_subset(tmp_path: Path, tiny_model: Path, monkeypatch) -> None:
    """What a user downloads from the hub is training-ready: ms-swift trains on the shard as is."""
    from conftest import CPU_SWIFT

    config_path = served_run(tmp_path, "pub", per_source=2)
    assert subprocess.run(rchain_cmd("run", str(config_path)), capture_output=True, text=True, timeout=300).returncode == 0
    shard = tmp_path / "runs" / "pub" / "publish" / "MathR" / "clean" / "train-00000.jsonl"
    train_config = tmp_path / "train.toml"
    train_config.write_text(
        f'[run]\nname = "downstream"\n[[variants]]\nname = "FromHub"\nteacher = "none"\nmodel = "{tiny_model}"\ndataset = "{shard}"\n'
        f"nproc_per_node = 1\nglobal_batch = 4\n[variants.swift]\n{CPU_SWIFT}\nper_device_train_batch_size = 4\nmax_steps = 3\nsave_steps = 3\n"
    )
    result = subprocess.run(rchain_cmd("train", str(train_config)), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert (tmp_path / "runs" / "downstream" / "train" / "FromHub" / "checkpoint-3" / "trainer_state.json").exists()


def test_progressive_publisher_cuts_only_complete_lines_and_notices_a_shrunk_raw_file(tmp_path: Path, monkeypatch) -> None:
    from rchain import publish

    config_path = _small_run(tmp_path, 'repo_id = "me/T"\nshard_rows = 2\nprogressive = true\n')
    config = load_config(config_path)
    run = RunDir(config.run_dir)
    raw = run.raw_path("T")
    raw.write_bytes(b'{"uid": "a"}\n{"uid": "b"}\n{"uid": "c"}\n{"uid": "d"}\n{"uid": "e", "torn')  # a line still being written
    sent: list[list[str]] = []
    monkeypatch.setattr(publish, "upload", lambda config, folder, repo, files=None, message="": sent.append(files) or "ok")
    said: list[tuple[str, str]] = []
    publisher = publish.ProgressivePublisher(config, run, config.teacher("T"), lambda text, level: said.append((level, text)))
    publisher.poll()
    publisher.close()
    assert sent == [["raw/train-00000.jsonl", "README.md"], ["raw/train-00001.jsonl", "README.md"]]
    assert (run.root / "publish" / "T" / "raw" / "train-00001.jsonl").read_bytes() == b'{"uid": "c"}\n{"uid": "d"}\n'
    card = (run.root / "publish" / "T" / "README.md").read_text()
    assert "config_name: raw" in card and "config_name: clean" not in card and "| raw | 4 |" in card  # no config without files
    # A restart goes on from what was uploaded; the torn line, completed, is part of the next shard.
    raw.write_bytes(raw.read_bytes() + b'"}\n{"uid": "f"}\n')
    again = publish.ProgressivePublisher(config, run, config.teacher("T"), lambda text, level: said.append((level, text)))
    again.poll()
    again.close()
    assert sent[-1] == ["raw/train-00002.jsonl", "README.md"] and len(sent) == 3
    raw.write_bytes(b'{"uid": "z"}\n')  # the raw file started over under the same run
    again.poll()
    again.close()
    assert len(sent) == 3 and said[-1][0] == "warning" and "shorter than the 3 shard(s) already uploaded" in said[-1][1]
