"""Find the run a command means: a config file, a run directory, or a project folder.

The CLI and the console both accept any of these, so a person can type whichever is at hand:

* `pipeline.toml` (any config file): its run directory, created on the first start;
* a run directory: it holds a frozen `pipeline.toml` whose `run.dir` is the directory itself;
* a project folder: it holds a config whose run directory lies elsewhere;
* nothing: `./pipeline.toml`, else the newest run under `./runs`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rchain.config import PipelineConfig, load_config
from rchain.errors import NotFound
from rchain.runs import RunDir, RunWatcher
from rchain.stages import plan_stages


@dataclass(frozen=True)
class Target:
    run: RunDir
    config: PipelineConfig | None
    #: The config file the user named (None when attached to a run directory only).
    config_path: Path | None

    @property
    def plan(self) -> list[str]:
        return plan_stages(self.config) if self.config else []

    @property
    def name(self) -> str:
        return self.config.run.name if self.config else self.run.root.name

    def watcher(self) -> RunWatcher:
        return RunWatcher(self.run, self.plan, name=self.name)


def resolve_target(path: str | Path | None) -> Target:
    if path is None:
        return _default_target()
    path = Path(path)
    if path.is_file():
        config = load_config(path)
        return Target(RunDir(config.run_dir), config, path)
    if path.is_dir():
        frozen = path / "pipeline.toml"
        if frozen.is_file():
            config = load_config(frozen)
            if config.run_dir.resolve() == path.resolve():
                return Target(RunDir(path), config, None)
            return Target(RunDir(config.run_dir), config, frozen)
        if (path / "stages").is_dir():
            return Target(RunDir(path), None, None)
        raise NotFound(f"{path}: neither a run directory nor a folder with a pipeline.toml")
    raise NotFound(f"{path}: no such file or directory", hint="create a config with `rchain init`")


def _default_target() -> Target:
    here = Path.cwd()
    if (here / "pipeline.toml").is_file():
        return resolve_target(here / "pipeline.toml")
    runs = [p for p in (here / "runs").glob("*") if (p / "stages").is_dir() or (p / "pipeline.toml").is_file()]
    if runs:
        return resolve_target(max(runs, key=lambda p: p.stat().st_mtime))
    raise NotFound(
        f"{here}: no pipeline.toml here and no run under ./runs",
        hint="name a config or run directory, or create one with `rchain init`",
    )
