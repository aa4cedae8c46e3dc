"""Running stages in order: what `rchain run`, `rchain <stage>` and the `pipeline` stage share.

Each stage is a managed process (see rchain.supervisor); this module starts one, watches it to
its end and goes on. Servers are not stages that end: the local teacher server (`teachers`) is
started for `generate`, a model server (`deploy:X`) for `eval:X`, each when nothing serves yet,
and stopped again once its consumer is done.

The `pipeline` stage runs the whole plan as a managed process of its own, so a console can start
everything with one key and quit: the plan goes on without it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rchain.config import PipelineConfig
from rchain.errors import ExitCode, StageFailed
from rchain.runs import RunWatcher, stage_name, stage_target
from rchain.supervisor import Supervisor

#: Exit codes a stage reports that the command passes on (bad config, missing file, conflict, stub).
PASSED_THROUGH_CODES = {ExitCode.USAGE, ExitCode.NOT_FOUND, ExitCode.CONFLICT, ExitCode.NOT_BUILT}
POLL_S = 0.5
#: How long a running server stage may stay out of reach beyond its own start-up time.
REACH_S = 60.0


def server_for(config: PipelineConfig, stage_id: str) -> str | None:
    """The server stage a stage needs running: `teachers` for generate when the run serves its
    teachers itself, `deploy:X` for `eval:X`."""
    name, subject = stage_name(stage_id), stage_target(stage_id)
    if name == "generate" and config.teacher_server.enabled:
        return "teachers"
    if name == "eval":
        return f"deploy:{subject}"
    return None


def server_url(config: PipelineConfig, server_id: str) -> str:
    from rchain.serve import base_url

    if server_id == "teachers":
        return f"http://{config.teacher_server.host}:{config.teacher_server.port}/v1"
    return base_url(config, stage_target(server_id))


def is_serving(config: PipelineConfig, server_id: str) -> bool:
    from rchain.serve import served_models

    models = served_models(server_url(config, server_id))
    return models is not None if server_id == "teachers" else stage_target(server_id) in (models or [])


def ready_limit_s(config: PipelineConfig, server_id: str) -> float:
    """How long a running server stage may take before the pipeline gives up on reaching it: the
    teacher server is up in a second; a model server has deploy.ready_timeout_s to load."""
    return REACH_S if server_id == "teachers" else config.deploy.ready_timeout_s + REACH_S


class Pipeline:
    """Runs stage ids in order through a supervisor.

    `watch(stage_id)` is called while a stage runs and returns when it is no longer active (the
    CLI follows the log or draws a table; the pipeline stage just polls); it may raise to stop,
    and then the running stage and the servers this pipeline started are stopped before the
    exception goes on.
    """

    def __init__(
        self,
        config: PipelineConfig,
        supervisor: Supervisor,
        *,
        watch: Callable[[str], None],
        say: Callable[[str], object] = print,
        skip_done: bool = True,
        entry: str | None = None,
        tick: Callable[[], None] = lambda: time.sleep(POLL_S),
    ) -> None:
        self.config = config
        self.tick = tick
        self.supervisor = supervisor
        self.watch = watch
        self.say = say
        self.skip_done = skip_done
        self.entry = entry
        self.current: str | None = None
        self.started_servers: list[str] = []

    def run(self, stage_ids: list[str]) -> None:
        try:
            for i, stage_id in enumerate(stage_ids):
                following = stage_ids[i + 1] if i + 1 < len(stage_ids) else None
                if following is not None and server_for(self.config, following) == stage_id:
                    continue  # started when the stage it serves starts
                if self.skip_done and self.supervisor.status(stage_id) == "done":
                    self.say(f"{stage_id}: already done, skipped")
                    continue
                server = server_for(self.config, stage_id)
                if server is not None and self._serve(server):
                    self.started_servers.append(server)
                self._run_one(stage_id)
                if server in self.started_servers:
                    self.supervisor.stop(server)
                    self.started_servers.remove(server)
        except BaseException:
            if self.current is not None and self.supervisor.is_active(self.current):
                self.say(f"stopping {self.current}...")
                self.supervisor.stop(self.current)
            raise
        finally:
            for server in self.started_servers:
                self.supervisor.stop(server)
            self.started_servers.clear()

    def _run_one(self, stage_id: str) -> None:
        self.current = stage_id
        self.supervisor.start(stage_id, entry=self.entry)
        self.watch(stage_id)
        self.supervisor.wait(stage_id)
        self.current = None
        view = RunWatcher(self.supervisor.run, [stage_id]).snapshot().stage(stage_id)
        if view.status != "done":
            error = StageFailed(
                f"stage {stage_id} {view.status}: {view.reason or 'no reason recorded'}",
                hint=f"rchain logs {self.supervisor.run.root} {stage_id}",
            )
            if view.exit_code in PASSED_THROUGH_CODES:
                error.exit_code = ExitCode(view.exit_code)
            raise error

    def _serve(self, server_id: str) -> bool:
        """Make sure `server_id` serves; True when this call started it."""
        if is_serving(self.config, server_id):
            return False
        if not self.supervisor.is_active(server_id):
            self.supervisor.start(server_id)
        self.say(f"{server_id}: starting the server...")
        self.current = server_id
        limit = ready_limit_s(self.config, server_id)
        deadline = time.monotonic() + limit
        while not is_serving(self.config, server_id):
            if time.monotonic() > deadline:
                # Seen under `unshare -n` with the loopback interface down: the server listens,
                # its stage says ready, and nothing can connect to it.
                raise StageFailed(
                    f"{server_id}: the stage runs, but {server_url(self.config, server_id)}/models has not answered from here in {limit:g}s",
                    hint=f"rchain logs {self.supervisor.run.root} {server_id}; check that this address is reachable from this machine",
                )
            if not self.supervisor.is_active(server_id):
                view = RunWatcher(self.supervisor.run, [server_id]).snapshot().stage(server_id)
                raise StageFailed(
                    f"stage {server_id} {view.status}: {view.reason or 'no reason recorded'}",
                    hint=f"rchain logs {self.supervisor.run.root} {server_id}",
                )
            self.tick()
        self.current = None
        self.say(f"{server_id}: serving")
        return True


class _Stop(Exception):
    pass


def run(ctx) -> None:
    """The `pipeline` stage: the whole plan, each stage its own managed process."""
    from rchain.stages import plan_stages

    supervisor = Supervisor(ctx.run)
    ctx.cooperative_stop = True

    def tick() -> None:
        if ctx.stop_requested.is_set():
            raise _Stop
        time.sleep(POLL_S)

    def watch(stage_id: str) -> None:
        ctx.message(f"{stage_id}: running")  # the pipeline's detail line names the stage it is on
        while supervisor.is_active(stage_id):
            tick()

    pipeline = Pipeline(ctx.config, supervisor, watch=watch, say=ctx.message, tick=tick)
    plan = [s for s in plan_stages(ctx.config) if s != "pipeline"]
    try:
        pipeline.run(plan)
    except _Stop:
        ctx.message("pipeline stopped; the stage it was running is stopped too")
        return
    ctx.message("pipeline finished: every stage is done")
