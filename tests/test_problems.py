"""Loading and selecting real NuminaMath-CoT rows from ../shared/data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import NUMINA_ROWS, numina_rows
from rchain.config import ProblemsSection
from rchain.errors import DataError
from rchain.problems import download, load_problems, problem_id


def section(path: Path, **kw) -> ProblemsSection:
    return ProblemsSection(dataset=str(path), **kw)


def test_real_rows_load_with_stable_content_derived_ids() -> None:
    problems, report = load_problems(section(NUMINA_ROWS))
    assert report.rows == 349 and not report.bad_rows and report.duplicates == 0
    assert len(problems) == 349
    assert {p.source for p in problems} == {"cn_k12", "synthetic_math"}
    first = json.loads(numina_rows(1)[0])
    assert problems[0].id == problem_id("cn_k12", first["problem"]) == problem_id("cn_k12", first["problem"] + "\n")
    again, _ = load_problems(section(NUMINA_ROWS))
    assert [p.id for p in again] == [p.id for p in problems]


def test_bad_rows_are_reported_with_file_and_line_and_skipped(tmp_path: Path) -> None:
    rows = numina_rows(4)
    lines = [
        rows[0],
        '{"source": "cn_k12", "problem": "torn',  # undecodable
        json.dumps({"source": "cn_k12", "problem": "no solution here"}),  # missing field
        json.dumps({"source": "cn_k12", "problem": 42, "solution": "x"}),  # wrong type
        rows[1],
        rows[1],  # duplicate
        "[1, 2, 3]",  # not an object
        rows[2],
    ]
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    problems, report = load_problems(section(path))
    assert len(problems) == 3 and report.duplicates == 1
    assert report.bad_rows[0].startswith(f"{path}:2: not valid JSON")
    assert report.bad_rows[1] == f"{path}:3: missing field solution"
    assert report.bad_rows[2] == f"{path}:4: expected strings, but problem is int"
    assert report.bad_rows[3] == f"{path}:7: expected a JSON object, got list"


def test_selection_by_source_seeded_limit_and_disjoint_shards() -> None:
    synthetic, _ = load_problems(section(NUMINA_ROWS, sources=["synthetic_math"]))
    assert len(synthetic) == 3 and all(p.source == "synthetic_math" for p in synthetic)
    a, _ = load_problems(section(NUMINA_ROWS, limit=50, seed=7))
    b, _ = load_problems(section(NUMINA_ROWS, limit=50, seed=7))
    c, _ = load_problems(section(NUMINA_ROWS, limit=50, seed=8))
    assert len(a) == 50 and [p.id for p in a] == [p.id for p in b] and {p.id for p in a} != {p.id for p in c}
    shards = [load_problems(section(NUMINA_ROWS, limit=50, seed=7, shard=f"{i}/3"))[0] for i in range(3)]
    ids = [p.id for shard in shards for p in shard]
    assert sorted(ids) == sorted(p.id for p in a)  # together they are the job, each problem once
    assert all(shard for shard in shards)


def test_hub_layout_parquet_is_read_with_datasets(tmp_path: Path) -> None:
    """A dataset repository as ModelScope and the HF hub store NuminaMath-CoT: data/<split>-*.parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [json.loads(line) for line in numina_rows(30)]
    (tmp_path / "repo" / "data").mkdir(parents=True)
    for i, part in enumerate((rows[:20], rows[20:])):
        table = pa.table({k: [r[k] for r in part] for k in ("source", "problem", "solution")})
        pq.write_table(table, tmp_path / "repo" / "data" / f"train-0000{i}-of-00002.parquet")
    pq.write_table(pa.table({"source": ["x"], "problem": ["p"], "solution": ["s"]}), tmp_path / "repo" / "data" / "test-00000-of-00001.parquet")
    problems, report = load_problems(ProblemsSection(dataset=str(tmp_path / "repo"), split="train"))
    assert len(problems) == 30 and [p.problem for p in problems] == [r["problem"] for r in rows]
    # The same folder is what a hub download returns: the hub path reads it the same way.
    fetched, _ = load_problems(ProblemsSection(dataset="AI-MO/NuminaMath-CoT", split="train"), fetch=lambda *a: tmp_path / "repo")
    assert [p.id for p in fetched] == [p.id for p in problems]
    single, _ = load_problems(section(tmp_path / "repo" / "data" / "train-00000-of-00002.parquet"))
    assert len(single) == 20


def test_unreachable_hub_gives_a_clear_error(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError) as info:
        download("AI-MO/NuminaMath-CoT", "huggingface", "train")
    assert info.value.message.startswith("problems.dataset: cannot fetch 'AI-MO/NuminaMath-CoT' from huggingface")
    assert "local" in info.value.hint
