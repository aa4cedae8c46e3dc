"""The publish stage's layout: both subsets load back with `datasets`, the card has the run's counts."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

from conftest import free_port, rchain_cmd
from rchain.config import load_config
from rchain.demo import synthetic
from rchain.errors import ExitCode
from rchain.runs import RunDir


def test_rchain_run_publishes_raw_and_clean_with_a_card_of_the_real_counts(tmp_path: Path, monkeypatch) -> None:
    synthetic.write_jsonl(tmp_path / "problems.jsonl", synthetic.problems(per_source=3))
    port = free_port()
    monkeypatch.setenv("RCHAIN_TEST_SECRET", "sk-publish-secret-123456")
    config_path = tmp_path / "pipeline.toml"
    config_path.write_text(
        f'[run]\nname = "pub"\n[problems]\ndataset = "problems.jsonl"\n'
        f'[teacher_server]\nenabled = true\nport = {port}\nrate = 0\ndefault_error_rate = 0.3\n'
        f'[[teachers]]\nname = "MathR"\nmodel = "demo-r1"\nbase_url = "http://127.0.0.1:{port}/v1"\nsamples_per_problem = 2\n'
        'api_key_env = "RCHAIN_TEST_SECRET"\n[publish]\nenabled = true\n'
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
        "clean/train-00000-of-00001.jsonl",
        "raw/train-00000-of-00001.jsonl",
    ]
    assert (stored / "raw" / "train-00000-of-00001.jsonl").read_bytes() == (tmp_path / "runs" / "x" / "data" / "raw" / "T.jsonl").read_bytes()
    assert [kind for kind, _ in hub.requests if kind != "validate-yaml"] == ["create", "preupload", "commit"]
    assert "uploaded to huggingface me/T-data" in result.stdout
    run = RunDir(tmp_path / "runs" / "x")
    assert "hf_test_token_987654" not in "".join(p.read_text(errors="replace") for p in run.root.rglob("*") if p.is_file())


def test_modelscope_upload_is_not_built_yet_and_says_so_after_laying_out(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MODELSCOPE_API_TOKEN", "ms-token")
    config = _small_run(tmp_path, 'repo_id = "me/MathR"\n')
    result = subprocess.run(rchain_cmd("publish", str(config)), capture_output=True, text=True, timeout=60)
    assert result.returncode == ExitCode.NOT_BUILT and "uploading to modelscope is not built yet" in result.stderr
    assert (tmp_path / "runs" / "x" / "publish" / "T" / "raw" / "train-00000-of-00001.jsonl").exists()


def test_ms_swift_trains_on_an_exported_clean_subset(tmp_path: Path, tiny_model: Path, monkeypatch) -> None:
    """What a user downloads from the hub is training-ready: ms-swift trains on the shard as is."""
    from conftest import CPU_SWIFT

    synthetic.write_jsonl(tmp_path / "problems.jsonl", synthetic.problems(per_source=2))
    port = free_port()
    config_path = tmp_path / "pipeline.toml"
    config_path.write_text(
        f'[run]\nname = "pub"\n[problems]\ndataset = "problems.jsonl"\n[teacher_server]\nenabled = true\nport = {port}\nrate = 0\n'
        f'[[teachers]]\nname = "MathR"\nmodel = "demo-r1"\nbase_url = "http://127.0.0.1:{port}/v1"\n[publish]\nenabled = true\n'
    )
    assert subprocess.run(rchain_cmd("run", str(config_path)), capture_output=True, text=True, timeout=300).returncode == 0
    shard = tmp_path / "runs" / "pub" / "publish" / "MathR" / "clean" / "train-00000-of-00001.jsonl"
    train_config = tmp_path / "train.toml"
    train_config.write_text(
        f'[run]\nname = "downstream"\n[[variants]]\nname = "FromHub"\nteacher = "none"\nmodel = "{tiny_model}"\ndataset = "{shard}"\n'
        f"nproc_per_node = 1\nglobal_batch = 4\n[variants.swift]\n{CPU_SWIFT}\nper_device_train_batch_size = 4\nmax_steps = 3\nsave_steps = 3\n"
    )
    result = subprocess.run(rchain_cmd("train", str(train_config)), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert (tmp_path / "runs" / "downstream" / "train" / "FromHub" / "checkpoint-3" / "trainer_state.json").exists()
