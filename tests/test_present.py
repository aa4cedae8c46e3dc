"""The one formatter the CLI and the console share."""

from __future__ import annotations

from rchain.events import GenerateProgress, Progress
from rchain.present import detail_lines, detail_text, format_duration, generate_line, status_symbol
from rchain.runs import StageView, fold_event


def test_generate_line_shows_every_figure_a_person_watches() -> None:
    p = GenerateProgress(
        teacher="MathR", done=250, total=1000, failed=3, in_flight=64, concurrency_limit=48, cooling_down=True,
        retries={"http_429": 12, "stalled": 1}, requests_per_min=90.4, reasoning_tokens_per_s=2811.2,
        answer_tokens_per_s=101.0, latency_p50_s=41.25, latency_p95_s=88.0, eta_s=498.0, cost_usd=1.234,
        projected_cost_usd=4.9, truncated=5,
    )
    assert generate_line(p) == (
        "MathR: 250/1,000 (25%) | 3 failed | 64 in flight (limit 48, cooling down) | 90 req/min | 2,811+101 tok/s"
        " | latency p50 41.2s p95 88.0s | ETA 8m18s | $1.23 of ~$4.90 | 5 truncated (2.0%) | retries http_429 12, stalled 1"
    )


def test_stage_detail_prefers_reason_then_progress_then_message() -> None:
    view = StageView(id="generate", status="running")
    view = fold_event(view, Progress(done=5, total=20, unit="replies", t=1.0))
    view = fold_event(view, GenerateProgress(teacher="A", done=5, total=20, t=1.0))
    assert detail_text(view) == "5/20 replies (25%)"
    assert detail_lines(view) == [generate_line(GenerateProgress(teacher="A", done=5, total=20, t=1.0))]
    failed = StageView(id="generate", status="failed", reason="boom", progress=view.progress)
    assert detail_text(failed) == "boom"
    assert [format_duration(s) for s in (None, 59, 61, 3700)] == ["-", "59s", "1m01s", "1h01m"]
    assert status_symbol("running", ascii_only=True) == ">" and status_symbol("crashed") == "✘"
