"""The pipeline's handling of server stages it cannot reach."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from conftest import free_port
from rchain import pipeline
from rchain.config import PipelineConfig
from rchain.errors import StageFailed
from rchain.runs import RunDir


class StageRunsButNothingAnswers:
    """A supervisor whose stages start and keep running; nothing listens anywhere (as under
    `unshare -n` with the loopback interface down, where the teacher server says it is ready)."""

    def __init__(self, root: Path) -> None:
        self.run = RunDir(root)
        self.started: list[str] = []
        self.stopped: list[str] = []

    def status(self, stage_id: str) -> str:
        return "pending"

    def is_active(self, stage_id: str) -> bool:
        return stage_id in self.started and stage_id not in self.stopped

    def start(self, stage_id: str, entry: str | None = None) -> None:
        self.started.append(stage_id)

    def stop(self, stage_id: str) -> None:
        self.stopped.append(stage_id)

    def wait(self, stage_id: str) -> None:
        pass


def test_an_unreachable_teacher_server_fails_the_pipeline_by_name_instead_of_waiting_forever(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(pipeline, "REACH_S", 0.5)
    port = free_port()
    config = PipelineConfig.model_validate(
        {"run": {"name": "x", "dir": str(tmp_path)}, "teacher_server": {"enabled": True, "port": port},
         "teachers": [{"name": "T", "model": "demo-r1", "base_url": f"http://127.0.0.1:{port}/v1"}]}
    )
    supervisor = StageRunsButNothingAnswers(tmp_path)
    runner = pipeline.Pipeline(config, supervisor, watch=lambda stage_id: None, say=lambda text: None, tick=lambda: time.sleep(0.05))  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(StageFailed, match=rf"teachers: the stage runs, but http://127.0.0.1:{port}/v1/models has not answered from here in 0.5s"):
        runner.run(["teachers", "generate"])
    assert time.monotonic() - started < 5
    assert supervisor.started == ["teachers"] and supervisor.stopped == ["teachers"]  # generate never started; the server is stopped
