"""The pipeline config: one TOML file describes an experiment.

One loader (`load_config`), typed models that forbid unknown keys, a docstring on every field, and
errors that name the file and the key path and say what was expected, e.g.

    pipeline.toml: teachers[1].concurrency must be >= 1, got 0

Relative paths are taken relative to the config file's folder and stored absolute, so the frozen
copy in a run directory (`pipeline.toml`) reads the same from anywhere. API keys are never part of
the config: a teacher names the environment variable that holds its key.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from rchain.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

NUMINA_SOURCES: tuple[str, ...] = (
    "amc_aime",
    "math",
    "gsm8k",
    "olympiads",
    "cn_k12",
    "synthetic_math",
    "synthetic_amc",
    "aops_forum",
    "orca_math",
)
BENCHMARKS: tuple[str, ...] = ("math_500", "gpqa_diamond")
LOCAL_DATA_SUFFIXES = (".jsonl", ".json", ".parquet")

#: The instruction the seed appends to every problem (a literal backslash before "boxed").
DEFAULT_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
#: The seed's system prompt: stored in each record's `messages`, not sent to the teacher.
DEFAULT_SYSTEM_PROMPT = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant "
    "solves it. The assistant first thinks about the reasoning process in the mind and then "
    "provides the user with the answer. The reasoning process and answer are enclosed within "
    "<think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning "
    "process here </think> <answer> answer here </answer>."
)

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Teacher and variant names become file names and stage ids (`train:<variant>`).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


def _resolve_path(value: str, info: ValidationInfo) -> str:
    """Make a relative path absolute against the config file's folder."""
    base = (info.context or {}).get("base_dir")
    if not value or base is None:
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (Path(base) / path).resolve())


def _resolve_hub_or_path(value: str, info: ValidationInfo) -> str:
    """A hub id (`AI-MO/NuminaMath-CoT`) unless it names a local file or folder."""
    base = (info.context or {}).get("base_dir")
    if base is None or not value:
        return value
    looks_local = (
        value.startswith((".", "/", "~"))
        or value.endswith(LOCAL_DATA_SUFFIXES)
        or (Path(base) / value).exists()
    )
    return _resolve_path(value, info) if looks_local else value


LocalPath = Annotated[str, AfterValidator(_resolve_path)]
HubOrPath = Annotated[str, AfterValidator(_resolve_hub_or_path)]
SwiftValue = str | int | float | bool | list[str] | list[int] | list[float]


def _check_swift_names(args: dict) -> dict:
    for name in args:
        if not name.isidentifier() or name.startswith("-"):
            raise ValueError(f"{name!r} is not a swift argument name (write it without dashes, e.g. max_length)")
    return args


class _Section(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, use_attribute_docstrings=True
    )


class RunSection(_Section):
    name: str = Field(min_length=1)
    """Name of the experiment; also the default run directory name."""
    dir: LocalPath = ""
    """The run directory. Default: runs/<name> beside the config file."""


class ProblemsSection(_Section):
    dataset: HubOrPath = "AI-MO/NuminaMath-CoT"
    """Hub dataset id, or a local .jsonl/.parquet file with NuminaMath-CoT columns."""
    hub: Literal["modelscope", "huggingface"] = "modelscope"
    """Which hub serves a dataset id (ignored for local files)."""
    split: str = "train"
    """Dataset split to read."""
    sources: list[str] = []
    """NuminaMath sources to keep; empty means all nine."""
    limit: int = Field(default=0, ge=0)
    """Number of problems to take after filtering by source; 0 means all."""
    seed: int = 0
    """Seed of the random sample taken when `limit` is set."""
    shard: str = "0/1"
    """This box's share of the job, `i/n` (0-based), so several boxes can split one run."""

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, sources: list[str]) -> list[str]:
        for source in sources:
            if source not in NUMINA_SOURCES:
                raise ValueError(
                    f"unknown source {source!r}; expected some of {', '.join(NUMINA_SOURCES)}"
                )
        return sources

    @field_validator("shard")
    @classmethod
    def _shard_format(cls, shard: str) -> str:
        match = re.fullmatch(r"(\d+)/(\d+)", shard)
        if not match or int(match[2]) < 1 or int(match[1]) >= int(match[2]):
            raise ValueError(f"must look like 'i/n' with 0 <= i < n, got {shard!r}")
        return shard


class PromptSection(_Section):
    instruction: str = DEFAULT_INSTRUCTION
    """Appended to each problem after a newline to form the user prompt."""
    system: str = DEFAULT_SYSTEM_PROMPT
    """System prompt stored in each record's `messages`."""
    send_system: bool = False
    """Also send the system prompt to the teacher (the seed does not)."""


class GenerationParams(_Section):
    temperature: float = Field(default=0.6, ge=0.0, le=2.0)
    """Sampling temperature."""
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    """Nucleus sampling mass."""
    max_tokens: int = Field(default=32768, ge=1)
    """Maximum tokens in a reply (reasoning included)."""


class Prices(_Section):
    input: float = Field(default=0.0, ge=0.0)
    """USD per million input tokens (cache misses)."""
    output: float = Field(default=0.0, ge=0.0)
    """USD per million output tokens (reasoning included)."""
    cache_hit: float = Field(default=0.0, ge=0.0)
    """USD per million input tokens served from the provider's cache."""


class Teacher(_Section):
    name: str = Field(min_length=1, pattern=NAME_PATTERN)
    """Name of the dataset this teacher produces (e.g. MathR); names its raw/clean files."""
    model: str = Field(min_length=1)
    """Model id sent to the API (e.g. deepseek-reasoner)."""
    base_url: str = Field(min_length=1)
    """OpenAI-compatible endpoint, ending in /v1 where the server needs it."""
    api_key_env: str = ""
    """Name of the environment variable holding the API key; empty for servers without auth."""
    concurrency: int = Field(default=32, ge=1)
    """Requests in flight at most."""
    rpm: int = Field(default=0, ge=0)
    """Requests per minute at most; 0 = no limit."""
    tpm: int = Field(default=0, ge=0)
    """Tokens per minute at most; 0 = no limit."""
    samples_per_problem: int = Field(default=1, ge=1)
    """Replies asked for each problem."""
    timeout_s: float = Field(default=1800.0, gt=0.0)
    """Per-request timeout; long enough for a 30k-token reply."""
    max_attempts: int = Field(default=6, ge=1)
    """Attempts per request before it is recorded as failed (retried on the next resume)."""
    retry_base_s: float = Field(default=1.0, gt=0.0)
    """First retry waits up to this long; each further one doubles it (with full jitter)."""
    retry_max_s: float = Field(default=60.0, gt=0.0)
    """Longest wait between two attempts (a Retry-After header wins)."""
    stall_timeout_s: float = Field(default=300.0, gt=0.0)
    """A stream that sends nothing for this long is dropped and retried."""
    generation: GenerationParams = GenerationParams()
    """Sampling parameters."""
    prices: Prices = Prices()
    """Prices for the cost estimate."""

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, name: str) -> str:
        if name and not _ENV_NAME.match(name):
            raise ValueError(
                "must be the NAME of an environment variable (e.g. DEEPSEEK_API_KEY), "
                "not the key itself"
            )
        return name


class LlmJudgeSection(_Section):
    enabled: bool = False
    """Ask an LLM about the replies the rules could not settle (off by default)."""
    model: str = ""
    """Model id sent to the judge's API."""
    base_url: str = ""
    """OpenAI-compatible endpoint of the judge."""
    api_key_env: str = ""
    """Name of the environment variable holding the judge's API key."""
    concurrency: int = Field(default=8, ge=1)
    """Judge requests in flight at most."""
    max_tokens: int = Field(default=4096, ge=1)
    """Longest judge reply (a reasoning judge needs room to think)."""
    reasons: list[str] = ["parse_timeout", "parse_error", "ambiguous_answer", "no_gold_answer"]
    """Rule reasons whose replies go to the judge instead of being settled by that reason."""

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, name: str) -> str:
        if name and not _ENV_NAME.match(name):
            raise ValueError("must be the NAME of an environment variable, not the key itself")
        return name

    @model_validator(mode="after")
    def _complete(self) -> LlmJudgeSection:
        if self.enabled and not (self.model and self.base_url):
            raise ValueError("enabled = true needs model and base_url")
        return self


class FilterSection(_Section):
    unverifiable: Literal["drop", "keep"] = "drop"
    """What to do with replies whose reference has no checkable answer (proofs)."""
    keep: Literal["all", "one_per_problem", "shortest"] = "all"
    """Which correct replies of a problem go into the clean subset."""
    decontaminate: bool = True
    """Drop problems that share an 8-gram with an evaluation benchmark."""
    timeout_s: float = Field(default=5.0, gt=0.0)
    """Wall-clock limit to verify one reply; past it the verdict is parse_timeout."""
    workers: int = Field(default=0, ge=0)
    """Verification worker processes; 0 = one per core."""
    llm_judge: LlmJudgeSection = LlmJudgeSection()
    """An LLM for the replies the rules could not settle, recorded as its verdicts."""


class Variant(_Section):
    name: str = Field(min_length=1, pattern=NAME_PATTERN)
    """Name of the trained model (e.g. MathR-Distill-7B)."""
    teacher: str = Field(min_length=1)
    """Teacher whose clean subset this variant trains on."""
    model: HubOrPath = "Qwen/Qwen2.5-7B-Instruct"
    """Student model: hub id or local path (start it with ./ when it does not exist yet)."""
    dataset: HubOrPath = ""
    """Train on this dataset instead of the run's clean subset (hub id or local file)."""
    nproc_per_node: int = Field(default=8, ge=1)
    """GPUs per node (ms-swift's NPROC_PER_NODE)."""
    nnodes: int = Field(default=1, ge=1)
    """Nodes (ms-swift's NNODES); set MASTER_ADDR, NODE_RANK in the environment."""
    global_batch: int = Field(default=128, ge=1)
    """Sequences per optimizer step over all GPUs; sets gradient_accumulation_steps."""
    swift: dict[str, SwiftValue] = {}
    """Any `swift sft` argument by its own name, overriding the seed recipe ("" removes one)."""

    @field_validator("swift")
    @classmethod
    def _swift_names(cls, args: dict[str, SwiftValue]) -> dict[str, SwiftValue]:
        return _check_swift_names(args)


class DeploySection(_Section):
    backend: Literal["vllm", "transformers"] = "vllm"
    """Inference backend of `swift deploy` (transformers works on CPU)."""
    host: str = "127.0.0.1"
    """Address the server binds."""
    port: int = Field(default=8000, ge=1, le=65535)
    """Port of the first variant's server; each further variant, then each baseline, the next."""
    gpu_memory_utilization: float = Field(default=0.9, gt=0.0, le=1.0)
    """vLLM's share of GPU memory."""
    tensor_parallel_size: int = Field(default=1, ge=1)
    """vLLM tensor parallel size."""
    ready_timeout_s: float = Field(default=900.0, gt=0.0)
    """How long to wait for /v1/models to answer before the deploy counts as failed."""
    swift: dict[str, SwiftValue] = {}
    """Any `swift deploy` argument by its own name (e.g. vllm_max_model_len)."""

    @field_validator("swift")
    @classmethod
    def _swift_names(cls, args: dict[str, SwiftValue]) -> dict[str, SwiftValue]:
        return _check_swift_names(args)


class TeacherServerSection(_Section):
    enabled: bool = False
    """Run rchain's local OpenAI-compatible teacher server as the run's `teachers` stage (the demo)."""
    host: str = "127.0.0.1"
    """Address it binds."""
    port: int = Field(default=8765, ge=1, le=65535)
    """Port it binds; point the teachers' base_url at it."""
    rate: float = Field(default=40.0, ge=0.0)
    """Tokens per second per stream (0: as fast as possible)."""
    reasoning_tokens: int = Field(default=60, ge=1)
    """Mean reasoning length in tokens."""
    error_rates: dict[str, float] = {}
    """Share of wrong final answers, by model name."""
    default_error_rate: float = Field(default=0.1, ge=0.0, le=1.0)
    """Share of wrong final answers of other models."""
    faults: dict[str, float] = {}
    """Probability of each fault per request (429, 500, drop, empty, slow, length, think_in_content)."""
    seed: int = 0
    """Seed of its randomness."""


class EvalSection(_Section):
    benchmarks: list[Literal["math_500", "gpqa_diamond"]] = list(BENCHMARKS)
    """evalscope benchmarks to run."""
    repeats: int = Field(default=5, ge=1)
    """Samples per problem; Pass@1 is their mean accuracy."""
    temperature: float = Field(default=0.6, ge=0.0, le=2.0)
    """Sampling temperature."""
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    """Nucleus sampling mass."""
    max_tokens: int = Field(default=28000, ge=1)
    """Maximum tokens per answer."""
    concurrency: int = Field(default=32, ge=1)
    """Requests in flight against the deployed model."""
    limit: int = Field(default=0, ge=0)
    """Evaluate only the first N problems of each benchmark (0: all); for smoke tests."""
    baselines: list[str] = []
    """Models evaluated beside the variants (e.g. Qwen/Qwen2.5-7B-Instruct)."""
    local_paths: dict[str, LocalPath] = {}
    """Local copies of the benchmarks for offline boxes, by benchmark name."""

    @field_validator("local_paths")
    @classmethod
    def _known_benchmarks(cls, paths: dict[str, str]) -> dict[str, str]:
        for name in paths:
            if name not in BENCHMARKS:
                raise ValueError(f"unknown benchmark {name!r}; expected one of {', '.join(BENCHMARKS)}")
        return paths


class PublishSection(_Section):
    enabled: bool = False
    """Publish the raw and clean subsets at the end of `rchain run`."""
    hub: Literal["modelscope", "huggingface"] = "modelscope"
    """Where to upload."""
    repo_id: str = ""
    """Dataset repository, e.g. your-name/MathR; with several teachers put {teacher} in it."""
    token_env: str = "MODELSCOPE_API_TOKEN"
    """Name of the environment variable holding the hub token."""
    endpoint: str = ""
    """Hub URL (a mirror or a private hub); empty: the hub's own."""
    private: bool = True
    """Create the repository private."""
    shard_rows: int = Field(default=50_000, gt=0)
    """Rows per shard file (`raw/train-00000.jsonl`, ...)."""
    progressive: bool = False
    """Upload the raw subset during generation, a shard at a time as it fills, so a long run is
    never all-or-nothing (needs repo_id). The publish stage then uploads the rest and the card."""


class PipelineConfig(_Section):
    run: RunSection
    """The run: name and directory."""
    problems: ProblemsSection = ProblemsSection()
    """Which problems to send to the teachers."""
    prompt: PromptSection = PromptSection()
    """How a problem becomes a request and a stored record."""
    teachers: list[Teacher] = []
    """Teacher models; each produces one raw and one clean subset."""
    teacher_server: TeacherServerSection = TeacherServerSection()
    """The local teacher server (offline demo and tests)."""
    filter: FilterSection = FilterSection()
    """Answer checking and keep policy."""
    variants: list[Variant] = []
    """Models to train, one per dataset."""
    deploy: DeploySection = DeploySection()
    """Serving of trained models."""
    eval: EvalSection = EvalSection()
    """Evaluation protocol."""
    publish: PublishSection = PublishSection()
    """Dataset publishing."""

    @model_validator(mode="after")
    def _cross_references(self) -> PipelineConfig:
        _unique([t.name for t in self.teachers], "teachers", "name")
        _unique([v.name for v in self.variants], "variants", "name")
        # A baseline is served and reported under its last path component, beside the variants.
        served = [v.name for v in self.variants]
        for i, model in enumerate(self.eval.baselines):
            name = Path(model.rstrip("/")).name
            if not name or name in served:
                raise _KeyedValueError(f"eval.baselines[{i}]", f"{model!r} would be served as {name!r}, which a variant or another baseline already is")
            served.append(name)
        teacher_names = [t.name for t in self.teachers]
        for i, variant in enumerate(self.variants):
            if variant.teacher not in teacher_names and not variant.dataset:
                known = ", ".join(teacher_names) or "none configured"
                raise _KeyedValueError(
                    f"variants[{i}].teacher",
                    f"names no teacher: {variant.teacher!r} (teachers: {known}); "
                    "or set variants[{i}].dataset".replace("{i}", str(i)),
                )
        if self.publish.progressive and not self.publish.repo_id:
            raise _KeyedValueError("publish.progressive", "uploads during generation need publish.repo_id")
        return self

    @property
    def run_dir(self) -> Path:
        return Path(self.run.dir)

    def teacher(self, name: str) -> Teacher:
        for teacher in self.teachers:
            if teacher.name == name:
                return teacher
        raise KeyError(name)

    def variant(self, name: str) -> Variant:
        for variant in self.variants:
            if variant.name == name:
                return variant
        raise KeyError(name)

    def secret_env_names(self) -> list[str]:
        """Environment variables whose values must never be written anywhere."""
        names = [t.api_key_env for t in self.teachers if t.api_key_env]
        if self.filter.llm_judge.api_key_env:
            names.append(self.filter.llm_judge.api_key_env)
        if self.publish.token_env:
            names.append(self.publish.token_env)
        return names


class _KeyedValueError(ValueError):
    """A cross-field error that knows which key it is about."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key} {message}")
        self.key = key
        self.message = message


def _unique(names: list[str], section: str, field: str) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise _KeyedValueError(f"{section}[{i}].{field}", f"repeats {name!r}; names must be unique")
        seen.add(name)


# ---------------------------------------------------------------------------------------------
# Loading


def load_config(path: str | Path) -> PipelineConfig:
    """Read, validate and resolve a pipeline config. Raises ConfigError naming file and key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file", hint="create one with `rchain init`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse_config(text, path)


def parse_config(text: str, path: Path) -> PipelineConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    base_dir = path.resolve().parent
    try:
        config = PipelineConfig.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        lines = [f"{path}: {line}" for line in describe_errors(exc, data)]
        raise ConfigError("\n".join(lines)) from None
    if not config.run.dir:
        run = config.run.model_copy(update={"dir": str(base_dir / "runs" / config.run.name)})
        config = config.model_copy(update={"run": run})
    return config


def dump_config(config: PipelineConfig) -> str:
    """The frozen, self-contained TOML copy written into a run directory (absolute paths only)."""
    import tomli_w

    return tomli_w.dumps(config.model_dump(mode="json"))


# ---------------------------------------------------------------------------------------------
# Error messages


def describe_errors(exc: ValidationError, data: Any) -> list[str]:
    """One line per error: `key.path must be <expected>, got <value>`."""
    lines: list[str] = []
    for error in exc.errors(include_url=False):
        loc = _clean_loc(error["loc"])
        key = _format_loc(loc)
        kind = error["type"]
        ctx = error.get("ctx") or {}
        value = error.get("input")
        if kind == "value_error" and isinstance(ctx.get("error"), _KeyedValueError):
            keyed = ctx["error"]
            lines.append(f"{keyed.key} {keyed.message}")
        elif kind == "missing":
            lines.append(f"{key} is required")
        elif kind == "extra_forbidden":
            lines.append(_unknown_key_message(loc, key))
        elif kind in _BOUNDS:
            bound = ctx.get(_BOUNDS[kind][1])
            lines.append(f"{key} must be {_BOUNDS[kind][0]} {bound}, got {_show(value)}")
        elif kind == "literal_error":
            lines.append(f"{key} must be one of {ctx.get('expected')}, got {_show(value)}")
        elif kind == "too_short" and isinstance(value, str):
            lines.append(f"{key} must not be empty")
        elif kind == "string_pattern_mismatch":
            lines.append(f"{key} may hold only letters, digits, '.', '_' and '-', got {_show(value)}")
        elif kind in _TYPES:
            lines.append(f"{key} must be {_TYPES[kind]}, got {_show(value)}")
        else:
            message = error["msg"].removeprefix("Value error, ")
            sep = " " if message.startswith("must") else ": "
            lines.append(f"{key}{sep}{message}" if key else message)
    return lines or [str(exc)]


_BOUNDS = {
    "greater_than_equal": (">=", "ge"),
    "greater_than": (">", "gt"),
    "less_than_equal": ("<=", "le"),
    "less_than": ("<", "lt"),
}
_TYPES = {
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # Union members and validators add their own labels to loc ("str", "function-after[...]").
    return tuple(
        part for part in loc
        if isinstance(part, int) or not ("[" in part or part in {"str", "int", "float", "bool", "list[str]", "list[int]", "list[float]"})
    )


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 40 else "a list"
    return repr(value)


def _unknown_key_message(loc: tuple[Any, ...], key: str) -> str:
    parent = _model_at(PipelineConfig, loc[:-1])
    name = str(loc[-1])
    if name in {"api_key", "token", "key"}:
        return (
            f"{key} is not accepted: keep secrets out of the config; put the key in an "
            "environment variable and name that variable (api_key_env / token_env)"
        )
    message = f"{key} is not a known key"
    if parent is not None:
        close = difflib.get_close_matches(name, list(parent.model_fields), n=1)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        else:
            message += f"; expected one of: {', '.join(parent.model_fields)}"
    return message


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that a key path points into, or None when it leaves the models."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            args = typing.get_args(current)
            current = args[0] if args else None
        elif isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            current = current.model_fields[part].annotation
        else:
            return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


# ---------------------------------------------------------------------------------------------
# Reference


def reference_markdown() -> str:
    """A Markdown table of every config key, from the models' own docstrings (in the README)."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, info in model.model_fields.items():
            annotation = info.annotation
            args = typing.get_args(annotation)
            inner = args[0] if typing.get_origin(annotation) is list and args else None
            key = f"{prefix}{name}"
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                walk(annotation, f"{key}.")
                continue
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                walk(inner, f"{key}[].")
                continue
            if info.is_required():
                default = "required"
            else:
                shown = json.dumps(info.get_default(call_default_factory=True))
                default = f"`{shown if len(shown) <= 40 else shown[:36] + '…' + shown[-1]}`"
            doc = (info.description or "").replace("|", "\\|").replace("\n", " ")
            rows.append(f"| `{key}` | {_type_name(annotation)} | {default} | {doc} |")

    walk(PipelineConfig, "")
    return "\n".join(rows)


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return " or ".join(f'"{a}"' for a in typing.get_args(annotation))
    if origin is Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin is list:
        return f"list of {_type_name(typing.get_args(annotation)[0])}"
    if origin is dict:
        return "table"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(annotation, str(annotation))
