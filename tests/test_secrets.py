"""No secret from the environment ever lands in a run directory."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import rchain_cmd
from rchain.config import load_config
from rchain.secrets import Redactor
from rchain.stages import prepare_run
from rchain.supervisor import Supervisor

SECRET = "sk-rchain-test-9f8e7d6c5b4a39281706"
HUB_TOKEN = "hf_rchainTestToken0123456789abcdefghij"


def test_no_secret_reaches_any_file_of_the_run(config_file: Path, stage_env, monkeypatch) -> None:
    monkeypatch.setenv("RCHAIN_TEST_SECRET", SECRET)
    monkeypatch.setenv("HF_TOKEN", HUB_TOKEN)
    run = prepare_run(load_config(config_file))
    supervisor = Supervisor(run)
    # This stage prints the key, puts it in an event and in its exception message.
    supervisor.start("generate", entry="stage_fixtures:leaky_stage")
    assert supervisor.wait("generate", timeout=30) == "failed"
    supervisor.start("filter", entry="stage_fixtures:quick_stage")
    assert supervisor.wait("filter", timeout=30) == "done"
    # The CLI paths too: status (JSON) and a stage run through `rchain start`.
    subprocess.run(rchain_cmd("start", str(config_file), "train:V"), check=True, capture_output=True)
    assert supervisor.wait("train:V", timeout=30) == "failed"
    status = subprocess.run(rchain_cmd("status", str(config_file), "--json"), capture_output=True, text=True)
    assert SECRET not in status.stdout

    files = [p for p in run.root.rglob("*") if p.is_file()]
    assert {"pipeline.toml", "state.json", "events.jsonl", "output.log"} <= {p.name for p in files}
    for path in files:
        data = path.read_bytes()
        assert SECRET.encode() not in data, path
        assert HUB_TOKEN.encode() not in data, path
    log = run.log_path("generate").read_text()
    assert "calling the API with ***" in log  # the stage's output is kept, the key masked
    assert run.read_state("generate").reason == "RuntimeError: request failed with key=***"


def test_redactor_ignores_short_values_and_masks_longest_first() -> None:
    redactor = Redactor.from_env(["SHORT", "LONG", "LONGER"], env={"SHORT": "EMPTY", "LONG": "abcdefgh12", "LONGER": "abcdefgh1234"})
    assert redactor.text("EMPTY abcdefgh1234 abcdefgh12") == "EMPTY *** ***"
