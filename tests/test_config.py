"""Config loading: the template, path resolution, the frozen copy, and one clear line per error."""

from __future__ import annotations

import subprocess
from importlib.resources import files
from pathlib import Path

import pytest

from conftest import MINIMAL_CONFIG, rchain_cmd
from rchain.config import BENCHMARKS, NUMINA_SOURCES, dump_config, load_config, parse_config
from rchain.errors import ConfigError, ExitCode
from rchain.stages import plan_stages

TEMPLATE = files("rchain").joinpath("templates/pipeline.toml").read_text(encoding="utf-8")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "x.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return info.value.message.replace(f"{tmp_path}/", "")


def test_template_reproduces_the_seed_experiment(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, TEMPLATE))
    assert [t.name for t in config.teachers] == ["MathR", "MathR-32B-Distill"]
    assert config.teachers[0].model == "deepseek-reasoner"
    assert config.teachers[1].model == "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B"
    assert [(v.name, v.teacher, v.model) for v in config.variants] == [
        ("MathR-Distill-7B", "MathR", "Qwen/Qwen2.5-7B-Instruct"),
        ("MathR-32B-Distill-7B", "MathR-32B-Distill", "Qwen/Qwen2.5-7B-Instruct"),
    ]
    assert config.eval.benchmarks == list(BENCHMARKS)
    assert (config.eval.repeats, config.eval.temperature, config.eval.top_p, config.eval.max_tokens) == (5, 0.6, 0.95, 28000)
    # A literal backslash, not the backspace the seed sent.
    assert config.prompt.instruction == "Please reason step by step, and put your final answer within \\boxed{}."
    assert "\b" not in config.prompt.instruction
    assert "<think> </think> and <answer> </answer>" in config.prompt.system
    assert config.problems.sources == [] and len(NUMINA_SOURCES) == 9
    assert config.run.dir == str(tmp_path / "runs" / "mathr")


def test_relative_paths_are_taken_from_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    text = MINIMAL_CONFIG.replace('name = "t"', 'name = "t"\ndir = "out/run1"') + '\n[eval.local_paths]\nmath_500 = "data/m500"\n'
    path = tmp_path / "sub" / "p.toml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path)
    assert config.run.dir == str(tmp_path / "sub" / "out" / "run1")
    assert config.problems.dataset == str(tmp_path / "sub" / "problems.jsonl")
    assert config.eval.local_paths["math_500"] == str(tmp_path / "sub" / "data" / "m500")
    # A hub id stays a hub id.
    assert load_config(write(tmp_path, TEMPLATE)).problems.dataset == "AI-MO/NuminaMath-CoT"


def test_frozen_copy_reads_back_identically_from_elsewhere(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, TEMPLATE))
    frozen = dump_config(config)
    elsewhere = tmp_path / "far" / "away" / "pipeline.toml"
    assert parse_config(frozen, elsewhere) == config


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("concurrency = 128", "concurrency = 0"), "x.toml: teachers[1].concurrency must be >= 1, got 0"),
        (("limit = 0 ", "limt = 0 "), "x.toml: problems.limt is not a known key (did you mean 'limit'?)"),
        (("repeats = 5 ", 'repeats = "5" '), 'x.toml: eval.repeats must be a whole number, got "5"'),
        (('keep = "all"', 'keep = "best"'), "x.toml: filter.keep must be one of 'all', 'one_per_problem' or 'shortest', got \"best\""),
        (('name = "mathr"\n', ''), "x.toml: run.name is required"),
        (('teacher = "MathR"\n', 'teacher = "Nobody"\n'), "x.toml: variants[0].teacher names no teacher: 'Nobody'"),
        (('sources = []', 'sources = ["math", "algebra"]'), "x.toml: problems.sources: unknown source 'algebra'"),
        (('shard = "0/1"', 'shard = "4/4"'), "x.toml: problems.shard must look like 'i/n' with 0 <= i < n"),
        (('port = 8000', 'port = 80000'), "x.toml: deploy.port must be <= 65535, got 80000"),
        (("# [variants.swift]\n# max_length = 16384", '[variants.swift]\n"--max_length" = 16384'), "x.toml: variants[0].swift: '--max_length' is not a swift argument name"),
    ],
)
def test_each_error_is_one_line_naming_file_and_key(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    assert edit[0] in TEMPLATE
    message = error_of(tmp_path, TEMPLATE.replace(edit[0], edit[1], 1))
    assert message.startswith(expected), message
    assert "\n" not in message


def test_a_secret_in_the_config_is_refused_without_echoing_it(tmp_path: Path) -> None:
    text = TEMPLATE.replace('api_key_env = "DEEPSEEK_API_KEY"', 'api_key = "sk-live-0123456789abcdef"')
    message = error_of(tmp_path, text)
    assert message.startswith("x.toml: teachers[0].api_key is not accepted")
    assert "sk-live" not in message
    text = TEMPLATE.replace('api_key_env = "DEEPSEEK_API_KEY"', 'api_key_env = "sk-live-0123456789abcdef"')
    message = error_of(tmp_path, text)
    assert "teachers[0].api_key_env" in message and "sk-live" not in message


def test_invalid_toml_names_file_and_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[run]\nname = "x"\nbroken = \n')
    assert message.startswith("x.toml: invalid TOML") and "line 3" in message


def test_duplicate_names_are_rejected(tmp_path: Path) -> None:
    text = TEMPLATE.replace('name = "MathR-32B-Distill"\n', 'name = "MathR"\n', 1)
    assert "teachers[1].name repeats 'MathR'" in error_of(tmp_path, text)


def test_plan_trains_every_variant_then_deploys_and_evaluates_each_in_turn(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, TEMPLATE))
    assert plan_stages(config) == [
        "generate",
        "filter",
        "train:MathR-Distill-7B",
        "train:MathR-32B-Distill-7B",
        "deploy:MathR-Distill-7B",
        "eval:MathR-Distill-7B",
        "deploy:MathR-32B-Distill-7B",
        "eval:MathR-32B-Distill-7B",
        # the baseline, served and evaluated under its name
        "deploy:Qwen2.5-7B-Instruct",
        "eval:Qwen2.5-7B-Instruct",
    ]


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (("[[variants]]", "[[variant]]"), "variant "),  # unknown key
        (("concurrency = 64", 'concurrency = "64"'), "teachers[0].concurrency"),  # wrong type
        (('model = "deepseek-reasoner"', ""), "teachers[0].model is required"),  # missing field
    ],
)
def test_check_exits_2_with_one_line_on_stderr(tmp_path: Path, edit: tuple[str, str], key: str) -> None:
    path = write(tmp_path, TEMPLATE.replace(edit[0], edit[1], 1))
    result = subprocess.run(rchain_cmd("check", str(path)), capture_output=True, text=True)
    assert result.returncode == ExitCode.USAGE == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {path}: ") and key in lines[0]
