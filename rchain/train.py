"""The train stage: ms-swift SFT of one variant on a clean subset, watched through its own log.

`swift sft` runs as a child of the stage process (see rchain.tools). Before it starts, pre-flight
checks look at what users get wrong (batch arithmetic, sequence lengths, the EOS token, GPUs,
disk). While it runs, ms-swift's `logging.jsonl` becomes TrainProgress events, and NVML readings
GpuSample events. A restart resumes from the newest complete checkpoint.
"""

from __future__ import annotations

import functools
import math
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from rchain.config import PipelineConfig, SwiftValue, Variant
from rchain.errors import NotFound, StageFailed
from rchain.events import Check, Preflight, TrainProgress
from rchain.gpu import GpuMonitor, NoGpu, read_gpus
from rchain.records import iter_objects
from rchain.runs import RunDir
from rchain.tools import Child, child_env, shell_command, swift_argv, swift_flags, tail_reason

#: The seed's recipe in ms-swift 4.x spelling. gradient_accumulation_steps is derived from the
#: variant's global batch; model, dataset and output_dir come from the run.
SEED_RECIPE: dict[str, SwiftValue] = {
    "tuner_type": "full",  # 3.x: --train_type
    "torch_dtype": "bfloat16",
    "num_train_epochs": 5,
    "per_device_train_batch_size": 1,
    "per_device_eval_batch_size": 1,
    "learning_rate": 1e-5,
    "eval_steps": 100,
    "save_steps": 100,
    "save_total_limit": 10,
    "logging_steps": 5,
    "gradient_checkpointing": True,
    "gradient_checkpointing_kwargs": '{"use_reentrant": false}',
    "deepspeed": "zero3",
    # ms-swift 3.x held out 1% for evaluation by default; 4.x holds out nothing, so the seed's
    # "eval every 100 steps" needs it said.
    "split_dataset_ratio": 0.01,
}
#: Bytes per parameter of a full fine-tuning checkpoint with optimizer state: bf16 weights (2)
#: plus fp32 master weights and Adam's two moments (12).
FULL_CHECKPOINT_BYTES_PER_PARAM = 14
CURVE_POINTS = 300
LENGTH_SAMPLE = 2000


# -- the command ---------------------------------------------------------------------------------


def find_variant(config: PipelineConfig, name: str | None) -> Variant:
    for variant in config.variants:
        if variant.name == name:
            return variant
    raise NotFound(f"no variant named {name!r} in the config", hint="variants: " + ", ".join(v.name for v in config.variants))


def dataset_spec(run: RunDir, variant: Variant) -> str:
    """What `--dataset` gets: the variant's own dataset, or the run's clean file of its teacher."""
    return variant.dataset or str(run.clean_path(variant.teacher))


def sft_arguments(
    config: PipelineConfig, variant: Variant, run: RunDir, *, resume_from: Path | None = None
) -> dict[str, SwiftValue]:
    """Every `swift sft` argument, in order: run plumbing, the seed recipe, then the variant's
    own overrides (which win; an empty string drops the argument)."""
    args: dict[str, SwiftValue] = {
        "model": variant.model,
        "dataset": dataset_spec(run, variant),
        "output_dir": str(run.train_dir(variant.name)),
        "add_version": False,  # a fixed output_dir, so a restart finds its checkpoints
    }
    args.update(SEED_RECIPE)
    per_device = int(variant.swift.get("per_device_train_batch_size", SEED_RECIPE["per_device_train_batch_size"]))  # type: ignore[arg-type]
    args["gradient_accumulation_steps"] = max(1, variant.global_batch // (per_device * gpus_of(variant)))
    args.update(variant.swift)
    # An empty string removes a recipe argument, so that ms-swift's own default applies
    # (`deepspeed = ""` on a machine without DeepSpeed).
    args = {k: v for k, v in args.items() if v != ""}
    if resume_from is not None:
        args["resume_from_checkpoint"] = str(resume_from)
    return args


def gpus_of(variant: Variant) -> int:
    return variant.nproc_per_node * variant.nnodes


def launch_env(variant: Variant) -> dict[str, str]:
    """ms-swift's torchrun settings. Unset for one process on one node, which then runs without
    torchrun (the CPU case)."""
    env: dict[str, str] = {}
    if variant.nproc_per_node > 1 or variant.nnodes > 1:
        env["NPROC_PER_NODE"] = str(variant.nproc_per_node)
    if variant.nnodes > 1:
        env["NNODES"] = str(variant.nnodes)
        for name in ("NODE_RANK", "MASTER_ADDR", "MASTER_PORT"):
            if name in os.environ:
                env[name] = os.environ[name]
    return env


def sft_command(config: PipelineConfig, variant: Variant, run: RunDir, *, resume_from: Path | None = None) -> tuple[list[str], dict[str, str]]:
    return swift_argv("sft", swift_flags(sft_arguments(config, variant, run, resume_from=resume_from))), launch_env(variant)


def dry_run(config: PipelineConfig, run: RunDir, name: str) -> str:
    """The exact command and environment `rchain train` would run for variant `name`."""
    variant = find_variant(config, name)
    argv, env = sft_command(config, variant, run, resume_from=last_checkpoint(run.train_dir(variant.name)))
    return shell_command(argv, env)


# -- checkpoints ---------------------------------------------------------------------------------


def complete_checkpoints(output_dir: Path) -> list[tuple[int, Path]]:
    """(step, dir) of every checkpoint that finished saving (it has trainer_state.json), by step."""
    found = []
    for path in output_dir.glob("checkpoint-*"):
        match = re.fullmatch(r"checkpoint-(\d+)", path.name)
        if match and (path / "trainer_state.json").is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


def last_checkpoint(output_dir: Path) -> Path | None:
    found = complete_checkpoints(output_dir)
    return found[-1][1] if found else None


# -- the log -------------------------------------------------------------------------------------


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([dhms])")
_UNIT_S = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}


def parse_duration(value: object) -> float | None:
    """ms-swift's `"1h 3m 52s"` (or a plain number of seconds) in seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str):
        return None
    parts = _DURATION.findall(value)
    if not parts:
        return None
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def _number(record: dict[str, Any], *keys: str) -> float | None:
    for key in keys:
        value = record.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                continue
    return None


def step_of(record: dict[str, Any]) -> tuple[int, int] | None:
    """(step, max steps) of a logging.jsonl record; key names drift, so several are read."""
    pair = record.get("global_step/max_steps")
    if isinstance(pair, str) and "/" in pair:
        step, _, total = pair.partition("/")
        if step.strip().isdigit() and total.strip().isdigit():
            return int(step), int(total)
    step = record.get("global_step", record.get("step"))
    if isinstance(step, int) and not isinstance(step, bool):
        total = record.get("max_steps")
        return step, total if isinstance(total, int) else 0
    return None


def seconds_per_step(record: dict[str, Any]) -> float | None:
    s_per_it = _number(record, "train_speed(s/it)")
    if s_per_it is not None:
        return s_per_it
    it_per_s = _number(record, "train_speed(iter/s)")
    return 1.0 / it_per_s if it_per_s else None


@dataclass
class TrainLog:
    """What ms-swift's logging.jsonl says so far. A resumed run appends the steps after its
    checkpoint again; a later record of a step replaces the earlier one."""

    path: Path
    train: dict[int, dict[str, Any]] = field(default_factory=dict)
    evals: dict[int, float] = field(default_factory=dict)
    max_steps: int = 0
    latest: dict[str, Any] = field(default_factory=dict)
    #: A summary line (`last_model_checkpoint`) written after `attempt_offset`.
    finished: bool = False
    attempt_offset: int = 0
    _offset: int = 0
    _partial: bytes = b""

    def start_attempt(self) -> None:
        """Lines from here on belong to this attempt (a summary before it is an earlier one's)."""
        self.poll()
        self.attempt_offset = self._offset
        self.finished = False

    def poll(self) -> bool:
        """Read new complete lines; True when any changed the picture."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return False
        if size < self._offset:  # replaced or truncated: read it again
            self.__init__(self.path)  # type: ignore[misc]
        if size == self._offset:
            return False
        with open(self.path, "rb") as fh:
            fh.seek(self._offset)
            data = self._partial + fh.read(size - self._offset)
        self._offset = size
        *lines, self._partial = data.split(b"\n")
        changed = False
        for line in lines:
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(record, dict):
                changed |= self._add(record)
        return changed

    def _add(self, record: dict[str, Any]) -> bool:
        if "last_model_checkpoint" in record:
            if self._offset > self.attempt_offset:
                self.finished = True
            return True
        position = step_of(record)
        if position is None:
            return False
        step, total = position
        if total:
            self.max_steps = total
        eval_loss = _number(record, "eval_loss")
        if eval_loss is not None:
            self.evals[step] = eval_loss
        elif _number(record, "loss") is not None:
            self.train[step] = record
            # A resume rewinds to the checkpoint's step: later steps of the old attempt go.
            for stale in [s for s in self.train if s > step]:
                del self.train[stale]
        self.latest = record
        return True

    def snapshot(self, variant: str, checkpoints: list[int], resumed_from: int) -> TrainProgress:
        last_step = max(self.train) if self.train else 0
        last = self.train.get(last_step, {})
        position = step_of(self.latest)
        step = max(last_step, position[0] if position else 0)
        return TrainProgress(
            variant=variant,
            step=step,
            max_steps=self.max_steps,
            epoch=_number(self.latest, "epoch"),
            loss=_number(last, "loss"),
            eval_loss=self.evals[max(self.evals)] if self.evals else None,
            learning_rate=_number(last, "learning_rate"),
            grad_norm=_number(last, "grad_norm"),
            token_acc=_number(last, "token_acc", "acc"),
            seconds_per_step=seconds_per_step(self.latest),
            elapsed_s=parse_duration(self.latest.get("elapsed_time")),
            remaining_s=parse_duration(self.latest.get("remaining_time")),
            checkpoints=checkpoints,
            loss_curve=thin([(s, float(r["loss"])) for s, r in sorted(self.train.items())]),
            eval_loss_curve=thin(sorted(self.evals.items())),
            resumed_from=resumed_from,
            finished=self.finished,
        )


def thin(points: list[tuple[int, float]], limit: int = CURVE_POINTS) -> list[tuple[int, float]]:
    """At most `limit` evenly spaced points, always keeping the last."""
    if len(points) <= limit:
        return points
    stride = len(points) / limit
    kept = [points[int(i * stride)] for i in range(limit - 1)]
    return [*kept, points[-1]]


# -- pre-flight ----------------------------------------------------------------------------------


def preflight(config: PipelineConfig, variant: Variant, run: RunDir, args: dict[str, SwiftValue]) -> list[Check]:
    """The checks shown before a launch, each pass/warn/fail with one line of what was found."""
    rows = _dataset_rows(run, variant)
    return [
        _check_batch(variant, args, len(rows) if rows is not None else None),
        _check_lengths(variant, args, rows),
        _check_eos(variant),
        _check_gpus(variant),
        _check_disk(variant, run, args),
    ]


def _dataset_rows(run: RunDir, variant: Variant) -> list[dict[str, Any]] | None:
    """The local training rows, or None for a hub dataset."""
    spec = dataset_spec(run, variant)
    path = Path(spec)
    if not path.is_file():
        return None
    return list(iter_objects(path))


def _check_batch(variant: Variant, args: dict[str, SwiftValue], rows: int | None) -> Check:
    per_device = int(args.get("per_device_train_batch_size", 1))  # type: ignore[arg-type]
    accumulation = int(args.get("gradient_accumulation_steps", 1))  # type: ignore[arg-type]
    gpus = gpus_of(variant)
    global_batch = per_device * accumulation * gpus
    text = f"global batch {per_device} per device x {accumulation} accumulation x {gpus} GPU(s) = {global_batch}"
    level = "pass"
    if global_batch != variant.global_batch:
        level = "warn"
        text += f", not the {variant.global_batch} asked for ({variant.global_batch} is not a multiple of {per_device * gpus})"
    if rows is not None:
        held_out = float(args.get("split_dataset_ratio", 0.0))  # type: ignore[arg-type]
        train_rows = rows - int(rows * held_out)
        epochs = float(args.get("num_train_epochs", 1))  # type: ignore[arg-type]
        max_steps = int(args.get("max_steps", -1))  # type: ignore[arg-type]
        steps = max_steps if max_steps > 0 else math.ceil(train_rows / global_batch) * math.ceil(epochs) if train_rows else 0
        save_steps = int(args.get("save_steps", 500))  # type: ignore[arg-type]
        text += f"; {train_rows} training rows -> {steps} optimizer steps"
        if steps == 0:
            level, text = "fail", text + " (nothing to train on)"
        elif steps < save_steps and level == "pass":
            level = "warn"
            text += f" (fewer than save_steps {save_steps}: no checkpoint before the end)"
    return Check(name="batch", level=level, text=text)  # type: ignore[arg-type]


@functools.lru_cache(maxsize=4)
def _tokenizer(model: str):
    """The student's tokenizer, loaded once for all the checks (a 7B model's takes a second)."""
    from transformers import AutoTokenizer

    if Path(model).is_dir():
        return AutoTokenizer.from_pretrained(model)
    return AutoTokenizer.from_pretrained(model, local_files_only=True)


def _check_lengths(variant: Variant, args: dict[str, SwiftValue], rows: list[dict[str, Any]] | None) -> Check:
    if rows is None:
        return Check(name="lengths", level="warn", text="hub dataset: lengths are not checked before the download")
    try:
        tokenizer = _tokenizer(variant.model)
    except Exception as exc:  # offline box, gated model, not downloaded yet
        return Check(name="lengths", level="warn", text=f"tokenizer of {variant.model} not available locally ({type(exc).__name__}); lengths not checked")
    import random

    sample = rows if len(rows) <= LENGTH_SAMPLE else random.Random(0).sample(rows, LENGTH_SAMPLE)
    lengths = []
    for row in sample:
        messages = row.get("messages")
        if isinstance(messages, list):
            text = tokenizer.apply_chat_template(messages, tokenize=False)
            lengths.append(len(tokenizer(text, add_special_tokens=False)["input_ids"]))
    if not lengths:
        return Check(name="lengths", level="fail", text="no row has a `messages` list")
    max_length = args.get("max_length")
    limit = int(max_length) if max_length else int(getattr(tokenizer, "model_max_length", 0) or 0)  # type: ignore[arg-type]
    lengths.sort()
    buckets = [1024, 2048, 4096, 8192, 16384, 32768]
    histogram = []
    lower = 0
    for upper in buckets:
        count = sum(1 for n in lengths if lower < n <= upper)
        if count:
            histogram.append(f"<={upper // 1024}k {count}")
        lower = upper
    if lengths[-1] > buckets[-1]:
        histogram.append(f">32k {sum(1 for n in lengths if n > buckets[-1])}")
    over = sum(1 for n in lengths if limit and n > limit)
    scope = f"{len(lengths)} rows" + (f" (a sample of {len(rows)})" if len(sample) < len(rows) else "")
    text = f"{scope}: median {lengths[len(lengths) // 2]}, p95 {lengths[int(len(lengths) * 0.95) - 1 if len(lengths) > 1 else 0]}, max {lengths[-1]} tokens; {', '.join(histogram)}"
    if over:
        share = over / len(lengths)
        return Check(name="lengths", level="warn", text=f"{text}; {over} ({share:.1%}) longer than max_length {limit} would be cut or dropped")
    return Check(name="lengths", level="pass", text=f"{text}; all within max_length {limit or 'unset'}")


def _check_eos(variant: Variant) -> Check:
    """The token that closes an assistant turn in the chat template must be one generation stops
    on, or the trained model never stops (open-r1 #492)."""
    try:
        tokenizer = _tokenizer(variant.model)
    except Exception as exc:
        return Check(name="eos", level="warn", text=f"tokenizer of {variant.model} not available locally ({type(exc).__name__}); EOS not checked")
    marker = "rchain-eos-probe"
    try:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": "hi"}, {"role": "assistant", "content": marker}], tokenize=False
        )
    except Exception as exc:
        return Check(name="eos", level="fail", text=f"the chat template does not render a conversation: {exc}")
    after = text[text.rindex(marker) + len(marker):]
    ids = tokenizer(after, add_special_tokens=False)["input_ids"]
    if not ids:
        return Check(name="eos", level="fail", text="the chat template ends an assistant turn with nothing: the model will not learn to stop")
    stop_ids = _stop_token_ids(variant.model, tokenizer)
    closing = tokenizer.convert_ids_to_tokens(ids[0])
    if ids[0] in stop_ids:
        return Check(name="eos", level="pass", text=f"assistant turns end with {closing}, a stop token")
    names = ", ".join(str(tokenizer.convert_ids_to_tokens(i)) for i in sorted(stop_ids)) or "none"
    return Check(name="eos", level="fail", text=f"assistant turns end with {closing}, but generation stops on {names}: the model would not stop")


def _stop_token_ids(model: str, tokenizer) -> set[int]:
    ids: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    try:
        from transformers import GenerationConfig

        generation = GenerationConfig.from_pretrained(model, local_files_only=not Path(model).is_dir())
        eos = generation.eos_token_id
        ids.update(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    except Exception:
        pass
    return ids


def _check_gpus(variant: Variant) -> Check:
    wanted = variant.nproc_per_node
    try:
        gpus = read_gpus()
    except NoGpu as exc:
        if wanted > 1:
            return Check(name="gpus", level="fail", text=f"{exc}; the variant asks for {wanted} per node")
        return Check(name="gpus", level="warn", text=f"{exc}; training runs on the CPU")
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        allowed = {int(i) for i in visible.split(",") if i.strip().isdigit()}
        gpus = [g for g in gpus if g.index in allowed]
    free = ", ".join(f"{g.index}: {(g.memory_total_mib - g.memory_used_mib) / 1024:.0f} GiB free" for g in gpus)
    if len(gpus) < wanted:
        return Check(name="gpus", level="fail", text=f"{len(gpus)} GPU(s) visible, the variant asks for {wanted} ({free})")
    return Check(name="gpus", level="pass", text=f"{len(gpus)} GPU(s) visible ({free})")


def _parameter_count(model: str) -> float | None:
    path = Path(model)
    if path.is_dir():
        config = orjson.loads((path / "config.json").read_bytes()) if (path / "config.json").is_file() else {}
        dtype = str(config.get("torch_dtype") or config.get("dtype") or "bfloat16")
        width = 4 if "32" in dtype else 2
        total = sum(f.stat().st_size for f in path.glob("*.safetensors"))
        return total / width if total else None
    match = re.search(r"(\d+(?:\.\d+)?)\s*[bB](?![a-zA-Z])", model.rsplit("/", 1)[-1])
    return float(match.group(1)) * 1e9 if match else None


def _check_disk(variant: Variant, run: RunDir, args: dict[str, SwiftValue]) -> Check:
    where = run.train_dir(variant.name)
    probe = where
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    params = _parameter_count(variant.model)
    if params is None:
        return Check(name="disk", level="warn", text=f"{free / 1e9:.0f} GB free; size of {variant.model} unknown")
    full = str(args.get("tuner_type", "full")) == "full" and not args.get("save_only_model")
    per_checkpoint = params * (FULL_CHECKPOINT_BYTES_PER_PARAM if full else 2)
    kept = int(args.get("save_total_limit") or 1)  # type: ignore[arg-type]
    needed = per_checkpoint * kept
    text = f"{free / 1e9:.1f} GB free; a checkpoint is about {_size(per_checkpoint)}, x {kept} kept = {_size(needed)}"
    if free < per_checkpoint:
        return Check(name="disk", level="fail", text=text + ": not even one fits")
    if free < needed:
        return Check(name="disk", level="warn", text=text + ": not all of them fit")
    return Check(name="disk", level="pass", text=text)


def _size(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


# -- the stage -----------------------------------------------------------------------------------


def run(ctx) -> None:
    config: PipelineConfig = ctx.config
    variant = find_variant(config, ctx.target)
    run_dir: RunDir = ctx.run
    output_dir = run_dir.train_dir(variant.name)
    output_dir.mkdir(parents=True, exist_ok=True)
    if not variant.dataset:
        clean = run_dir.clean_path(variant.teacher)
        if not clean.is_file() or clean.stat().st_size == 0:
            raise NotFound(f"{clean}: no clean subset of teacher {variant.teacher!r} to train on", hint="run the filter stage first")

    resume = last_checkpoint(output_dir)
    args = sft_arguments(config, variant, run_dir, resume_from=resume)
    checks = preflight(config, variant, run_dir, args)
    ctx.events.emit(Preflight(subject=variant.name, checks=checks))
    for check in checks:
        ctx.message(f"pre-flight {check.name}: {check.level} - {check.text}", level={"pass": "info", "warn": "warning", "fail": "error"}[check.level])
    failed = [c.name for c in checks if c.level == "fail"]
    if failed:
        raise StageFailed(f"pre-flight failed ({', '.join(failed)}): {next(c.text for c in checks if c.level == 'fail')}")

    resumed_from = int(resume.name.split("-")[1]) if resume else 0
    if resume:
        ctx.message(f"resuming {variant.name} from {resume.name}")
    argv, env = swift_argv("sft", swift_flags(args)), launch_env(variant)
    print("command:\n" + shell_command(argv, env), flush=True)

    log = TrainLog(output_dir / "logging.jsonl")
    log.start_attempt()
    seen: list[Any] = [None]

    def report() -> None:
        checkpoints = [step for step, _ in complete_checkpoints(output_dir)]
        changed = log.poll()
        key = (checkpoints, len(log.train), len(log.evals), log.finished, log.latest.get("global_step/max_steps"))
        if changed or key != seen[0]:
            seen[0] = key
            ctx.events.emit(log.snapshot(variant.name, checkpoints, resumed_from))

    ctx.cooperative_stop = True
    with GpuMonitor(ctx.events.emit):
        child = Child(argv, child_env(config, env))
        code = child.wait(ctx.stop_requested.is_set, every=report)
    report()
    if ctx.stop_requested.is_set():
        last = last_checkpoint(output_dir)
        ctx.message(f"stopped at step {log.snapshot(variant.name, [], 0).step}; " + (f"{last.name} is complete, a restart resumes from it" if last else "no complete checkpoint yet"))
        return
    if code != 0:
        raise StageFailed(f"swift sft exited with {code}: {tail_reason(ctx.run.log_path(ctx.stage_id))}")
    final = last_checkpoint(output_dir)
    ctx.message(f"{variant.name} trained: {log.snapshot(variant.name, [], 0).step} steps, last checkpoint {final}")
