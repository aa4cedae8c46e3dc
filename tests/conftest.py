from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent
SHARED_DATA = REPO.parent / "shared" / "data"

MINIMAL_CONFIG = """\
[run]
name = "t"

[problems]
dataset = "problems.jsonl"

[[teachers]]
name = "MathR"
model = "demo-r1"
base_url = "http://127.0.0.1:9/v1"
api_key_env = "RCHAIN_TEST_SECRET"

[[variants]]
name = "V"
teacher = "MathR"
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "pipeline.toml"
    path.write_text(MINIMAL_CONFIG, encoding="utf-8")
    return path


@pytest.fixture
def stage_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment in which stage processes can import the test stage functions."""
    paths = [str(TESTS_DIR), str(REPO)]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    return dict(os.environ)


def rchain_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "rchain", *args]


def ctrl_c_stops_it() -> None:
    """preexec_fn for a child that a test stops with SIGINT, as Ctrl-C would. A suite started in
    the background of a shell without job control (`pytest &` in a script) runs with SIGINT
    ignored, its children inherit that, and Python then installs no KeyboardInterrupt handler:
    the SIGINT would be lost, as the shell meant it to be."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


NUMINA_ROWS = SHARED_DATA / "numina_samples" / "numina_cot_rows.jsonl"


class TeacherServerProcess:
    """`rchain teacher-server` in a subprocess on a free port."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        import subprocess

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rchain", "teacher-server", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.proc.kill()
            raise RuntimeError(f"teacher server did not start: {line}{self.proc.stdout.read()}")
        self.base_url = line.strip().rsplit(" ", 1)[-1]
        # Keep reading its output: a full pipe would block the server's event loop.
        self.output: list[str] = []
        import threading

        threading.Thread(target=lambda: self.output.extend(self.proc.stdout), daemon=True).start()

    def stats(self) -> dict[str, int]:
        import json
        import urllib.request

        with urllib.request.urlopen(self.base_url.removesuffix("/v1") + "/stats") as response:
            return json.load(response)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def teacher_server_factory():
    servers: list[TeacherServerProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> TeacherServerProcess:
        server = TeacherServerProcess(*args, env=env)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def numina_rows(n: int | None = None) -> list[str]:
    """Real NuminaMath-CoT rows (JSON lines) from ../shared/data."""
    lines = [line for line in NUMINA_ROWS.read_text(encoding="utf-8").split("\n") if line.strip()]
    return lines[:n] if n else lines


# What a local tiny model on a CPU needs on top of the seed recipe.
CPU_SWIFT = """
model_type = "qwen2"
template = "qwen2_5"
torch_dtype = "float32"
deepspeed = ""
gradient_checkpointing = false
gradient_checkpointing_kwargs = ""
check_model = false
fp16 = false
bf16 = false
report_to = "none"
dataset_num_proc = 1
dataloader_num_workers = 0
max_length = 1024
"""



def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def events_of(run, stage_id: str, kind: type) -> list:
    """The events of one kind a stage wrote so far."""
    from rchain.events import decode_event
    from rchain.records import iter_lines

    out = []
    if not run.events_path(stage_id).exists():
        return out
    for _, raw in iter_lines(run.events_path(stage_id)):
        event = decode_event(raw)
        if isinstance(event, kind):
            out.append(event)
    return out


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny Qwen2 chat model with random weights, built offline once per test session."""
    from rchain.tinymodel import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("model") / "tiny-qwen2")


def run_stages(config: Path, *stages: str, timeout: float = 120) -> None:
    """Run stages through the CLI in the foreground, one after the other; each must succeed."""
    import subprocess

    for stage in stages:
        result = subprocess.run(rchain_cmd(stage, str(config)), capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, result.stdout + result.stderr
