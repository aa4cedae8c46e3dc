"""`rchain`: every stage headless, and the same controls as the console.

Heavy modules are imported inside commands, so `rchain --help` answers at once. Errors go to
stderr as one line (plus a hint) and the process exits with a documented code (`ExitCode`);
stdout carries only data: plans, tables, JSON, logs.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from rchain import __version__
from rchain.errors import ExitCode, RchainError

if TYPE_CHECKING:
    from rchain.runs import RunView
    from rchain.supervisor import Supervisor
    from rchain.workspace import Target

EXIT_CODES_HELP = """\b
Exit codes:
  0    success
  1    a stage failed or crashed
  2    invalid config or usage
  3    run directory, config or stage not found
  4    conflict (stage already running, file exists)
  5    stage not built yet
  130  interrupted (running stages were stopped)
"""
PLAIN_PROGRESS_EVERY_S = 30.0
#: Stages whose command has `--dry-run` (rchain.stages.DRY_RUNS holds their printers).
DRY_RUN_STAGES = ("train", "deploy", "eval")
ENTRY_OPTION = click.option(
    "--entry",
    default=None,
    metavar="MODULE:FUNCTION",
    help="Run this function as the stage instead of the built-in one (custom stages).",
)


@click.group(epilog=EXIT_CODES_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rchain")
def cli() -> None:
    """rchain: make a reasoning SFT dataset from a teacher model and prove it works.

    Stages: generate -> filter -> train -> deploy -> eval -> publish. A TARGET is a config
    file, a run directory, or a folder holding a pipeline.toml (default: the current folder).
    """


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        _fail_line("interrupted", ExitCode.INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except RchainError as exc:
        message = exc.message + (f"\nhint: {exc.hint}" if exc.hint else "")
        _fail_line(message, exc.exit_code)
    except KeyboardInterrupt:
        _fail_line("interrupted", ExitCode.INTERRUPTED)
    sys.exit(ExitCode.OK)


def _fail_line(message: str, code: int) -> NoReturn:
    lines = message.splitlines() or [""]
    click.echo("\n".join(("error: " + lines[0], *lines[1:])), err=True)
    sys.exit(int(code))


# ---------------------------------------------------------------------------------------------
# Config


@cli.command()
@click.argument("path", type=click.Path(path_type=Path), default="pipeline.toml")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: Path, force: bool) -> None:
    """Write a commented config that reproduces the seed experiment."""
    from importlib.resources import files

    from rchain.errors import Conflict

    if path.exists() and not force:
        raise Conflict(f"{path} already exists", hint="pass --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(files("rchain").joinpath("templates/pipeline.toml").read_text(encoding="utf-8"), encoding="utf-8")
    click.echo(f"wrote {path}")
    click.echo(f"next: rchain check {path}", err=True)


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path), default="rchain-demo")
def demo(directory: Path) -> None:
    """Write the built-in offline demo experiment into DIRECTORY."""
    from rchain.demo import write_demo

    click.echo(f"wrote {write_demo(directory)}")
    click.echo(f"next: rchain-console {directory}", err=True)


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
def check(config: Path) -> None:
    """Validate CONFIG and print the plan: stages, teachers, variants."""
    from rchain.config import load_config
    from rchain.stages import plan_stages

    cfg = load_config(config)
    out = [f"run        {cfg.run.name}", f"run dir    {cfg.run.dir}"]
    sources = ", ".join(cfg.problems.sources) or "all nine sources"
    limit = f"{cfg.problems.limit:,}" if cfg.problems.limit else "all"
    out.append(f"problems   {cfg.problems.dataset} ({cfg.problems.hub}, split {cfg.problems.split}); {sources}; limit {limit}; shard {cfg.problems.shard}")
    for teacher in cfg.teachers:
        key = f"key from ${teacher.api_key_env}" if teacher.api_key_env else "no key"
        out.append(
            f"teacher    {teacher.name}: {teacher.model} at {teacher.base_url} ({key}), "
            f"{teacher.samples_per_problem} sample(s)/problem, concurrency {teacher.concurrency}"
        )
    for variant in cfg.variants:
        data = variant.dataset or f"clean subset of {variant.teacher}"
        out.append(f"variant    {variant.name}: {variant.model} on {data}, {variant.nproc_per_node * variant.nnodes} GPU(s)")
    out.append(f"eval       {', '.join(cfg.eval.benchmarks)}; {cfg.eval.repeats} samples; temperature {cfg.eval.temperature}; max_tokens {cfg.eval.max_tokens}")
    out.append("stages     " + " -> ".join(plan_stages(cfg)))
    click.echo("\n".join(out))


# ---------------------------------------------------------------------------------------------
# Running stages


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
def run(config: Path) -> None:
    """Run every stage in order, in the foreground, skipping stages already done."""
    from rchain.workspace import resolve_target

    target = _config_target(resolve_target(config))
    _run_stages(target, target.plan, follow_log=False, skip_done=True)
    click.echo(f"run {target.name}: all stages done", err=True)
    if any(s.startswith("eval:") for s in target.plan):
        from rchain.evaluate import write_report

        table, paths = write_report(target.run, target.config)
        click.echo(table, nl=False)
        click.echo(f"report: {paths[0]}", err=True)


def _stage_command(name: str, per_variant: bool) -> None:
    help_text = f"Run the {name} stage in the foreground (Ctrl-C stops it)."

    @click.argument("config", type=click.Path(path_type=Path))
    @ENTRY_OPTION
    def command(config: Path, entry: str | None, variant: str | None = None, dry_run: bool = False, model: str | None = None) -> None:
        from rchain.errors import NotFound, UsageError
        from rchain.workspace import resolve_target

        target = _config_target(resolve_target(config))
        if model is not None:
            # A baseline (eval.baselines) by its id, path or served name, or a variant by name.
            from rchain.serve import baseline_name

            if variant is not None:
                raise UsageError("give --variant or --model, not both")
            names = [v.name for v in target.config.variants] + [baseline_name(b) for b in target.config.eval.baselines]
            if baseline_name(model) not in names:
                raise NotFound(
                    f"{config}: {model!r} is neither a variant nor in eval.baselines",
                    hint=f"add it to eval.baselines to serve and evaluate it beside the variants: {', '.join(names)}",
                )
            stage_ids = [f"{name}:{baseline_name(model)}"]
        elif per_variant:
            names = [variant] if variant else [v.name for v in target.config.variants]
            for vname in names:
                if vname not in {v.name for v in target.config.variants}:
                    raise NotFound(f"{config}: no variant named {vname!r}")
            stage_ids = [f"{name}:{v}" for v in names]
        else:
            stage_ids = [name]
        if dry_run:
            _print_dry_runs(target, stage_ids)
            return
        _run_stages(target, stage_ids, follow_log=True, skip_done=False, entry=entry)

    if per_variant:
        command = click.option("--variant", default=None, help="Only this variant (default: all).")(command)
    if name in ("deploy", "eval"):
        command = click.option("--model", default=None, help="A baseline from eval.baselines (id, path or name) instead of a variant.")(command)
    if name in DRY_RUN_STAGES:
        command = click.option("--dry-run", is_flag=True, help="Print the exact command and environment; run nothing.")(command)
    cli.command(name=name, help=help_text)(command)


for _name in ("generate", "filter", "publish"):
    _stage_command(_name, per_variant=False)
for _name in ("train", "deploy", "eval"):
    _stage_command(_name, per_variant=True)


@cli.command()
@click.argument("target", required=False, type=click.Path(path_type=Path))
def report(target: Path | None) -> None:
    """Print the comparison table of a run's evaluations; write report.md/.csv/.json into it."""
    from rchain.evaluate import write_report
    from rchain.workspace import resolve_target

    resolved = resolve_target(target)
    table, paths = write_report(resolved.run, resolved.config)
    click.echo(table, nl=False)
    click.echo("written: " + ", ".join(str(p) for p in paths), err=True)


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.argument("stage")
@ENTRY_OPTION
def start(config: Path, stage: str, entry: str | None) -> None:
    """Start STAGE detached; it keeps running after this command (and the SSH session) ends."""
    from rchain.stages import prepare_run
    from rchain.supervisor import Supervisor
    from rchain.workspace import resolve_target

    target = _config_target(resolve_target(config))
    _check_stage_id(target, stage)
    run_dir = prepare_run(target.config)
    state = Supervisor(run_dir).start(stage, entry=entry)
    click.echo(f"{stage} started (pid {state.pid}); log: {run_dir.log_path(stage)}")


@cli.command()
@click.argument("target", required=False, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the run's view model as JSON.")
def status(target: Path | None, as_json: bool) -> None:
    """Show every stage of TARGET: state, elapsed time, progress or reason."""
    from rchain.workspace import resolve_target

    view = resolve_target(target).watcher().snapshot()
    if as_json:
        import json

        click.echo(json.dumps(view.to_dict(), indent=2))
    else:
        _print_status(view)


@cli.command()
@click.argument("target", type=click.Path(path_type=Path))
@click.argument("stage", required=False)
@click.option("--grace", type=float, default=None, help="Seconds to wait per signal before SIGKILL (default 10; 60 for the pipeline).")
def stop(target: Path, stage: str | None, grace: float) -> None:
    """Stop STAGE (default: every running stage): SIGTERM to its process group, then SIGKILL."""
    from rchain.runs import ACTIVE
    from rchain.supervisor import Supervisor
    from rchain.workspace import resolve_target

    tgt = resolve_target(target)
    supervisor = Supervisor(tgt.run)
    stage_ids = [stage] if stage else [s for s in tgt.run.stage_ids() if supervisor.status(s) in ACTIVE]
    if stage:
        _check_stage_id(tgt, stage)
    if not stage_ids:
        click.echo("no stage is running", err=True)
    for stage_id in stage_ids:
        before = supervisor.status(stage_id)
        if before not in ACTIVE:
            click.echo(f"{stage_id} is not running ({before})", err=True)
            continue
        state = supervisor.stop(stage_id, grace=grace)
        detail = f": {state.reason}" if state and state.reason else ""
        click.echo(f"{stage_id} {state.status if state else 'stopped'}{detail}")


@cli.command()
@click.argument("target", type=click.Path(path_type=Path))
@click.argument("stage")
@click.option("--grace", type=float, default=None, help="Seconds to wait per signal before SIGKILL (default 10; 60 for the pipeline).")
def restart(target: Path, stage: str, grace: float) -> None:
    """Stop STAGE if it runs, then start it again (it resumes where it stopped)."""
    from rchain.stages import prepare_run
    from rchain.supervisor import Supervisor
    from rchain.workspace import resolve_target

    tgt = _config_target(resolve_target(target))
    _check_stage_id(tgt, stage)
    state = Supervisor(prepare_run(tgt.config)).restart(stage, grace=grace)
    click.echo(f"{stage} restarted (pid {state.pid})")


@cli.command()
@click.argument("target", type=click.Path(path_type=Path))
@click.argument("stage")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new output until the stage ends.")
@click.option("-n", "--lines", default=0, help="Only the last N lines (0 = all).")
def logs(target: Path, stage: str, follow: bool, lines: int) -> None:
    """Print the output of STAGE (its stdout and stderr, wrapped tools included)."""
    from rchain.errors import NotFound
    from rchain.supervisor import Supervisor
    from rchain.workspace import resolve_target

    tgt = resolve_target(target)
    path = tgt.run.log_path(stage)
    if not path.exists():
        raise NotFound(f"{path}: stage {stage} has no log (never started?)")
    offset = 0
    if lines:
        from rchain.runs import log_tail

        click.echo("\n".join(log_tail(path, lines=lines, max_bytes=max(16384, 400 * lines))))
        offset = path.stat().st_size
    if follow or not lines:
        _stream_file(path, offset, lambda: follow and Supervisor(tgt.run).is_active(stage))


@cli.command("teacher-server")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, help="0 picks a free port (printed).")
@click.option("--rate", default=0.0, help="Tokens/s per stream; 0 = unpaced.")
@click.option("--reasoning-tokens", default=60, show_default=True, help="Mean reasoning length.")
@click.option("--reasoning-jitter", default=0.5, show_default=True, help="Length varies by this fraction (0 = fixed).")
@click.option("--problems", "problems", multiple=True, type=click.Path(exists=True, path_type=Path), help="JSONL with problem and solution/answer: the answers it knows.")
@click.option("--error-rate", "error_rates", multiple=True, metavar="MODEL=P", help="Wrong-answer rate of a model (repeatable).")
@click.option("--default-error-rate", default=0.1, show_default=True)
@click.option("--fault", "faults", multiple=True, metavar="KIND=P", help="Inject a fault with probability P: 429, 500, drop, empty, slow, length, think_in_content.")
@click.option("--retry-after", default=1.0, show_default=True, help="Retry-After seconds sent with a 429.")
@click.option("--slow-first-byte", default=2.0, show_default=True, help="Delay of the `slow` fault.")
@click.option("--seed", default=0, show_default=True)
@click.option("--api-key-env", default="", help="Require the key held by this environment variable.")
def teacher_server(host, port, rate, reasoning_tokens, reasoning_jitter, problems, error_rates, default_error_rate, faults, retry_after, slow_first_byte, seed, api_key_env) -> None:
    """A local OpenAI-compatible teacher streaming R1-style replies (demo, tests, benchmarks)."""
    import asyncio
    import os

    from rchain.demo.teacher_server import FAULTS, ServerOptions, serve
    from rchain.errors import UsageError

    def pairs(values: tuple[str, ...], what: str, allowed: tuple[str, ...] | None = None) -> dict[str, float]:
        out = {}
        for value in values:
            key, sep, number = value.partition("=")
            try:
                out[key] = float(number)
            except ValueError:
                raise UsageError(f"{what} expects NAME=PROBABILITY, got {value!r}") from None
            if not sep or (allowed and key not in allowed):
                raise UsageError(f"{what}: unknown name {key!r}" + (f"; expected one of {', '.join(allowed)}" if allowed else ""))
        return out

    options = ServerOptions(
        host=host,
        port=port,
        rate=rate,
        reasoning_tokens=reasoning_tokens,
        reasoning_jitter=reasoning_jitter,
        error_rates=pairs(error_rates, "--error-rate"),
        default_error_rate=default_error_rate,
        faults=pairs(faults, "--fault", FAULTS),
        retry_after_s=retry_after,
        slow_first_byte_s=slow_first_byte,
        problems=list(problems),
        seed=seed,
        api_key=os.environ.get(api_key_env) if api_key_env else None,
    )
    try:
        asyncio.run(serve(options))
    except KeyboardInterrupt:
        pass


# ---------------------------------------------------------------------------------------------
# Helpers


def _config_target(target: Target) -> Target:
    if target.config is None:
        from rchain.errors import NotFound

        raise NotFound(f"{target.run.root}: the run has no pipeline.toml", hint="name the config file instead")
    return target


def _check_stage_id(target: Target, stage: str) -> None:
    from rchain.errors import NotFound

    known = target.plan or target.run.stage_ids()
    # `pipeline` runs the whole plan as one managed process: always there when a config is.
    if target.config is not None and stage == "pipeline":
        return
    if stage not in known and stage not in target.run.stage_ids():
        raise NotFound(f"no stage {stage!r} in this run; stages: {', '.join(known)}")


def _stream_file(path: Path, offset: int, keep_going) -> int:
    """Copy a growing file to stdout from `offset` until `keep_going()` is false and it is drained."""
    out = sys.stdout.buffer
    while True:
        active = keep_going()
        with open(path, "rb") as fh:
            fh.seek(offset)
            chunk = fh.read()
        if chunk:
            out.write(chunk)
            out.flush()
            offset += len(chunk)
        elif not active:
            return offset
        else:
            time.sleep(0.2)


def _print_dry_runs(target: Target, stage_ids: list[str]) -> None:
    from rchain.runs import RunDir, stage_name, stage_target
    from rchain.stages import DRY_RUNS, resolve_entry

    run_dir = RunDir(target.config.run_dir)
    for i, stage_id in enumerate(stage_ids):
        if len(stage_ids) > 1:
            click.echo(("\n" if i else "") + f"# {stage_id}")
        click.echo(resolve_entry(DRY_RUNS[stage_name(stage_id)])(target.config, run_dir, stage_target(stage_id)))


def _run_stages(
    target: Target, stage_ids: list[str], *, follow_log: bool, skip_done: bool, entry: str | None = None
) -> None:
    """Run stages one after the other as managed processes, watching each to its end (see
    rchain.pipeline: servers are started for the stages that need them and stopped after)."""
    from rchain.pipeline import Pipeline
    from rchain.stages import prepare_run
    from rchain.supervisor import Supervisor

    run_dir = prepare_run(target.config)
    supervisor = Supervisor(run_dir)

    def watch(stage_id: str) -> None:
        if follow_log:
            log = run_dir.log_path(stage_id)
            _stream_file(log, offsets.get(stage_id, 0), lambda: supervisor.is_active(stage_id))
        else:
            _watch(target, supervisor, stage_id)

    offsets = {s: run_dir.log_path(s).stat().st_size for s in stage_ids if run_dir.log_path(s).exists()}
    pipeline = Pipeline(
        target.config, supervisor, watch=watch, say=lambda text: click.echo(text, err=True), skip_done=skip_done, entry=entry
    )
    pipeline.run(stage_ids)  # Ctrl-C stops the running stage there; main() reports it


def _watch(target: Target, supervisor: Supervisor, stage_id: str) -> None:
    """Progress of a running stage: a live table on a terminal, periodic plain lines otherwise."""
    watcher = target.watcher()
    if sys.stdout.isatty():
        from rich.live import Live

        with Live(_status_table(watcher.snapshot()), refresh_per_second=4, transient=False) as live:
            while supervisor.is_active(stage_id):
                time.sleep(0.25)
                live.update(_status_table(watcher.snapshot()))
            live.update(_status_table(watcher.snapshot()))
        return
    from rchain.present import detail_lines, detail_text, format_duration

    last_status, last_at = "", 0.0
    while True:
        active = supervisor.is_active(stage_id)
        view = watcher.snapshot()
        stage = view.stage(stage_id)
        # A line whenever the status changes, and every PLAIN_PROGRESS_EVERY_S in between.
        if stage.status != last_status or time.monotonic() - last_at >= PLAIN_PROGRESS_EVERY_S:
            click.echo(f"{stage_id}: {stage.status} {format_duration(stage.elapsed(view.at))} {detail_text(stage)}".rstrip())
            for detail in detail_lines(stage):
                click.echo(f"  {detail}")
            last_status, last_at = stage.status, time.monotonic()
        if not active:
            return
        time.sleep(0.5)


def _status_table(view: RunView):
    from rich.table import Table

    from rchain.present import STATUS_STYLE, detail_text, format_duration, status_symbol

    ascii_only = not _utf8_stdout()
    table = Table(title=f"run {view.name}  ({view.root})", title_justify="left", expand=False)
    table.add_column("stage")
    table.add_column("status")
    table.add_column("elapsed", justify="right")
    table.add_column("detail", overflow="fold")
    for stage in view.stages:
        style = STATUS_STYLE.get(stage.status, "")
        table.add_row(
            stage.id,
            f"[{style}]{status_symbol(stage.status, ascii_only=ascii_only)} {stage.status}[/]",
            format_duration(stage.elapsed(view.at)),
            detail_text(stage),
        )
    return table


def _print_status(view: RunView) -> None:
    from rich.console import Console

    console = Console(soft_wrap=False)
    if not view.stages:
        console.print(f"run {view.name}: no stages")
        return
    from rchain.present import detail_lines

    console.print(_status_table(view))
    for stage in view.stages:
        lines = detail_lines(stage)
        if lines:
            console.print(f"\n[bold]{stage.id}[/]", highlight=False)
            for line in lines:
                console.print("  " + line, markup=False, highlight=False)
        if stage.log_tail:
            console.print(f"\n[bold]{stage.id}[/] {stage.status}, last lines of its log:", highlight=False)
            for line in stage.log_tail:
                console.print("  " + line, markup=False, highlight=False)


def _utf8_stdout() -> bool:
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    return encoding == "utf8"
