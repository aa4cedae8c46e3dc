"""The deploy stage: `swift deploy` of a trained variant (or a baseline model), health-checked.

The server runs as a child of the stage process and lives as long as the stage: the stage is
`running` while it serves, reports `ready` once `/v1/models` lists the served name, and a stop
(SIGTERM to the group) shuts the server down and frees the port. vLLM is the default backend on
GPUs; `transformers` serves on a CPU.
"""

from __future__ import annotations

import json
import signal
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

from rchain.config import PipelineConfig, SwiftValue
from rchain.errors import Conflict, NotFound, StageFailed
from rchain.events import ServerStatus
from rchain.gpu import GpuMonitor
from rchain.runs import RunDir
from rchain.tools import Child, child_env, shell_command, swift_argv, swift_flags, tail_reason
from rchain.train import last_checkpoint

HEALTH_EVERY_S = 1.0
PORT_WAIT_S = 90.0


def model_to_serve(config: PipelineConfig, run: RunDir, name: str, *, must_exist: bool = True) -> str:
    """The checkpoint of variant `name` (its newest complete one), or the baseline model so named."""
    for variant in config.variants:
        if variant.name == name:
            checkpoint = last_checkpoint(run.train_dir(name))
            if checkpoint is not None:
                return str(checkpoint)
            if must_exist:
                raise NotFound(
                    f"variant {name!r} has no complete checkpoint in {run.train_dir(name)}",
                    hint=f"train it first: rchain train {run.config_path} --variant {name}",
                )
            return str(run.train_dir(name) / "last-checkpoint")
    for model in config.eval.baselines:
        if baseline_name(model) == name:
            return model
    raise NotFound(f"no variant or baseline named {name!r} in the config")


def baseline_name(model: str) -> str:
    """`Qwen/Qwen2.5-7B-Instruct` -> `Qwen2.5-7B-Instruct`: the name a baseline is served and
    reported under."""
    return Path(model.rstrip("/")).name


def served_names(config: PipelineConfig) -> list[str]:
    return [v.name for v in config.variants] + [baseline_name(b) for b in config.eval.baselines]


def port_of(config: PipelineConfig, name: str) -> int:
    """Each served model has its own port: deploy.port for the first variant, the next one for
    the next, then the baselines. A server just stopped leaves its port in TIME_WAIT for a
    minute, and swift deploy then quietly moves to another port; distinct ports avoid both."""
    names = served_names(config)
    return config.deploy.port + (names.index(name) if name in names else 0)


def deploy_arguments(config: PipelineConfig, model: str, served_name: str) -> dict[str, SwiftValue]:
    deploy = config.deploy
    args: dict[str, SwiftValue] = {
        "model": model,
        "infer_backend": deploy.backend,
        "host": deploy.host,
        "port": port_of(config, served_name),
        "served_model_name": served_name,
        "verbose": False,  # no log line per request
    }
    if deploy.backend == "vllm":
        args["vllm_gpu_memory_utilization"] = deploy.gpu_memory_utilization
        args["vllm_tensor_parallel_size"] = deploy.tensor_parallel_size
    args.update(deploy.swift)
    return {k: v for k, v in args.items() if v != ""}


def base_url(config: PipelineConfig, name: str) -> str:
    """Where clients reach the server of `name` (a wildcard bind is reached on loopback)."""
    host = config.deploy.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port_of(config, name)}/v1"


def dry_run(config: PipelineConfig, run: RunDir, name: str) -> str:
    model = model_to_serve(config, run, name, must_exist=False)
    return shell_command(swift_argv("deploy", swift_flags(deploy_arguments(config, model, name))), {})


def served_models(url: str, timeout: float = 2.0) -> list[str] | None:
    """The model ids `GET {url}/models` lists, or None while nothing answers."""
    try:
        with urllib.request.urlopen(f"{url}/models", timeout=timeout) as response:
            body = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return [m.get("id", "") for m in body.get("data", []) if isinstance(m, dict)]


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host if host not in ("0.0.0.0", "") else "127.0.0.1", port)) == 0


def port_bindable(port: int) -> bool:
    """Whether swift deploy could bind the port as it checks it (no SO_REUSEADDR, so a port in
    TIME_WAIT counts as taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("", port))
        except OSError:
            return False
    return True


def run(ctx) -> None:
    config: PipelineConfig = ctx.config
    name = ctx.target
    model = model_to_serve(config, ctx.run, name)
    deploy = config.deploy
    url = base_url(config, name)
    port = port_of(config, name)
    if port_in_use(deploy.host, port):
        raise Conflict(f"deploy.port: {port} on {deploy.host} is already in use", hint="stop the other server or choose another deploy.port")
    waited = time.monotonic()
    while not port_bindable(port):  # closed connections of an earlier server (TIME_WAIT)
        if time.monotonic() - waited > PORT_WAIT_S:
            raise Conflict(f"deploy.port: {port} is still held by closed connections after {PORT_WAIT_S:g}s")
        if ctx.stop_requested.is_set():
            return
        time.sleep(1.0)
    if time.monotonic() - waited > 1.0:
        ctx.message(f"waited {time.monotonic() - waited:.0f}s for port {port} to be released")
    argv = swift_argv("deploy", swift_flags(deploy_arguments(config, model, name)))
    print("command:\n" + shell_command(argv, {}), flush=True)

    def status(state: str) -> None:
        ctx.events.emit(ServerStatus(model=name, status=state, url=url, backend=deploy.backend, checkpoint=model))  # type: ignore[arg-type]

    ctx.cooperative_stop = True
    status("starting")
    started = time.monotonic()
    last_check = [0.0]
    ready = [False]

    def is_ready() -> bool:
        now = time.monotonic()
        if now - last_check[0] >= HEALTH_EVERY_S:
            last_check[0] = now
            ready[0] = name in (served_models(url) or [])
        return ready[0] or now - started > deploy.ready_timeout_s

    with GpuMonitor(ctx.events.emit):
        child = Child(argv, child_env(config, {}))
        code = child.wait(ctx.stop_requested.is_set, until=is_ready)
        if code is None and not ready[0]:
            child.stop(signal.SIGTERM)
            raise StageFailed(f"{name} did not answer {url}/models within {deploy.ready_timeout_s:g}s (deploy.ready_timeout_s)")
        if code is None:
            status("ready")
            ctx.message(f"{name} is served at {url} ({deploy.backend}) after {time.monotonic() - started:.0f}s")
            code = child.wait(ctx.stop_requested.is_set)
    status("stopped")
    if ctx.stop_requested.is_set():
        return
    raise StageFailed(f"swift deploy exited with {code}: {tail_reason(ctx.run.log_path(ctx.stage_id))}")
