"""The filter on real data from ../shared/data: verdict tables, the timeout path with a real
hanging input, the stage end to end with keep policies and overrides."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pytest

from conftest import SHARED_DATA, numina_rows, rchain_cmd
from rchain.verify.answers import close, normalize, number
from rchain.verify.judge import Comparison, Decision, precheck, settle_here
from rchain.verify.symbolic import symbolic_equal
from rchain.verify.pool import TIMED_OUT, VerifyPool
from rchain.verify.runner import Settled, judge_in_worker, judge_replies

NUMINA = [json.loads(line) for line in numina_rows()]
R1 = [json.loads(line) for line in (SHARED_DATA / "r1_responses" / "deepseek_r1_cohere_reasoning_v5.jsonl").read_text(encoding="utf-8").split("\n") if line.strip()]


def reply(think: str, answer: str) -> str:
    return f"<think>{think}</think>\n\n<answer>{answer}</answer>"


R1_BY_ID = {r["id"]: r for r in R1}


def r1_assistant(row: dict) -> str:
    """A real R1 reply as the generate stage stores it (the row keeps where reasoning ends)."""
    raw = row["response_raw"] or ""
    end, start = int(row["reasoning_end"] or 0), int(row["content_start"] or 0)
    return reply(raw[:end], raw[start:])


def settle(source: str, problem: str, solution: str, assistant: str, finish: str = "stop") -> tuple[str, str]:
    return settle_here(precheck(source, problem, solution, assistant, finish))


def mc_row() -> dict:
    return next(r for r in NUMINA if r["problem"].startswith("Given that an interior angle of a regular polygon is $144"))


def test_multiple_choice_accepts_letter_text_or_value_on_a_real_cn_k12_row() -> None:
    row = mc_row()  # options A: 12, B: 10, C: 8, D: 6; reference boxes 10 and then B
    judge = lambda answer: settle("cn_k12", row["problem"], row["solution"], reply("interior 144 so exterior 36", answer))  # noqa: E731
    assert judge("The answer is $\\boxed{B}$.") == ("correct", "mc_letter_match")
    assert judge("The answer is $\\boxed{\\text{(B)}}$.") == ("correct", "mc_letter_match")
    assert judge("So $n = \\boxed{10}$.") == ("correct", "mc_text_match")
    assert judge("So $n = \\boxed{\\frac{20}{2}}$.") == ("correct", "mc_value_match")
    assert judge("The answer is $\\boxed{C}$.") == ("wrong", "mc_letter_mismatch")
    assert judge("So $n = \\boxed{8}$.") == ("wrong", "mc_value_mismatch")


@pytest.mark.parametrize(
    ("assistant", "finish", "expected"),
    [
        (reply("thinking", "$\\boxed{540}$"), "length", ("malformed", "truncated")),
        ("The answer is \\boxed{540}", "stop", ("malformed", "no_think_answer_tags")),
        (reply("", "$\\boxed{540}$"), "stop", ("malformed", "empty_think")),
        (reply("thinking", ""), "stop", ("malformed", "empty_answer")),
        (reply("thinking", "I could not solve it."), "stop", ("malformed", "no_boxed_in_reply")),
        (reply("thinking", "$\\boxed{540}$ or maybe $\\boxed{450}$"), "stop", ("malformed", "conflicting_answers")),
        (reply("thinking", "He runs $\\boxed{540}$ meters."), "stop", ("correct", "exact_match")),
        (reply("thinking", "He runs $\\boxed{540 \\text{ meters}}$."), "stop", ("correct", "numeric_match")),
        (reply("thinking", "He runs $\\boxed{540.0}$."), "stop", ("correct", "numeric_match")),
        (reply("thinking", "He runs $\\boxed{450}$."), "stop", ("wrong", "numeric_mismatch")),
    ],
)
def test_reason_codes_on_a_real_gsm8k_problem(assistant: str, finish: str, expected: tuple[str, str]) -> None:
    row = next(r for r in R1 if r["id"] == "cohere_r1_gsm8k_3")  # gold: #### 540
    assert settle("gsm8k", row["problem"], row["gold_solution"], assistant, finish) == expected


def test_answerless_references_are_unverifiable() -> None:
    proof = next(r for r in NUMINA if "\\boxed" in r["solution"])
    assert settle("olympiads", "Prove that there are infinitely many primes.", "Suppose finitely many... contradiction.", reply("t", "$\\boxed{1}$")) == ("unverifiable", "proof_problem")
    assert settle("math", "Compute it.", "It is $\\boxed{}$.", reply("t", "$\\boxed{1}$")) == ("unverifiable", "empty_gold_boxed")
    assert settle("cn_k12", "Which? A: 1 B: 2 C: 3 D: 4", "It is $\\boxed{}$.", reply("t", "$\\boxed{B}$")) == ("unverifiable", "empty_gold_boxed")
    assert settle("math", "Compute it.", "We are done.", reply("t", "$\\boxed{1}$")) == ("unverifiable", "no_gold_answer")
    assert proof  # the real rows all have a boxed reference (see PROVENANCE.md)


def test_numbers_in_the_forms_word_problems_use() -> None:
    assert number("1,234") == 1234 and number("\\$5.50") == number("5.5")
    assert number("12\\%") == 12 and number("2\\frac{1}{2}") == number("5/2") == number("\\dfrac{5}{2}")
    assert number("-\\frac{3}{4}") == number("-0.75") and number("7 apples") == 7
    assert number("x+1") is None and number("\\sqrt{2}") is None
    # A decimal written for a fraction with no finite decimal is allowed its last digit; two
    # fractions are exact (a Qwen reply's 2240/78126, a digit off 2240/78125, passed as 448/15625).
    assert close(Fraction(1, 3), number("0.333333"), decimal=True) and not close(Fraction(1, 3), number("0.33333"), decimal=True)
    assert settle("math", "p", "$\\boxed{\\frac{448}{15625}}$", reply("t", "$\\boxed{\\frac{2240}{78125}}$")) == ("correct", "numeric_match")
    assert settle("math", "p", "$\\boxed{\\frac{448}{15625}}$", reply("t", "$\\boxed{\\frac{2240}{78126}}$")) == ("wrong", "numeric_mismatch")
    # A reference that rounds ("approximately 16.67") stands for the exact value it
    # rounds, to the places it shows; not for a value that has a finite decimal, nor to one place.
    rounded = "The average speed is approximately $\\boxed{16.67}$ km/h."
    for exact in ("\\frac{50}{3}", "16\\frac{2}{3}", "\\$16.67"):
        assert settle("orca_math", "p", rounded, reply("t", f"$\\boxed{{{exact}}}$")) == ("correct", "numeric_match"), exact
    for other in ("\\frac{49}{3}", "16.666", "\\frac{1667}{100} + \\frac{1}{1000}", "16.7"):
        assert settle("orca_math", "p", rounded, reply("t", f"$\\boxed{{{other}}}$"))[0] == "wrong", other
    assert settle("orca_math", "p", "$\\boxed{2.66}$", reply("t", "$\\boxed{\\frac{8}{3}}$"))[0] == "wrong"  # 2.67, rounded
    assert settle("orca_math", "p", "$\\boxed{0.3}$", reply("t", "$\\boxed{\\frac{1}{3}}$"))[0] == "wrong"
    assert settle("orca_math", "p", "$\\boxed{33.33\\%}$", reply("t", "$\\boxed{\\frac{100}{3}\\%}$"))[0] == "correct"
    # Scientific notation is a number (a MARIO_EVAL case: 2.314814814815e-3 is 1/432 rounded).
    assert number("3 \\times 10^8") == 300_000_000 and number("1.5\\cdot 10^{-2}") == Fraction(3, 200)
    assert number("3 \\times 10^{2^{100}}") is None  # an exponent that is not a plain number is sympy's
    assert PAIRS["eq0559"]["expected"] and pair_settle("eq0559") == ("correct", "numeric_match")
    assert settle("math", "p", "$\\boxed{3 \\times 10^{8}}$", reply("t", "$\\boxed{3 \\times 10^{9}}$")) == ("wrong", "numeric_mismatch")
    assert settle("math", "p", "$\\boxed{\\frac{1}{3}}$", reply("t", "$\\boxed{3.33 \\times 10^{-1}}$"))[0] == "wrong"


def test_symbolic_equivalence_through_math_verify() -> None:
    assert symbolic_equal((("\\frac{\\sqrt{3}}{2}", "\\frac{1}{2}\\sqrt{3}"),))
    assert symbolic_equal((("(-1, 1)", "(-1,1)"), ("x^2+2x+1", "(x+1)^2")))
    assert not symbolic_equal((("\\frac{\\sqrt{3}}{2}", "\\frac{\\sqrt{2}}{2}"),))


def test_real_r1_math500_replies_agree_with_their_labels() -> None:
    """DeepSeek-R1 replies to MATH-500 with a boxed answer, judged against the real gold answer
    (the LLM-judge labels are 96% positive and noisy, so agreement, not perfection, is asked)."""
    rows = [r for r in R1 if r["benchmark"] == "math500" and str(r["has_boxed"]) == "True"]
    labels = _judge_all([("math", row["problem"], f"$\\boxed{{{row['gold_answer']}}}$", r1_assistant(row)) for row in rows])
    agree = sum((label == "correct") == (str(row["label_correct"]) == "True") for row, label in zip(rows, labels, strict=True))
    total = len(rows)
    assert total > 100
    assert agree / total >= 0.9, f"{agree}/{total}"


def test_a_hanging_comparison_costs_its_time_limit_and_the_pool_goes_on() -> None:
    items = [("hang", (("2^{2^{100}}", "4^{2^{99}}"),)), ("half", (("\\frac{1}{2}", "0.5"),))]
    with VerifyPool(symbolic_equal, workers=1, timeout_s=1.5) as pool:
        started = time.monotonic()
        results = dict(pool.map(items))
        assert time.monotonic() - started < 10
        assert pool.killed == 1
    assert results == {"hang": TIMED_OUT, "half": True}


def _wait_for_file(item: tuple[int, str]) -> bool:
    """Item 0 waits for a file to appear (a file, not an Event: a worker killed inside Event.wait
    can leave its lock held)."""
    index, path = item
    deadline = time.monotonic() + 30
    while index == 0 and not Path(path).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return True


def test_the_pool_takes_items_ahead_while_its_workers_are_busy(tmp_path: Path) -> None:
    """The pool reads its items ahead of the workers (the filter's are raw lines to decode).
    Item 0 holds the only worker until the last item has been produced; a pool that waited for
    item 0 before taking more would never produce it, and item 0 would time out."""
    released = tmp_path / "released"

    def items():
        for i in range(12):
            if i == 11:
                released.touch()
            yield i, (i, str(released))

    with VerifyPool(_wait_for_file, workers=1, timeout_s=5) as pool:
        results = dict(pool.map(items()))
    assert results == {i: True for i in range(12)}


def _pid_or_die(item: str) -> object:
    """A worker's pid, or a worker that dies as a crash in native code would end it."""
    import os
    import signal

    if item == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    if item == "fail":
        raise ValueError("no such answer")
    return symbolic_equal(((item, item),)) and os.getpid()


def test_items_sent_with_a_hanging_one_are_answered_and_only_it_times_out() -> None:
    """Items go to a worker in chunks and come back a chunk at a time: the items answered before
    the hanging one (their answers never sent) and those queued behind it are judged again by the
    next worker; the limit is each item's own."""
    items = [("a", (("\\frac{1}{2}", "0.5"),)), ("b", (("2", "2"),)), ("hang", (("2^{2^{100}}", "4^{2^{99}}"),)), ("c", (("3", "4"),))]
    with VerifyPool(symbolic_equal, workers=1, timeout_s=1.5) as pool:
        results = dict(pool.map(items))
        assert pool.killed == 1
    assert results == {"a": True, "b": True, "hang": TIMED_OUT, "c": False}


def _length_or_hang(item: tuple[str, str]) -> int:
    if item[0] == "hang":
        symbolic_equal((("2^{2^{100}}", "4^{2^{99}}"),))
    return len(item[1])


def test_long_replies_queued_behind_a_hanging_one_never_stall_the_pool() -> None:
    """Replies of 60 KB each, more than a pipe holds, queued for a worker that hangs on the first:
    a pool that sent it more while it hung would wait on the pipe and never see the time limit
    pass (run in a process of its own, so that such a stall fails the test instead of hanging it)."""
    import os
    import signal
    import sys

    script = (
        "from test_filter import _length_or_hang\n"
        "from rchain.verify.pool import TIMED_OUT, VerifyPool\n"
        "items = [('hang', ('hang', ''))] + [(i, ('long', 'x' * 60_000)) for i in range(100)]\n"
        "with VerifyPool(_length_or_hang, workers=1, timeout_s=1.5) as pool:\n"
        "    results = dict(pool.map(items))\n"
        "assert results.pop('hang') is TIMED_OUT and results == {i: 60_000 for i in range(100)}, results\n"
        "print('judged', len(results))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *filter(None, [os.environ.get("PYTHONPATH")])])}
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)
    try:
        out, _ = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise AssertionError("the pool stalled behind a hanging reply") from None
    assert process.returncode == 0 and "judged 100" in out, out


def test_a_worker_that_dies_costs_its_item_only_and_follow_ups_are_judged_in_the_same_map() -> None:
    import os
    import signal

    from rchain.verify.pool import WorkerError

    with VerifyPool(_pid_or_die, workers=2, timeout_s=10) as pool:
        results = {}
        for key, result in pool.map([("x", "x"), ("y", "y"), ("die", "die"), ("fail", "fail"), ("z", "z")]):
            results[key] = result
            if key == "x":
                pool.submit("x again", "x")  # a follow-up a result asks for (the filter's sympy step)
        assert pool.killed == 0  # a crash is not a timeout
    assert isinstance(results["die"], WorkerError) and "SIGKILL" in str(results["die"]), results["die"]
    assert isinstance(results["fail"], WorkerError) and "ValueError: no such answer" in str(results["fail"])
    assert all(isinstance(results[k], int) for k in ("x", "y", "z", "x again")), results
    # Two heavy items go one to each worker, not both to the first.
    with VerifyPool(_pid_or_die, workers=2, timeout_s=10) as pool:
        assert len(set(dict(pool.map([(1, "1"), (2, "2")])).values())) == 2
    # A worker that died while it had nothing to do (between two teachers' files) is replaced.
    with VerifyPool(_pid_or_die, workers=1, timeout_s=10) as pool:
        (first,) = dict(pool.map([(1, "1")])).values()
        os.kill(first, signal.SIGKILL)  # its pipe may close before or after the next item is sent
        (second,) = dict(pool.map([(2, "2")])).values()
        assert second != first


# ---------------------------------------------------------------------------------------------
# The stage


def write_raw(run_root: Path, teacher: str, records: list[dict]) -> Path:
    path = run_root / "data" / "raw" / f"{teacher}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def raw_record(uid: str, pid: str, source: str, problem: str, solution: str, assistant: str, k: int = 0, finish: str = "stop") -> dict:
    return {"uid": uid, "id": pid, "source": source, "problem": problem, "solution": solution, "sample_index": k,
            "finish_reason": finish, "messages": [{"role": "user", "content": problem}, {"role": "assistant", "content": assistant}]}


def test_filter_stage_with_keep_policies_overrides_and_a_hanging_reply(tmp_path: Path) -> None:
    mc = mc_row()
    gsm = next(r for r in R1 if r["id"] == "cohere_r1_gsm8k_3")
    records = [
        raw_record("mc:0", "mc", "cn_k12", mc["problem"], mc["solution"], reply("long thinking " * 20, "$\\boxed{B}$"), 0),
        raw_record("mc:1", "mc", "cn_k12", mc["problem"], mc["solution"], reply("short", "$\\boxed{10}$"), 1),
        raw_record("mc:2", "mc", "cn_k12", mc["problem"], mc["solution"], reply("short", "$\\boxed{C}$"), 2),
        raw_record("g:0", "g", "gsm8k", gsm["problem"], gsm["gold_solution"], reply("t", "$\\boxed{450}$"), 0),
        raw_record("g:1", "g", "gsm8k", gsm["problem"], gsm["gold_solution"], reply("t", "$\\boxed{540}$"), 1, finish="length"),
        raw_record("h:0", "h", "math", "Simplify.", "$\\boxed{2^{2^{100}}}$", reply("t", "$\\boxed{4^{2^{99}}}$"), 0),
    ]
    config = tmp_path / "pipeline.toml"
    config.write_text('[run]\nname = "f"\n[filter]\ntimeout_s = 1.5\nkeep = "all"\n', encoding="utf-8")
    run_root = tmp_path / "runs" / "f"
    raw = write_raw(run_root, "MathR", records)
    with open(raw, "a", encoding="utf-8") as fh:
        fh.write('{"uid": "broken", "messages": "not a list"}\n')
    raw_before = raw.read_bytes()

    result = subprocess.run(rchain_cmd("filter", str(config)), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{raw}:7: skipped, not a raw record" in result.stdout
    assert re.search(r"cn_k12\s+3\s+2\s+1\s+0\s+0\s+66.7%", result.stdout), result.stdout
    verdicts = {v["uid"]: v for v in map(json.loads, (run_root / "data/verdicts/MathR.jsonl").read_text().splitlines())}
    assert {uid: (v["label"], v["reason"]) for uid, v in verdicts.items()} == {
        "mc:0": ("correct", "mc_letter_match"),
        "mc:1": ("correct", "mc_text_match"),
        "mc:2": ("wrong", "mc_letter_mismatch"),
        "g:0": ("wrong", "numeric_mismatch"),
        "g:1": ("malformed", "truncated"),
        "h:0": ("unverifiable", "parse_timeout"),
    }
    clean = lambda: [json.loads(line)["uid"] for line in (run_root / "data/clean/MathR.jsonl").read_text().splitlines()]  # noqa: E731
    assert clean() == ["mc:0", "mc:1"]
    assert raw.read_bytes() == raw_before  # the raw subset is never modified

    # A rerun judges nothing again; a new policy and manual overrides need no re-verification.
    config.write_text('[run]\nname = "f"\n[filter]\ntimeout_s = 1.5\nkeep = "shortest"\n', encoding="utf-8")
    overrides = run_root / "data" / "overrides.jsonl"
    overrides.write_text(json.dumps({"uid": "g:0", "decision": "accept"}) + "\n" + json.dumps({"uid": "mc:1", "decision": "reject"}) + "\n")
    again = subprocess.run(rchain_cmd("filter", str(config)), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert len((run_root / "data/verdicts/MathR.jsonl").read_text().splitlines()) == 6
    assert clean() == ["mc:0", "g:0"]  # mc:1 rejected by hand, so mc:0 is the shortest left; g:0 accepted


def test_a_rule_that_raises_and_a_worker_that_dies_cost_their_reply_only(tmp_path: Path, stage_env: dict[str, str]) -> None:
    """A bug in the string rules (they run in the workers) and a worker killed mid-reply are each
    that reply's parse_error, named with its uid in the log; the stage goes on and finishes."""
    gsm = next(r for r in R1 if r["id"] == "cohere_r1_gsm8k_3")
    records = [
        raw_record("g:0", "g", "gsm8k", gsm["problem"], gsm["gold_solution"], reply("t", "$\\boxed{540}$")),
        raw_record("raise:0", "r", "math", "RAISE: simplify.", "$\\boxed{2}$", reply("t", "$\\boxed{2}$")),
        raw_record("die:0", "d", "math", "DIE: simplify.", "$\\boxed{2}$", reply("t", "$\\boxed{2}$")),
        raw_record("g:1", "g", "gsm8k", gsm["problem"], gsm["gold_solution"], reply("t", "$\\boxed{541}$"), 1),
    ]
    config = tmp_path / "pipeline.toml"
    config.write_text('[run]\nname = "b"\n[filter]\ndecontaminate = false\n', encoding="utf-8")
    run_root = tmp_path / "runs" / "b"
    write_raw(run_root, "T", records)
    result = subprocess.run(rchain_cmd("filter", str(config), "--entry", "stage_fixtures:filter_with_a_failing_rule"), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "uid raise:0: ValueError: a rule's own bug (recorded as unverifiable, parse_error)" in result.stdout, result.stdout
    assert "uid die:0: the worker process died (signal SIGKILL)" in result.stdout, result.stdout
    verdicts = {v["uid"]: (v["label"], v["reason"]) for v in map(json.loads, (run_root / "data/verdicts/T.jsonl").read_text().splitlines())}
    assert verdicts == {
        "g:0": ("correct", "exact_match"),
        "raise:0": ("unverifiable", "parse_error"),
        "die:0": ("unverifiable", "parse_error"),
        "g:1": ("wrong", "numeric_mismatch"),
    }


def test_the_optional_llm_judge_settles_what_the_rules_cannot(tmp_path: Path, monkeypatch) -> None:
    """Real R1 replies to GSM8K problems whose references lost their '#### n' line (as a dropped-in
    dataset may have): the rules find no answer to check against, so the judge is asked."""
    from hub_standin import JudgeStandIn

    def row(ident: str, uid: str, solution: str | None = None) -> dict:
        r = R1_BY_ID[ident]
        reference = solution if solution is not None else re.sub(r"\n?#### .*$", "", r["gold_solution"]).strip()
        return raw_record(uid, ident, "gsm8k", r["problem"], reference, r1_assistant(r))

    records = [
        row("cohere_r1_gsm8k_162", "marbles:0"),  # "... would cost $92 after 36 months."
        row("cohere_r1_gsm8k_799", "bread:0"),
        row("cohere_r1_gsm_symbolic_88", "keisha:0", "Add the distance run to the distance walked."),  # (this one has no gold solution)
        row("cohere_r1_gsm8k_162", "marbles:ref", R1_BY_ID["cohere_r1_gsm8k_162"]["gold_solution"]),  # with its '####': the rules settle it
    ]
    monkeypatch.setenv("RCHAIN_JUDGE_KEY", "sk-judge-secret-777")
    judge = JudgeStandIn({"would cost $92": "Comparing the two: YES", "3 loaves of bread": "NO", "Keisha": "It is hard to say."}, token="sk-judge-secret-777").start()
    try:
        config = tmp_path / "pipeline.toml"
        config.write_text(
            f'[run]\nname = "j"\n[filter.llm_judge]\nenabled = true\nmodel = "judge-model"\nbase_url = "{judge.url}/v1"\napi_key_env = "RCHAIN_JUDGE_KEY"\n',
            encoding="utf-8",
        )
        run_root = tmp_path / "runs" / "j"
        write_raw(run_root, "MathR", records)
        result = subprocess.run(rchain_cmd("filter", str(config)), capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        again = subprocess.run(rchain_cmd("filter", str(config)), capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stdout + again.stderr
    finally:
        judge.stop()
    lines = (run_root / "data/verdicts/MathR.jsonl").read_text().splitlines()
    verdicts = {v["uid"]: v for v in map(json.loads, lines)}
    assert len(lines) == 4  # one verdict per reply, the judge's where it was asked
    assert {uid: (v["label"], v["reason"]) for uid, v in verdicts.items()} == {
        "marbles:0": ("correct", "llm_judge_match"),
        "bread:0": ("wrong", "llm_judge_mismatch"),
        "keisha:0": ("unverifiable", "no_gold_answer"),  # the judge said neither: the rule verdict stands
        "marbles:ref": ("correct", "exact_match"),
    }
    assert {"llm_judge", "rule:no_gold_answer"} <= set(verdicts["marbles:0"]["flags"]) and "llm_judge_failed" in verdicts["keisha:0"]["flags"]
    # Asked once each, about the three unsettled replies only; the rerun asked nothing.
    assert len(judge.prompts) == 3 and all("Reference solution:" in text and "YES or NO" in text for text in judge.prompts)
    assert "llm judge: 1 agree with the reference, 1 do not, 1 unsettled" in result.stdout
    clean = [json.loads(line)["uid"] for line in (run_root / "data/clean/MathR.jsonl").read_text().splitlines()]
    assert clean == ["marbles:0", "marbles:ref"]
    assert "sk-judge-secret-777" not in "".join(p.read_text(errors="replace") for p in run_root.rglob("*") if p.is_file())


def test_one_answer_boxed_in_pieces_is_compared_part_by_part() -> None:
    row = next(r for r in R1 if r["benchmark"] == "math500" and r["gold_answer"] == "3, 5, 7")  # a real R1 reply
    raw, start = row["response_raw"], int(row["content_start"])
    assert "\\boxed{3}" in raw[start:] and "\\boxed{7}" in raw[start:]
    assert settle("math", row["problem"], "$\\boxed{3, 5, 7}$", r1_assistant(row)) == ("correct", "exact_match")
    assert settle("math", "p", "$\\boxed{3, 5, 7}$", reply("t", "$\\boxed{3}, \\boxed{5}, \\boxed{8}$")) == ("wrong", "numeric_mismatch")


def test_decontamination_and_quality_flags_with_real_benchmark_copies(tmp_path: Path) -> None:
    math500 = [json.loads(line) for line in (SHARED_DATA / "math500" / "test.jsonl").read_text(encoding="utf-8").split("\n") if line.strip()]
    leaked = next(r for r in math500 if len(r["problem"].split()) > 20)
    multi = next(r for r in NUMINA if "(1)" in r["problem"] and "(2)" in r["problem"] and len(re.findall(r"\\boxed", r["solution"])) == 1)
    records = [
        # A MATH-500 test question with a different opening: still contaminated.
        raw_record("leak:0", "leak", "math", "Answer this: " + leaked["problem"], f"$\\boxed{{{leaked['answer']}}}$", reply("t", f"$\\boxed{{{leaked['answer']}}}$")),
        raw_record("fig:0", "fig", "synthetic_math", "In the figure, triangle ABC has AB = 3 and BC = 4. Find AC.", "$\\boxed{5}$", reply("t", "$\\boxed{5}$")),
        raw_record("multi:0", "multi", "cn_k12", multi["problem"], multi["solution"], reply("t", "$\\boxed{0}$")),
    ]
    config = tmp_path / "pipeline.toml"
    config.write_text(
        f'[run]\nname = "d"\n[eval.local_paths]\nmath_500 = "{SHARED_DATA / "math500"}"\ngpqa_diamond = "{SHARED_DATA / "gpqa_diamond" / "gpqa_diamond.jsonl"}"\n',
        encoding="utf-8",
    )
    run_root = tmp_path / "runs" / "d"
    write_raw(run_root, "T", records)
    result = subprocess.run(rchain_cmd("filter", str(config)), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "decontamination: 500 math_500 questions" in result.stdout and "decontamination: 198 gpqa_diamond questions" in result.stdout
    verdicts = {v["uid"]: v for v in map(json.loads, (run_root / "data/verdicts/T.jsonl").read_text().splitlines())}
    assert verdicts["leak:0"]["label"] == "correct" and verdicts["leak:0"]["flags"] == ["contaminated:math_500"]
    assert verdicts["fig:0"]["flags"] == ["figure_missing"]
    assert "multi_part" in verdicts["multi:0"]["flags"]
    clean = [json.loads(line)["uid"] for line in (run_root / "data/clean/T.jsonl").read_text().splitlines()]
    assert clean == ["fig:0"]  # the leaked problem is correct but never trained on
    assert "contaminated:math_500 1" in result.stdout and "figure_missing 1" in result.stdout

    # Without local copies the check is skipped, and the log says so.
    config.write_text('[run]\nname = "d2"\n', encoding="utf-8")
    write_raw(tmp_path / "runs" / "d2", "T", records[:1])
    skipped = subprocess.run(rchain_cmd("filter", str(config)), capture_output=True, text=True, timeout=120)
    assert "no local copy of math_500, gpqa_diamond in eval.local_paths" in skipped.stdout


def test_an_unboxed_stated_answer_is_judged_and_flagged() -> None:
    row = next(r for r in R1 if r["id"] == "cohere_r1_gsm8k_3")  # a real R1 reply with no \boxed{}
    raw, start = row["response_raw"], int(row["content_start"])
    assert "\\boxed" not in raw and "**540 meters**" in raw[start:]
    outcome = precheck("gsm8k", row["problem"], row["gold_solution"], r1_assistant(row), "stop")
    assert (outcome.label, outcome.reason, outcome.predicted, outcome.flags) == ("correct", "exact_match", "540", ("unboxed_answer",))
    wrong = precheck("math", "p", "$\\boxed{\\sqrt{13}-3}$", reply("t", "$\\boxed{0.605551275}$"), "stop")
    assert (wrong.label, wrong.reason) == ("wrong", "approximate_decimal")


def test_an_answer_part_that_states_its_answer_outranks_a_box_in_the_reasoning() -> None:
    """Real R1 GSM8K replies labelled right whose answer part states the answer without a box, with
    a box of another number put at the end of the reasoning (a step it went back on): still right;
    and against a reference of that other number: wrong. Before, a box in the reasoning's last
    2,000 characters was taken over what the answer part says."""
    from rchain.verify.extract import reply_parts, states_answer

    base = []
    for row in R1:
        assistant = r1_assistant(row)
        parts = reply_parts(assistant)
        if row["benchmark"] == "gsm8k" and row["label_correct"] and "\\boxed" not in assistant and states_answer(parts.answer):
            base.append((row, parts))
    assert len(base) == 674  # of the 682 unboxed
    cases, expected = [], []
    for row, parts in base:
        gold = int(row["gold_answer"].replace(",", ""))
        other_box = reply(f"{parts.think}\n\nSo the total is $\\boxed{{{gold + 1}}}$.", parts.answer)
        cases.append(("gsm8k", row["problem"], row["gold_solution"], other_box))
        expected.append("correct")
        cases.append(("gsm8k", row["problem"], f"#### {gold + 1}", other_box))
        expected.append("wrong")
    labels = _judge_all(cases)
    missed = [(case[2][-12:], want, got) for case, want, got in zip(cases, expected, labels, strict=True) if got != want]
    assert not missed, missed


def test_filter_resumes_after_sigkill_without_duplicate_verdicts(tmp_path: Path) -> None:
    import os
    import signal

    from rchain.config import load_config
    from rchain.stages import prepare_run
    from rchain.supervisor import Supervisor

    # Every comparison hangs until the 1 s limit: a slow run to kill in the middle of.
    records = [
        raw_record(f"h:{i}", f"h{i}", "math", f"Simplify number {i}.", "$\\boxed{2^{2^{100}}}$", reply("t", "$\\boxed{4^{2^{99}}}$"))
        for i in range(8)
    ]
    config = tmp_path / "pipeline.toml"
    config.write_text('[run]\nname = "k"\n[filter]\ntimeout_s = 1.0\nworkers = 1\ndecontaminate = false\n', encoding="utf-8")
    run = prepare_run(load_config(config))
    write_raw(run.root, "T", records)
    supervisor = Supervisor(run)
    supervisor.start("filter")
    verdicts = run.verdicts_path("T")
    deadline = time.monotonic() + 60
    while not verdicts.exists() or verdicts.read_text().count("\n") < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(run.read_state("filter").pid, signal.SIGKILL)
    supervisor.wait("filter", timeout=10)
    assert supervisor.status("filter") == "crashed"
    before = verdicts.read_text().count("\n")
    assert 2 <= before < 8
    supervisor.start("filter")
    assert supervisor.wait("filter", timeout=60) == "done"
    uids = [json.loads(line)["uid"] for line in verdicts.read_text().splitlines()]
    assert sorted(uids) == sorted(r["uid"] for r in records)  # each judged once, none lost
    assert all(json.loads(line)["reason"] == "parse_timeout" for line in verdicts.read_text().splitlines())


def test_the_last_boxed_answer_is_final_unless_the_closing_lines_hedge() -> None:
    steps = reply("t", "From $\\boxed{2+3m=0}$ we get\n\n$m = \\boxed{-\\frac{2}{3}}$.")
    assert settle("cn_k12", "Find m.", "So $m=\\boxed{-\\frac{2}{3}}$.", steps) == ("correct", "exact_match")
    hedge = reply("t", "It is $\\boxed{-\\frac{2}{3}}$ or $\\boxed{\\frac{2}{3}}$.")
    assert settle("cn_k12", "Find m.", "So $m=\\boxed{-\\frac{2}{3}}$.", hedge) == ("malformed", "conflicting_answers")


def test_a_stated_choice_on_the_line_after_the_statement() -> None:
    row = mc_row()
    outcome = precheck("cn_k12", row["problem"], row["solution"], reply("t", "The correct answer is:\n\n**B: $10$**"), "stop")
    assert (outcome.label, outcome.reason, outcome.flags) == ("correct", "mc_letter_match", ("unboxed_answer",))


MATH500 = {r["unique_id"]: r for r in map(json.loads, filter(None, (SHARED_DATA / "math500" / "test.jsonl").read_text(encoding="utf-8").split("\n")))}
CN_K12_GRADED = {
    r["id"]: r
    for r in map(json.loads, filter(None, (SHARED_DATA / "graded_samples" / "cn_k12_command_r_llm_verified.jsonl").read_text(encoding="utf-8").split("\n")))
}


def math500_settle(unique_id: str, answer: str) -> tuple[str, str]:
    row = MATH500[unique_id]
    return settle("math", row["problem"], row["solution"], reply("t", answer))


def test_answers_with_several_values_match_in_any_order_on_real_math500_rows() -> None:
    # "3 \pm 2 \sqrt{2}": both roots, in a list or boxed one by one, in either order.
    assert math500_settle("test/precalculus/768.json", "$\\boxed{3 - 2\\sqrt{2}, 3 + 2\\sqrt{2}}$") == ("correct", "exact_match")
    assert math500_settle("test/precalculus/768.json", "$x = \\boxed{3 + 2\\sqrt{2}}$ and $x = \\boxed{3 - 2\\sqrt{2}}$") == ("correct", "exact_match")
    assert math500_settle("test/precalculus/768.json", "$\\boxed{3 + 2\\sqrt{2}}$") == ("wrong", "part_count_mismatch")
    assert math500_settle("test/precalculus/768.json", "$\\boxed{3 + 2\\sqrt{2}, 3 - \\sqrt{2}}$") == ("wrong", "symbolic_mismatch")
    # "\{1\pm\sqrt{5},-2\}": a set with a ± inside, answered without braces in another order.
    assert math500_settle("test/intermediate_algebra/2015.json", "$\\boxed{-2, 1+\\sqrt{5}, 1-\\sqrt{5}}$") == ("correct", "exact_match")
    assert math500_settle("test/intermediate_algebra/2015.json", "$\\boxed{1-\\sqrt{5}, -2, \\frac{2+2\\sqrt{5}}{2}}$") == ("correct", "symbolic_match")
    assert math500_settle("test/intermediate_algebra/2015.json", "$\\boxed{-2, 1+\\sqrt{5}, 1+\\sqrt{3}}$") == ("wrong", "symbolic_mismatch")
    # "-2,1": numbers as a multiset, however they are joined.
    assert math500_settle("test/intermediate_algebra/1102.json", "$\\boxed{1} \\text{ and } \\boxed{-2.0}$") == ("correct", "numeric_match")
    assert math500_settle("test/intermediate_algebra/1102.json", "$x = 1 \\text{ or } x = -2$, so $\\boxed{1, -2}$") == ("correct", "exact_match")
    assert math500_settle("test/intermediate_algebra/1102.json", "$\\boxed{1, 2}$") == ("wrong", "numeric_mismatch")
    # Thousands separators are not lists.
    assert math500_settle("test/counting_and_probability/508.json", "$\\boxed{10080}$") == ("correct", "numeric_match")
    assert math500_settle("test/counting_and_probability/508.json", "$\\boxed{10\\,080}$") == ("correct", "numeric_match")  # a thin space
    assert math500_settle("test/counting_and_probability/508.json", "$\\boxed{10\\,800}$") == ("wrong", "numeric_mismatch")
    assert math500_settle("test/number_theory/417.json", "$\\boxed{11,\\!111,\\!111,\\!100}$") == ("correct", "exact_match")


def test_right_values_not_in_the_form_asked_on_real_math500_rows() -> None:
    # "... in the form Ax + By + Cz + D = 0, where ... gcd(|A|,|B|,|C|,|D|) = 1"
    assert math500_settle("test/precalculus/659.json", "$\\boxed{5x - 7y + 11z + 4 = 0}$") == ("correct", "exact_match")
    assert math500_settle("test/precalculus/659.json", "$\\boxed{20x - 28y + 44z + 16 = 0}$") == ("wrong", "not_lowest_terms")
    # "Simplify cos(2pi/15) cos(4pi/15) cos(8pi/15) cos(16pi/15)": still a product of cosines
    assert math500_settle("test/precalculus/826.json", "$\\boxed{\\frac{1}{16}}$") == ("correct", "exact_match")
    assert math500_settle("test/precalculus/826.json", "$\\boxed{\\frac{1}{2}\\cos\\left(\\frac{2\\pi}{15}\\right)\\cos\\left(\\frac{4\\pi}{15}\\right)}$") == ("wrong", "unsimplified")
    # an approximate value where the exact one is asked
    assert math500_settle("test/algebra/1339.json", "$\\boxed{x \\approx 600}$") == ("wrong", "approximate_answer")
    assert math500_settle("test/algebra/1339.json", "$\\boxed{x = 600}$") == ("correct", "exact_match")


def test_a_decimal_comma_and_words_inside_the_box() -> None:
    assert math500_settle("test/number_theory/410.json", "$\\boxed{0,35625}$") == ("correct", "numeric_match")
    assert math500_settle("test/prealgebra/1558.json", "$\\boxed{1,25}$") == ("correct", "exact_match")
    assert math500_settle("test/prealgebra/1558.json", "$\\boxed{1,250}$") == ("wrong", "numeric_mismatch")  # a thousands separator
    assert math500_settle("test/prealgebra/1558.json", "\\boxed{Answer $$ 1.25 $$}") == ("correct", "exact_match")


def test_named_values_are_matched_by_name() -> None:
    solution = "Hence $\\boxed{x = -5,\\ p = \\frac{14}{3}}$."
    assert settle("math", "Find x and p.", solution, reply("t", "$\\boxed{p = \\frac{14}{3}, x = -5}$")) == ("correct", "exact_match")
    assert settle("math", "Find x and p.", solution, reply("t", "$\\boxed{p = -5, x = \\frac{14}{3}}$")) == ("wrong", "numeric_mismatch")


def test_how_a_chat_model_states_a_choice_on_real_cn_k12_replies() -> None:
    def judge(suffix: str) -> tuple[str, str, str]:
        row = CN_K12_GRADED[f"cohere_ss_cn_k12_math_problems_ss_{suffix}"]
        response = row["model_response"]
        outcome = precheck("cn_k12", row["problem"], row["gold_solution"], reply(response, response[-1500:]), "stop")
        assert isinstance(outcome, Decision)
        return outcome.label, outcome.reason, outcome.predicted

    # "The answer is boxed: **A**." (no \boxed at all)
    assert judge("solveable_problems_command-r-03-2024_82_5_241_0") == ("correct", "mc_letter_match", "A")
    assert judge("solveable_problems_command-r-03-2024_82_5_13_3") == ("wrong", "mc_letter_mismatch", "C")
    # a multiple-select question: "**Final answer: [A, C]**" against a reference boxing "AC"
    assert judge("command-r-plus-08-2024_25_5_16_0") == ("correct", "mc_letter_match", "AC")
    # "$\boxed{4a^2+9a+7}$ The answer is C: $4a^2+3a+7$": the box and the option named disagree
    assert judge("solveable_problems_command-r-03-2024_82_5_140_2")[:2] == ("malformed", "conflicting_answers")
    # "... $\boxed{4}$. Therefore, the correct answer is C: 4.": they agree
    assert judge("solveable_problems_command-r-03-2024_82_5_242_1") == ("correct", "mc_letter_match", "C")


def test_a_boxed_inequality_of_a_proof_problem_is_not_a_value() -> None:
    row = CN_K12_GRADED["cohere_ss_cn_k12_math_problems_ss_solveable_problems_command-r-03-2024_82_5_216_2"]
    response = row["model_response"]
    outcome = precheck("cn_k12", row["problem"], row["gold_solution"], reply(response, response[-1500:]), "stop")
    assert (outcome.label, outcome.reason) == ("unverifiable", "proof_problem")


def test_a_stated_word_problem_answer_skips_the_numbers_the_problem_gives() -> None:
    # "The bag of marbles would cost $92 after 36 months." / "3 loaves of bread cost $4 more than
    # 2 bagels." / "Keisha can travel 18 miles in 8 hours.": 36, 3, 2 and 8 are the problem's own.
    for ident, expected in (("cohere_r1_gsm8k_162", "92"), ("cohere_r1_gsm8k_799", "4"), ("cohere_r1_gsm_symbolic_88", "18")):
        r = R1_BY_ID[ident]
        outcome = precheck("gsm8k", r["problem"], r["gold_solution"] or f"#### {r['gold_answer']}", r1_assistant(r), "stop")
        assert isinstance(outcome, Decision), ident
        assert (outcome.label, outcome.predicted, outcome.flags) == ("correct", expected, ("unboxed_answer",)), ident


PAIRS = {r["id"]: r for r in map(json.loads, filter(None, (SHARED_DATA / "equivalence_pairs" / "pairs.jsonl").read_text(encoding="utf-8").split("\n")))}


def pair_settle(ident: str, *, box_gold: bool = True) -> tuple[str, str]:
    """A peer library's test case as a reply: its pred is the whole answer part, its gold the reference."""
    row = PAIRS[ident]
    gold = f"$\\boxed{{{row['gold']}}}$" if box_gold else row["gold"]
    return settle("math", "", gold, reply("t", row["pred"]))


def test_what_a_closing_statement_says_on_real_peer_test_cases() -> None:
    # "... = \boxed{200} ... = \boxed{255} ... Final Answer: The final answer is $10,455$. I hope it is correct."
    assert "\\boxed{255}" in PAIRS["eq0172"]["pred"]
    assert pair_settle("eq0172") == ("correct", "numeric_match")
    # "... = \\boxed{14400}$. Final Answer: The final answer is 14400. I hope it is correct."
    assert pair_settle("eq0166") == ("correct", "exact_match")
    # The box and the statement right after it write one answer two ways, or give two answers.
    mc = MATH500["test/precalculus/819.json"]  # answer \text{(C)}
    closing = "So $\\boxed{{{}}}$.\n\nFinal Answer: The final answer is ${}$. I hope it is correct."
    assert settle("math", mc["problem"], mc["solution"], reply("t", closing.format("C", "\\text{(C)}")))[0] == "correct"
    assert settle("math", mc["problem"], mc["solution"], reply("t", closing.format("C", "D"))) == ("malformed", "conflicting_answers")
    gsm = R1_BY_ID["cohere_r1_gsm8k_3"]  # 540, as `$\$540$`
    assert settle("gsm8k", gsm["problem"], gsm["gold_solution"], reply("t", closing.format("\\$540", "\\$540"))) == ("correct", "numeric_match")
    matrix = MATH500["test/precalculus/1300.json"]  # \begin{pmatrix} -1/3 \\ 2/3 \\ 5/3 \end{pmatrix}, with its spaces and without
    spaced = closing.format(matrix["answer"], re.sub(r"\s+", "", matrix["answer"]))
    assert settle("math", matrix["problem"], matrix["solution"], reply("t", spaced))[0] == "correct"
    # "**Answer**: The total price exceeds Mrs. Cruz's budget by \\$9,500.": a full stop inside the statement
    cruz = R1_BY_ID["cohere_r1_gsm8k_265"]
    assert settle("gsm8k", cruz["problem"], cruz["gold_solution"], r1_assistant(cruz)) == ("correct", "numeric_match")
    # A reference that is a Minerva-style reply: "The final answer is $28 \%$. I hope it is correct. Note: ..."
    assert pair_settle("eq0060", box_gold=False) == ("correct", "exact_match")
    # "Matrix with fractions: $ \begin{pmatrix}...\end{pmatrix} $": the whole answer part is one formula.
    assert pair_settle("eq0122") == ("correct", "exact_match")
    assert pair_settle("eq0121") == ("correct", "symbolic_match")  # \left[\begin{array}{cc}...\right] for a pmatrix
    # But one value stated among words is not pulled out of them.
    assert settle("math", "", "$\\boxed{x^2}$", reply("t", "I think it is $x^2$ but I am not sure.")) == ("malformed", "no_boxed_in_reply")


def test_several_values_of_one_unknown_and_a_decimal_comma_in_the_reference() -> None:
    # "p = -1 \text{ and } p = \dfrac{15}{8}" against "$p=-1,p=\frac{15}{8}$": the values of p, in any order
    assert pair_settle("eq0492", box_gold=False) == ("correct", "exact_match")
    assert settle("math", "", "$\\boxed{p = -1 \\text{ and } p = \\dfrac{15}{8}}$", reply("t", "$\\boxed{p=\\frac{15}{8}, p=-1}$")) == ("correct", "exact_match")
    assert settle("math", "", "$\\boxed{p = -1 \\text{ and } p = \\dfrac{15}{8}}$", reply("t", "$\\boxed{p=\\frac{15}{8}, p=1}$")) == ("wrong", "numeric_mismatch")
    # "1,22" written by the reference for 1.22; "1,220" is still a thousands separator.
    assert pair_settle("eq0006") == ("correct", "exact_match")
    assert settle("math", "", "$\\boxed{1,22}$", reply("t", "$\\boxed{1.23}$")) == ("wrong", "numeric_mismatch")
    assert settle("math", "", "$\\boxed{1,220}$", reply("t", "$\\boxed{1.22}$")) == ("wrong", "numeric_mismatch")
    # The set of x's values, named; and a value of another unknown (or the equation of another line).
    assert math500_settle("test/intermediate_algebra/2015.json", "$\\boxed{x = \\{1\\pm\\sqrt{5},-2\\}}$") == ("correct", "exact_match")
    assert math500_settle("test/algebra/2193.json", "$\\boxed{x = 5}$") == ("correct", "exact_match")
    assert math500_settle("test/algebra/2193.json", "$\\boxed{y = 5}$") == ("wrong", "symbolic_mismatch")
    # A letter followed by a Chinese full stop: "B。不是 A"
    assert pair_settle("eq0283") == ("correct", "mc_letter_match")


def test_a_stated_answer_is_the_result_or_the_formula_the_problem_does_not_give() -> None:
    # "**3 × $2,200 = $6,600**" and then a paragraph of reasoning with $2,200 in it
    gsm = R1_BY_ID["cohere_r1_gsm8k_997"]
    assert settle("gsm8k", gsm["problem"], gsm["gold_solution"], r1_assistant(gsm)) == ("correct", "exact_match")  # "#### 6,600"
    # "The binary number \(10101001110_2\) is equal to \(2516_8\) in base eight."
    binary = R1_BY_ID["cohere_r1_math500_71"]
    assert settle("math", binary["problem"], f"$\\boxed{{{binary['gold_answer']}}}$", r1_assistant(binary)) == ("correct", "exact_match")


def cn_k12_settle(suffix: str) -> tuple[str, str]:
    row = CN_K12_GRADED[f"cohere_ss_cn_k12_math_problems_ss_{suffix}"]
    response = row["model_response"]
    return settle("cn_k12", row["problem"], row["gold_solution"], reply(response, response[-1500:]))


def test_an_option_named_after_the_working_and_a_letter_for_a_reference_value_on_real_cn_k12_replies() -> None:
    # Intervals boxed on the way ((0,2), (1,\infty)), the intersection worked out in a paragraph of
    # its own, then "the correct answer is **A: ...**": the boxes were steps, not a second answer.
    assert cn_k12_settle("solveable_problems_command-r-03-2024_82_5_164_0") == ("correct", "mc_letter_match")
    # ... unlike a box followed at once by another option ("$\boxed{4a^2+9a+7}$ The answer is C: $4a^2+3a+7$").
    assert cn_k12_settle("solveable_problems_command-r-03-2024_82_5_140_2") == ("malformed", "conflicting_answers")
    # The reference boxes option C's value, the reply "C, $$...$$": the value behind the letter.
    assert cn_k12_settle("solveable_problems_command-r-03-2024_82_5_165_2") == ("correct", "mc_value_match")


def test_a_box_and_what_the_reply_says_of_it_agree_on_real_cn_k12_replies() -> None:
    def judge(suffix: str, box: str = "", instead: str = "") -> tuple[str, str]:
        row = CN_K12_GRADED[f"cohere_ss_cn_k12_math_problems_ss_{suffix}"]
        response = row["model_response"].replace(box, instead) if box else row["model_response"]
        assert response != row["model_response"] or not box
        return settle("cn_k12", row["problem"], row["gold_solution"], reply(response, response[-1500:]))

    # "\boxed{... + 1}. The final answer is boxed as requested.": the box is the answer, not those words.
    last = "\\boxed{\\frac{1}{\\sqrt{2}}\\cdot 10^{-2}-\\frac{10}{\\sqrt{5}+2}+1}"
    assert judge("solveable_problems_command-r-03-2024_82_5_110_0") == ("wrong", "symbolic_mismatch")
    assert judge("solveable_problems_command-r-03-2024_82_5_110_0", last, "\\boxed{-19}") == ("correct", "exact_match")
    # "= \boxed{0}. So, the final answer is **0**.": one answer; a box of 1 just before it is a second one.
    assert judge("command-r-plus-08-2024_10_5_4_2") == ("correct", "exact_match")
    assert judge("command-r-plus-08-2024_10_5_4_2", "\\boxed{0}", "\\boxed{1}") == ("malformed", "conflicting_answers")
    # The letter is right, what the box says of the option is not (the reference's letter is D, B, B).
    assert judge("command-r-plus-08-2024_10_5_7_2") == ("correct", "mc_letter_match")
    assert judge("command-r-plus-08-2024_10_5_7_2", "D: (4,", "D: (7,") == ("malformed", "conflicting_answers")
    assert judge("solveable_problems_command-r-03-2024_82_5_18_3") == ("correct", "mc_letter_match")
    assert judge("solveable_problems_command-r-03-2024_82_5_18_3", "B: 24", "B: 27") == ("malformed", "conflicting_answers")
    assert judge("command-r-plus-08-2024_25_5_22_0", "B: \\sqrt{2}", "B: \\sqrt{5}") == ("malformed", "conflicting_answers")
    assert judge("command-r-plus-08-2024_25_5_22_0", "B: \\sqrt{2}", "B: 2") == ("malformed", "conflicting_answers")
    # A value stated as the final answer after the box counts in a multiple-choice reply too:
    # "... is $\\boxed{7}$. [a check] Final Answer: The final answer is $8$." (options 4, 5, 6, 7).
    last = "the distance between $A$ and $F$ is $\\boxed{7}$."
    assert judge("command-r-plus-08-2024_10_5_5_0") == ("correct", "mc_text_match")
    assert judge("command-r-plus-08-2024_10_5_5_0", last, last + "\n\nChecking: the last step gives $8$.\n\nFinal Answer: The final answer is $8$.")[0] == "wrong"
    assert judge("command-r-plus-08-2024_10_5_5_0", last, last + "\n\nChecking: the last step gives $7$.\n\nFinal Answer: The final answer is $7$.")[0] == "correct"
    # "C: $\\boxed{c > a > b}$" (option C's text): a letter just before the box must be the box's option.
    assert judge("solveable_problems_command-r-03-2024_82_5_163_4") == ("correct", "mc_text_match")
    assert judge("solveable_problems_command-r-03-2024_82_5_163_4", "C: $\\boxed", "A: $\\boxed") == ("malformed", "conflicting_answers")
    # ... but an option quoted loosely is that option: "D: (-∞, -1) $\\cup$ ($\\frac{1}{a}$, +∞)" for
    # "(-∞, -1) ∪ ($$\\frac {1}{a}$$, +∞)", "B: Pulling open a drawer, as it involves a sliding motion".
    assert judge("solveable_problems_command-r-03-2024_82_5_194_2") == ("correct", "mc_letter_match")
    assert judge("command-r-plus-08-2024_25_5_2_0") == ("correct", "mc_letter_match")


def _without_last_box(assistant: str) -> str:
    """A real reply with its last `\\boxed{X}` written as plain `X`: how a model that does not box states its answer."""
    from rchain.verify.extract import _closing_brace

    start = assistant.rindex("\\boxed{")
    end = _closing_brace(assistant, start + len("\\boxed"))
    assert end is not None
    return assistant[:start] + assistant[start + len("\\boxed{") : end] + assistant[end + 1 :]


def test_how_real_replies_state_an_answer_they_do_not_box() -> None:
    def judge(row_id: str, reference: str | None = None) -> tuple[str, str]:
        row = R1_BY_ID[row_id]
        source = "gsm8k" if "gsm8k" in row_id else "math"
        solution = row["gold_solution"] if source == "gsm8k" else f"$\\boxed{{{reference or row['gold_answer']}}}$"
        return settle(source, row["problem"], solution, _without_last_box(r1_assistant(row)))

    # "The degree of \(f\) is \(3\).": of the sentence's formulas, the one it says the answer is.
    assert judge("cohere_r1_math500_55") == ("correct", "exact_match")
    # "\(6r^2 - 4r - 24\), where \(A = 6\), ... \(C = -24\)." (unboxed as it came): the first one.
    assert settle("math", R1_BY_ID["cohere_r1_math500_347"]["problem"], "$\\boxed{6r^2-4r-24}$", r1_assistant(R1_BY_ID["cohere_r1_math500_347"])) == ("correct", "exact_match")
    # "**Final Answer**:\nThe area of triangle \( ACD \) is \( \dfrac{3840}{289} \)." (not ACD), and
    # "**Final Answer**\nThe correct result ... is \(1 + 2i\)." (not the bold heading "Step 4: ...").
    assert judge("cohere_r1_math500_129") == ("correct", "exact_match")
    assert judge("cohere_r1_math500_373")[0] == "correct"
    # "The median number of students in 2005 is $29$.", where 2005 and 29 are both in the problem's table.
    assert judge("cohere_r1_math500_105") == ("correct", "exact_match")
    # "The combined value of both houses is $129{,}200$." (not 129).
    assert judge("cohere_r1_gsm8k_582") == ("correct", "numeric_match")
    # "Thus, \(\sin^3 18^\circ + \sin^2 18^\circ = \dfrac{1}{8}\).": the value, not its 8.
    assert judge("cohere_r1_math500_416") == ("correct", "exact_match")
    assert judge("cohere_r1_math500_416", "8")[0] != "correct"
    # "Therefore, the final answer is:\n\n\\[\n36\n\\]": the display on the lines after the statement.
    sky = next(json.loads(line) for line in (SHARED_DATA / "r1_responses" / "skyt1_reasoning_outputs_skythought.jsonl").read_text(encoding="utf-8").split("\n") if '"skyt1_Sky-T1-math-reflection-0.5-32B_amc23_1"' in line)
    raw = sky["response_raw"]
    answer = raw.split("<|begin_of_solution|>")[-1].replace("<|end_of_solution|>", "")
    assert settle("amc_aime", sky["problem"], "$\\boxed{36}$", _without_last_box(reply("t", answer))) == ("correct", "exact_match")
    # "**Answer:** Navin earns the most after working an eight-hour day." for \\text{Navin} (a real
    # reply, unboxed as it came): a sentence about the answer; not one that denies it or adds another.
    navin = R1_BY_ID["cohere_r1_math500_398"]
    assert "\\boxed" not in navin["response_raw"] and navin["label_correct"]
    reference = "$\\boxed{\\text{Navin}}$"
    assert settle("math", navin["problem"], reference, r1_assistant(navin)) == ("correct", "exact_match")
    for said in ("Navin does not earn the most.", "Ian earns the most.", "Navin and Ian earn the same.", "Navinder earns the most."):
        assert settle("math", navin["problem"], reference, reply("t", f"**Answer:** {said}"))[0] == "wrong", said
    # A one-line answer part that is a statement: the value after its label, not "Answer:** Navin".
    for said, gold in (("**Answer:** Navin", "\\text{Navin}"), ("Answer: even", "\\text{even}"), ("**Final Answer:** (2, 3)", "(2,3)")):
        assert settle("math", "p", f"$\\boxed{{{gold}}}$", reply("t", said)) == ("correct", "exact_match"), said
    assert settle("math", "p", "$\\boxed{\\text{even}}$", reply("t", "**Answer:** Even though f(-x) = f(x) fails at 1 it is odd."))[0] == "wrong"


def test_the_parts_of_a_numbered_problem_are_answered_in_turn() -> None:
    # "(Ⅰ) ... the same gender? (Ⅱ) ... the same school?": 4/9, then 2/5. The same two values the
    # other way round answer neither part (they were compared as a multiset of numbers).
    row = next(r for r in NUMINA if r["problem"].startswith("School A and School B each have 3 teachers"))
    swapped = row["solution"].replace("\\boxed{\\frac{4}{9}}", "@").replace("\\boxed{\\frac{2}{5}}", "\\boxed{\\frac{4}{9}}").replace("@", "\\boxed{\\frac{2}{5}}")
    assert swapped != row["solution"]
    assert settle("cn_k12", row["problem"], row["solution"], reply("t", row["solution"])) == ("correct", "exact_match")
    assert settle("cn_k12", row["problem"], row["solution"], reply("t", swapped)) == ("wrong", "numeric_mismatch")
    # Values named on both sides are matched by name, in any order.
    problem, solution = "(1) Find $a$. (2) Find $b$.", "(1) $\\boxed{a = 2}$. (2) $\\boxed{b = 3}$."
    assert settle("cn_k12", problem, solution, reply("t", "$\\boxed{b = 3}$ and $\\boxed{a = 2}$")) == ("correct", "exact_match")
    assert settle("cn_k12", problem, solution, reply("t", "(1) $\\boxed{3}$ (2) $\\boxed{2}$")) == ("wrong", "numeric_mismatch")


def test_an_equal_answer_that_is_not_factored_where_a_factorisation_is_asked() -> None:
    # "Factorize: $3ya^2 - 6ya + 3y$": a real reply that stops at "**3y(a^2 - 2a + 1)**"
    row = CN_K12_GRADED["cohere_ss_cn_k12_math_problems_ss_solveable_problems_command-r-03-2024_82_5_223_3"]
    assert row["problem"].startswith("Factorize:") and row["model_response"].endswith("**3y(a^2 - 2a + 1)**")
    assert cn_k12_settle("solveable_problems_command-r-03-2024_82_5_223_3") == ("wrong", "not_factored")
    assert cn_k12_settle("solveable_problems_command-r-03-2024_82_5_223_1") == ("correct", "exact_match")
    judge = lambda answer: settle("cn_k12", row["problem"], row["gold_solution"], reply("t", f"$\\boxed{{{answer}}}$"))  # noqa: E731
    assert judge("3ya^2-6ya+3y") == ("wrong", "not_factored")
    assert judge("3(a-1)^2 y") == ("correct", "symbolic_match")
    assert judge("3y(1-a)(1-a)") == ("correct", "symbolic_match")
    # "the greatest common factor of 6432 and 132" asks for a number, not a factorisation.
    assert settle("math", "What is the greatest common factor of 6432 and 132?", "$\\boxed{12}$", reply("t", "$\\boxed{\\frac{24}{2}}$")) == ("correct", "numeric_match")


def test_every_option_of_every_real_multiple_choice_problem() -> None:
    """The real NuminaMath rows with options and a one-letter reference (cn_k12): boxing the right
    letter or the right option's text is correct; every other letter and every other option's text
    is wrong, including texts math-verify cannot tell apart ("Sufficient but not necessary
    condition" against "Necessary but not sufficient condition", two set-builder options)."""
    from rchain.verify.extract import choice_letters, options

    checked = 0
    for row in NUMINA:
        choices = options(row["problem"])
        reference = precheck(row["source"], row["problem"], row["solution"], reply("t", row["solution"]), "stop")
        letters = choice_letters(reference.gold) if choices else None
        if not letters or len(letters) != 1:
            continue
        gold = next(iter(letters))
        assert settle_here(reference)[0] == "correct", row["problem"]  # the reference itself, as a reply
        for letter, text in choices.items():
            answers = [
                f"The answer is $\\boxed{{{letter}}}$.",
                f"$\\boxed{{\\text{{Option }} {letter}}}$",  # how chat models name an option; it read as a value
                *([f"So it is $\\boxed{{{text}}}$."] if text and len(text) <= 80 else []),
            ]
            for answer in answers:
                right = letter == gold or normalize(text) == normalize(choices[gold]) and "boxed{" + text in answer
                label, reason = settle("cn_k12", row["problem"], row["solution"], reply("t", answer))
                assert (label == "correct") == right, (row["problem"][:80], gold, answer, label, reason)
                checked += 1
    assert checked > 1000


def _rows_naming_one_option() -> Iterator[tuple[dict, dict[str, str], str]]:
    """The real NuminaMath rows with options whose reference names one of them: (row, options, its letter)."""
    from rchain.verify.extract import choice_letters, options

    for row in NUMINA:
        choices = options(row["problem"])
        letters = choice_letters(precheck(row["source"], row["problem"], row["solution"], reply("t", row["solution"]), "stop").gold) if choices else None
        if letters and len(letters) == 1 and next(iter(letters)) in choices:
            yield row, choices, next(iter(letters))


def test_an_option_chosen_in_words_on_every_real_multiple_choice_problem() -> None:
    """A chat model that names its option in words, unboxed ("So the correct choice is (B).",
    "Option B is correct.", "B is the correct answer.", "We choose B.", a bold "**B: <its text>**"
    under "The correct option is:"): the right letter is correct, another letter wrong, on every
    real NuminaMath row with options. Before, all but the last were no_boxed_in_reply, and the bold
    option whose text is an equation was read as the number it ends on."""
    said = [
        "So the correct choice is ({letter}).", "Option {letter} is correct.", "Therefore {letter} is the correct answer.",
        "We choose {letter}.", "The correct option is:\n\n**{letter}: {text}**",
    ]
    checked = 0
    for row, choices, gold in _rows_naming_one_option():
        other = next(letter for letter, text in choices.items() if normalize(text) != normalize(choices[gold]))
        for letter in (gold, other):
            for template in said:
                text = "Checking each option in turn.\n\n" + template.format(letter=letter, text=choices[letter])
                label, reason = settle(row["source"], row["problem"], row["solution"], reply("t", text))
                assert (label == "correct") == (letter == gold), (row["problem"][:60], gold, text, label, reason)
                checked += 1
    assert checked > 1000
    # An analysis that calls two options correct names no one answer; a small letter is no option.
    row = mc_row()
    for text in ("Option A is correct. Option B is correct.", "So we choose a regular polygon with 10 sides."):
        assert settle("cn_k12", row["problem"], row["solution"], reply("t", text)) == ("malformed", "no_boxed_in_reply"), text


def test_boxes_naming_two_options_conflict_on_every_real_multiple_choice_problem() -> None:
    """A closing line that boxes an option's value and a letter ("The value is $\\boxed{12}$, so the
    answer is $\\boxed{B}$."), in either order: right when both name the right option, conflicting
    when they name two (it was judged by its last box alone, so a wrong value before the right
    letter, or a wrong letter before the right value, was correct)."""
    checked = 0
    for row, choices, gold in _rows_naming_one_option():
        texts = [normalize(text) for text in choices.values()]
        other = next((key for key, text in choices.items() if texts.count(normalize(text)) == 1 and key != gold), None)
        if other is None or texts.count(normalize(choices[gold])) != 1 or "boxed" in choices[gold] + choices[other]:
            continue
        for letter, value, want in ((gold, gold, "correct"), (gold, other, "malformed"), (other, gold, "malformed")):
            for text in (
                f"The value is $\\boxed{{{choices[value]}}}$, so the answer is $\\boxed{{{letter}}}$.",
                f"The answer is $\\boxed{{{letter}}}$, that is $\\boxed{{{choices[value]}}}$.",
            ):
                label, reason = settle(row["source"], row["problem"], row["solution"], reply("t", text))
                assert label == want and (want == "correct" or reason == "conflicting_answers"), (text, label, reason)
                checked += 1
    assert checked > 500


def _one_digit_more(answer: str) -> str | None:
    """The answer with its last digit one higher (9 becomes 0): a near miss that reads alike."""
    digits = [m.start() for m in re.finditer(r"\d", answer)]
    if not digits:
        return None
    i = digits[-1]
    return answer[:i] + str((int(answer[i]) + 1) % 10) + answer[i + 1 :]


def test_every_math500_reference_against_its_answer_and_a_near_miss() -> None:
    """All 500 MATH-500 rows: the reference solution as a reply is correct against the answer, the
    answer is correct against the solution (also boxed with layout around it, `\\displaystyle` and
    thin spaces, which read `52_8` as no base-8 number and a set as a list), and the answer with one
    digit changed is wrong (math-verify alone took 2516_9 for 2516_8 and 15 cm^3 for 15 cm^2)."""
    near_misses = 0
    for row in MATH500.values():
        answer = f"$\\boxed{{{row['answer']}}}$"
        assert settle("math", row["problem"], answer, reply("t", row["solution"]))[0] == "correct", row["unique_id"]
        assert settle("math", row["problem"], row["solution"], reply("t", f"The answer is {answer}."))[0] == "correct", row["unique_id"]
        laid_out = f"\\[\\boxed{{\\displaystyle\\, {row['answer']} \\,}}\\]"
        assert settle("math", row["problem"], row["solution"], reply("t", laid_out))[0] == "correct", row["unique_id"]
        missed = _one_digit_more(row["answer"])
        if missed:
            near_misses += 1
            assert settle("math", row["problem"], answer, reply("t", f"$\\boxed{{{missed}}}$"))[0] == "wrong", (row["unique_id"], missed)
            assert settle("math", row["problem"], answer, reply("t", f"$\\boxed{{\\displaystyle {missed}}}$"))[0] == "wrong", (row["unique_id"], missed)
    assert near_misses > 450


def test_every_gsm8k_reference_against_its_answer_as_written_and_one_more() -> None:
    """All 1,319 GSM8K test rows ('#### n' references): the reference as a reply, the answer boxed
    with a dollar sign and thousands separators, stated unboxed with a unit; and n + 1, boxed or stated,
    which is wrong however large n is; and "The answer is n or n + 1.", ambiguous (it was correct by
    its first number)."""
    rows = [json.loads(line) for line in (SHARED_DATA / "numina_samples" / "other_eval_sets" / "gsm8k_test.jsonl").read_text(encoding="utf-8").split("\n") if line.strip()]
    assert len(rows) == 1319
    for row in rows:
        n = int(row["answer"].split("####")[-1].strip().replace(",", ""))
        judge = lambda answer: settle("gsm8k", row["question"], row["answer"], reply("t", answer))[0]  # noqa: E731
        assert judge(row["answer"]) == "correct"
        assert judge(f"She makes $\\boxed{{\\${n:,}}}$.") == judge(f"**Answer:** {n:,} dollars.") == "correct", n
        assert judge(f"$\\boxed{{{n + 1}}}$") == judge(f"The answer is {n + 1}.") == "wrong", n
        assert judge(f"The answer is {n:,} or {n + 1:,}.") == judge(f"The answer is either ${n}$ or maybe ${n - 1}$.") == "malformed", n


def _last_box_one_digit_more(solution: str) -> str | None:
    """The solution with the last digit of its last boxed answer one higher, or None."""
    from rchain.verify.extract import boxed_all

    last = boxed_all(solution)[-1]
    missed = _one_digit_more(last)
    if missed is None or missed in boxed_all(solution):
        return None  # a part's value changed into another part's is not a wrong whole
    box = "\\boxed{" + last + "}"
    if box not in solution:
        return None
    at = solution.rindex(box)
    return solution[:at] + "\\boxed{" + missed + "}" + solution[at + len(box) :]


def test_every_numina_reference_as_a_reply_and_with_its_last_answer_one_digit_off() -> None:
    """All 349 NuminaMath rows: the reference solution as a reply is correct (a proof is
    unverifiable), and the same reply with one digit of its last boxed answer changed is wrong.
    Found: math-verify read `T\\_n=2n+\\frac{1}{2^{n}}-1` (NuminaMath escapes underscores) as the number
    2, a list holding `(n \\in N^{})` as 1, and took any false equation for a pattern identity."""
    from rchain.verify.extract import options

    expected: list[tuple[str, str]] = []
    cases = []
    for row in NUMINA:
        missed = None if options(row["problem"]) else _last_box_one_digit_more(row["solution"])
        for text, label in [(row["solution"], "correct")] + ([(missed, "wrong")] if missed else []):
            expected.append((row["problem"][:80] + " | " + text[-80:], label))
            cases.append((row["source"], row["problem"], row["solution"], text))
    wrong = []
    for (what, want), got in zip(expected, _settle_all(cases), strict=True):
        if want == "correct" and got.label == "unverifiable":
            assert got.reason == "proof_problem", what
            continue
        if (got.label == "correct") != (want == "correct"):
            wrong.append((what, want, got.label))
    assert not wrong, wrong
    assert sum(want == "wrong" for _, want in expected) > 150


def _settle_all(cases: list[tuple[str, str, str, str]]) -> list[Settled]:
    """Verdicts of (source, problem, reference, reply text or whole assistant message) cases,
    judged as the filter stage judges them (rchain.verify.runner.judge_replies, in its pool)."""
    replies = (
        (i, (source, problem, solution, text if text.startswith("<think>") else reply("t", text), "stop"))
        for i, (source, problem, solution, text) in enumerate(cases)
    )
    with VerifyPool(judge_in_worker, workers=2, timeout_s=10) as pool:
        settled = dict(judge_replies(pool, replies))
    return [settled[i] for i in range(len(cases))]


def _judge_all(cases: list[tuple[str, str, str, str]]) -> list[str]:
    return [settled.label for settled in _settle_all(cases)]


def test_solutions_judged_against_other_problems_references_are_wrong_but_for_same_values() -> None:
    """Label-free false accepts at scale: each MATH-500 solution and each NuminaMath solution as a
    reply judged against the references of other problems (8 and 40 each; where the problem has
    options, references of another letter). Only answers of the same value are accepted (listed).
    Found: math-verify reads the eccentricity `e` as Euler's number, so `e=\\dfrac{\\sqrt{6}}{3}` was
    a false statement that a pattern identity (and any wrong `e = ...`) matched; and it compares an
    equation with a value by its right side, which took the line `3x - y - 9 = 0` for the option 0."""
    from rchain.verify.extract import choice_letter, gold_answers, options

    math500 = list(MATH500.values())
    cases, shown = [], []
    for i, row in enumerate(math500):
        for k in range(1, 9):
            other = math500[(i + 37 * k) % len(math500)]
            if normalize(other["answer"]) != normalize(row["answer"]):
                cases.append(("math", row["problem"], f"$\\boxed{{{other['answer']}}}$", row["solution"]))
                shown.append((row["answer"], other["answer"]))
    numina = [row for row in NUMINA if gold_answers(row["solution"]).answers]
    for i, row in enumerate(numina):
        if options(row["problem"]):
            continue  # a reply's letter would match another problem's letter by chance
        mine = gold_answers(row["solution"]).answers
        for k in range(1, 41):
            other = numina[(i + 7 * k) % len(numina)]
            theirs = gold_answers(other["solution"]).answers
            # A reply's last box is its final answer: one that ends on the other's answer is no test.
            if normalize(theirs[-1]) != normalize(mine[-1]):
                cases.append((row["source"], row["problem"], other["solution"], row["solution"]))
                shown.append((mine[-1], theirs[-1]))
    # Problems with options: another reference that names another letter, or a value no option has.
    def letter(row: dict) -> str | None:
        answers, choices = gold_answers(row["solution"]).answers, options(row["problem"])
        named = [found for found in map(choice_letter, answers) if found]
        same = [key for key, text in choices.items() if normalize(text) == normalize(answers[-1])]
        return named[-1] if named else same[0] if len(same) == 1 else None

    with_options = [row for row in numina if options(row["problem"]) and letter(row)]
    for i, row in enumerate(with_options):
        texts = {normalize(text) for text in options(row["problem"]).values()}
        for k in range(1, 41):
            other = with_options[(i + 7 * k) % len(with_options)]
            if letter(other) != letter(row) and normalize(gold_answers(other["solution"]).answers[-1]) not in texts:
                cases.append((row["source"], row["problem"], other["solution"], row["solution"]))
                shown.append((letter(row), gold_answers(other["solution"]).answers[-1]))
    accepted = [pair for pair, label in zip(shown, _judge_all(cases), strict=True) if label == "correct"]
    assert len(cases) == 16041
    # The same value (with a unit, as a decimal), and an equation read by its right side, as
    # math-verify reads `x + y = 5` for "find x + y" (it read `3x - y - 9 = 0` as 0, an option's text).
    # The option "When $a > 0$, the function $F(x)$ has $4$ zeros" passed for a reference boxing 4
    # until that reference's closing "the correct answer is option C" was read as naming option C.
    assert accepted == [
        ("15\\mbox{ cm}^2", "15"), ("\\frac{3y^{2}}{4} - \\frac{x^{2}}{3} = 1", "\\{1\\}"), ("\\frac{1}{2}", "0.5"),
    ], accepted


def _rewritten(answer: str) -> tuple[list[str], list[str]]:
    """A final answer written another way (the same value) and altered (another value)."""
    same, other = [answer.replace("\\frac", "\\dfrac"), f" {answer} ", f"{answer}."], []
    if re.fullmatch(r"-?\d+", answer):
        value = int(answer)
        same += [f"{value}.0", f"\\text{{{value}}}", f"{value:,}".replace(",", "{,}")]
        other += [str(value + 1)] + ([str(value * 10), str(-value)] if value else [])
    fraction = re.fullmatch(r"(-?)\\d?frac\{(\d+)\}\{(\d+)\}", answer)
    if fraction:
        same.append(f"{fraction[1]}{fraction[2]}/{fraction[3]}")
        if fraction[2] != fraction[3]:
            other.append(f"{fraction[1]}\\frac{{{fraction[3]}}}{{{fraction[2]}}}")
    digits = [m.start() for m in re.finditer(r"\d", answer)]
    if digits and not re.fullmatch(r"-?\d+", answer):
        at = digits[-1]
        other.append(answer[:at] + ("2" if answer[at] == "1" else "1") + answer[at + 1 :])
    return same, other


def test_right_r1_replies_with_their_answer_rewritten_or_altered() -> None:
    """Label-free, at scale: each real R1 reply labelled right (and judged right) with its one boxed
    answer written another way must stay right, and with its value altered (one more, ten times,
    negated, a fraction flipped, a digit changed) must be wrong. Found: a full stop inside the box
    (`\\boxed{15.}` against `15\\mbox{ cm}^2`, a matrix and its `.`), which math-verify cannot read."""
    base = []
    for row in R1:
        assistant = r1_assistant(row)
        if row["label_correct"] and assistant.count("\\boxed{") == 1 and "gsm_symbolic" not in row["benchmark"]:
            source = "gsm8k" if row["benchmark"] == "gsm8k" else "math"
            solution = row["gold_solution"] if source == "gsm8k" else f"$\\boxed{{{row['gold_answer']}}}$"
            base.append((source, row["problem"], solution, assistant))
    right = [case for case, label in zip(base, _judge_all(base), strict=True) if label == "correct"]
    assert len(right) == len(base) == 425  # every one of them judged right as it is
    cases, expected = [], []
    for source, problem, solution, assistant in right:
        from rchain.verify.extract import boxed_all

        answer = boxed_all(assistant)[-1]
        same, other = _rewritten(answer)
        for text, fit in [(t, True) for t in same] + [(t, False) for t in other]:
            cases.append((source, problem, solution, assistant.replace(f"\\boxed{{{answer}}}", f"\\boxed{{{text}}}")))
            expected.append((answer, text, fit))
    labels = _judge_all(cases)
    missed = [(answer, text) for (answer, text, fit), label in zip(expected, labels, strict=True) if (label == "correct") != fit]
    assert len(cases) == 3496
    assert missed == [], missed


def test_what_math_verify_misreads_on_the_way_to_it() -> None:
    # A pattern identity: matched by the same identity written either way round, not by a false one.
    pattern = "n^{2}+(n+1)^{2}-(n+2)^{2}=n(n-2)-3"
    assert symbolic_equal(((pattern, "n(n-2)-3=n^2+(n+1)^2-(n+2)^2"),))
    assert not symbolic_equal(((pattern, "n^{2}+(n+1)^{2}-(n+2)^{2}=n(n-2)-4"),))
    assert not symbolic_equal(((pattern, "n^2=n^2"),))
    assert symbolic_equal((("z = 1 + 1 = 2", "z = 3 - 1 = 2"),))  # a sum worked out is no identity
    # Escaped underscores, and a formula read as a bare number.
    assert symbolic_equal((("T\\_n=2n+\\frac{1}{2^{n}}-1", "T_n=2n-1+\\frac{1}{2^n}"),))
    assert not symbolic_equal((("T\\_n=2n+\\frac{1}{2^{n}}-1", "T\\_n=2n+\\frac{1}{2^{n}}-2"),))
    assert not symbolic_equal((("2n + 1, (n \\in N^{}), \\frac{2n}{2n+1}", "2n + 1, (n \\in N^{}), \\frac{2n}{2n+2}"),))
    assert symbolic_equal((("1000.99", "so the number is 10 which is 1,000.99m²"),))  # a sentence is read for its number
    assert symbolic_equal((("5", "5 m"),)) and symbolic_equal((("5", "5m"),))  # a unit math-verify drops is no variable
    # The eccentricity `e` is Euler's number to math-verify: `e = \\frac{\\sqrt{6}}{3}` became a false
    # statement, as any wrong `e = ...` is, and they compared equal. On the real row, its options set aside:
    row = next(r for r in NUMINA if "the eccentricity $e$ of the ellipse is" in r["problem"])
    question = row["problem"].split("\nA:")[0]
    judge = lambda answer: settle("cn_k12", question, row["solution"], reply("t", f"$\\boxed{{{answer}}}$"))[0]  # noqa: E731
    assert judge("e = \\frac{\\sqrt{2}}{\\sqrt{3}}") == judge("\\frac{\\sqrt{2}}{\\sqrt{3}}") == judge("e=\\dfrac{\\sqrt{6}}{3}") == "correct"
    assert judge("e = \\frac{\\sqrt{3}}{3}") == judge("e = \\frac{\\sqrt{6}}{4}") == judge("n^2+1=n^2+1") == "wrong"
    assert settle("cn_k12", question, "$\\boxed{e=\\frac{1}{2}}$", reply("t", "$\\boxed{0.5}$")) == ("correct", "numeric_match")
    assert not symbolic_equal((("\\pi = 3", "e = 3"),))
    # An equation against a value is compared by its right side: right for `x + y = 5`, not for a line.
    assert symbolic_equal((("5", "x + y = 5"),)) and symbolic_equal((("0", "x = 0"),))
    assert not symbolic_equal((("0", "3x - y - 9 = 0"),)) and not symbolic_equal((("3x - y - 9 = 0", "0"),))
    assert symbolic_equal((("3x - y - 9 = 0", "y = 3x - 9"),))
    # The numbers in a sentence answer are compared; math-verify sees only its letters.
    sentence = "$\\boxed{50\\%}$ and $\\boxed{\\text{Yes, it will exceed 120,000}}$"
    assert settle("cn_k12", "p", sentence, reply("t", sentence.replace("120,000", "120,001"))) == ("wrong", "numeric_mismatch")
    assert settle("cn_k12", "p", sentence, reply("t", sentence))[0] == "correct"


def test_i_is_the_imaginary_unit_in_complex_answers_on_real_rows() -> None:
    # math-verify reads a lowercase i as a variable: MARIO_EVAL's case i(2-i) = 1+2i failed.
    assert pair_settle("eq0536") == ("correct", "symbolic_match")
    assert symbolic_equal((("-1", "i^2"),)) and symbolic_equal((("1+i", "\\frac{2}{1-i}"),))
    assert not symbolic_equal((("1+2i", "1-2i"),)) and not symbolic_equal((("2", "i"),))
    # With i replaced, nothing is evaluated: `z = 1+2i` for a real z is False, as is `z = 3-i`.
    assert not symbolic_equal((("z = 1+2i", "z = 3-i"),))
    assert not symbolic_equal((("x=1+i, y=2", "x=3i, y=2"),)) and symbolic_equal((("x=1+i, y=2", "x=i(1-i), y=2"),))
    row = MATH500["test/algebra/2264.json"]  # (-3+4i)/(1+2i) = 1+2i; the problem gives 11/5 - 2/5 i for the slip
    judge = lambda answer: settle("math", row["problem"], row["solution"], reply("t", f"So it is $\\boxed{{{answer}}}$."))  # noqa: E731
    assert judge("\\frac{(-3+4i)(1-2i)}{5}") == ("correct", "symbolic_match")
    assert judge("\\frac{11}{5}-\\frac{2}{5}i") == judge("1-2i") == ("wrong", "symbolic_mismatch")
    # A cn_k12 choice whose options are complex numbers: the value behind the letter, unsimplified.
    mc = next(r for r in NUMINA if r["problem"].startswith("The complex number $\\dfrac{1+3i}{i-1}$"))  # A: 1 - 2i
    judge = lambda answer: settle("cn_k12", mc["problem"], mc["solution"], reply("t", f"So it is $\\boxed{{{answer}}}$."))  # noqa: E731
    assert judge("\\frac{(1+3i)(-1-i)}{2}") == ("correct", "mc_value_match")
    assert judge("\\frac{-2+4i}{2}") == ("wrong", "mc_value_mismatch")  # option C


def test_unicode_math_in_real_replies() -> None:
    """Gemma boxes `√5`, `12π` and `(-∞,0)`: math-verify could not read the root at all and read the
    interval as the number 0 (so it matched a reference of 0); rchain's number reading took `−3`
    (a Unicode minus) for 3."""
    rows = {r["id"]: r for r in map(json.loads, filter(None, (SHARED_DATA / "graded_samples" / "qwen25math_harness_graded_outputs.jsonl").read_text(encoding="utf-8").split("\n")))}

    def judge(row_id: str, reference: str, source: str = "math") -> str:
        row = rows[row_id]
        response = row["model_response"]
        return settle(source, row["problem"], f"$\\boxed{{{reference}}}$", reply(response, response[-1500:]))[0]

    root, pi, interval = "sky_google_gemma-2-27b-it_math500_85", "sky_google_gemma-2-27b-it_math500_313", "sky_google_gemma-2-27b-it_math500_307"
    assert "\\boxed{√5}" in rows[root]["model_response"] and "(-∞,0)" in rows[interval]["harness_pred"]
    assert judge(root, "\\sqrt{5}") == judge(pi, "12\\pi") == judge(interval, "(-\\infty, 0)") == "correct"
    assert judge(root, "\\sqrt{6}") == judge(pi, "13\\pi") == judge(interval, rows[interval]["gold_answer"]) == "wrong"
    assert judge(interval, "0") == judge(interval, "0", source="gsm8k") == "wrong"
    minus = reply("t", "The temperature is $\\boxed{−3}$ degrees.")
    assert settle("gsm8k", "p", "#### -3", minus)[0] == "correct" and settle("gsm8k", "p", "#### 3", minus)[0] == "wrong"
    assert settle("math", "p", "$\\boxed{25}$", reply("t", "$\\boxed{5²}$"))[0] == "correct"
    assert settle("math", "p", "$\\boxed{(x+1)^2}$", reply("t", "$\\boxed{(x+1)³}$"))[0] == "wrong"


def test_amc_options_as_aops_writes_them_on_a_real_problem() -> None:
    """AMC problems (amc_aime, synthetic_amc) list options as `$\\textbf{(A)}\\ 3(1 + r)^x = 7\\qquad
    \\textbf{(B)}\\ ...$` and answer `\\textbf{(B)}\\ 3(1 + r/10)^x = 7`: the options were not read, so
    a reply giving the option's value was judged against a letter."""
    from rchain.verify.extract import choice_letter, options

    row = MATH500["test/intermediate_algebra/754.json"]  # an AMC problem; the reference boxes \text{(B)}
    assert options(row["problem"]) == {
        "A": "3(1 + r)^x = 7", "B": "3(1 + r/10)^x = 7", "C": "3(1 + 2r)^x = 7", "D": "3(1 + \\sqrt {r})^x = 7", "E": "3(1 + 1/r)^x = 7",
    }
    judge = lambda answer: settle("amc_aime", row["problem"], row["solution"], reply("t", f"The answer is $\\boxed{{{answer}}}$."))  # noqa: E731
    assert judge("B") == judge("\\text{(B)}") == ("correct", "mc_letter_match")
    assert judge("\\textbf{(B)}\\ 3(1 + r/10)^x = 7") == ("correct", "mc_letter_match")
    assert judge("3(1 + r/10)^x = 7") == ("correct", "mc_text_match")
    assert judge("3(1 + 2r)^x = 7") == ("wrong", "mc_value_mismatch")
    assert judge("\\textbf{(C)}\\ 3(1 + 2r)^x = 7") == ("wrong", "mc_letter_mismatch")
    assert choice_letter("\\textbf{(C)}\\ \\frac{5}{3}") == "C"


def test_every_aime_reference_that_collects_several_aops_solutions() -> None:
    """AIME 2022-2024 (AoPS wiki solutions, several per problem, each signed "~name" and ending on the
    answer, written \\boxed{033}, \\boxed{\\textbf{(113) }} or \\framebox{204}, with boxed steps on the
    way): the answer is correct against the reference and one more is wrong. Read as parts of one
    answer, 40 of the 90 were rejected, and the one with only \\framebox had no answer at all."""
    from rchain.verify.extract import gold_answers

    rows = [json.loads(line) for line in (SHARED_DATA / "numina_samples" / "other_eval_sets" / "aimo_validation_aime.jsonl").read_text(encoding="utf-8").split("\n") if line.strip()]
    assert len(rows) == 90
    for row in rows:
        judge = lambda answer: settle("amc_aime", row["question"], row["solution"], reply("t", f"The answer is $\\boxed{{{answer}}}$."))  # noqa: E731
        assert judge(row["answer"])[0] == "correct", row["url"]
        assert judge(int(row["answer"]) + 1)[0] == "wrong", row["url"]
    # An AIME problem has no options: "The answer is given by the number of $(A,B)$ such that ...",
    # after the reply's box, names none (it was read as the options A and B).
    sets = next(r for r in rows if r["url"].endswith("2022_AIME_I_Problems/Problem_12"))
    assert "The answer is given by the number of $(A,B)$" in sets["solution"]
    assert settle("amc_aime", sets["question"], "$\\boxed{245}$", reply("t", sets["solution"])) == ("correct", "exact_match")
    # The reference's boxed steps are not read as its answer's parts, nor as another solution's answer.
    dodecagon = next(r for r in rows if r["answer"] == "928")
    assert settle("amc_aime", dodecagon["question"], dodecagon["solution"], reply("t", "$\\boxed{480}$")) == ("wrong", "numeric_mismatch")
    # Headings as other references write them; solutions that end apart keep every box.
    two = "### Solution 1:\nSo $x = \\boxed{3}$, $y = \\boxed{4}$, and $x + y = \\boxed{7}$.\n### Solution 2:\nDirectly, $\\boxed{7}$.\n"
    assert gold_answers(two).answers == ("7",)
    assert gold_answers(two.replace("Directly, $\\boxed{7}$", "Directly, $\\boxed{8}$")).answers == ("3", "4", "7", "8")


def test_units_ambiguous_answers_and_a_worker_that_fails() -> None:
    # "15\mbox{ cm}^2": the same unit to another power is wrong; other words for units are math-verify's.
    assert math500_settle("test/prealgebra/1114.json", "$\\boxed{15\\mbox{ cm}^2}$") == ("correct", "exact_match")
    assert math500_settle("test/prealgebra/1114.json", "$\\boxed{15\\mbox{ cm}^3}$") == ("wrong", "unit_mismatch")
    assert math500_settle("test/prealgebra/1114.json", "$\\boxed{15\\text{ square cm}}$")[0] == "correct"
    # The number with its unit squared is a number: "864 \mbox{ inches}^2" against a box that holds
    # the sentence's full stop as well, `\boxed{864.}`, which math-verify cannot read.
    assert math500_settle("test/geometry/473.json", "$\\boxed{864.}$ square inches") == ("correct", "numeric_match")
    assert math500_settle("test/geometry/473.json", "$\\boxed{846.}$ square inches") == ("wrong", "numeric_mismatch")
    assert math500_settle("test/prealgebra/1114.json", "$\\boxed{15.}$") == ("correct", "numeric_match")
    # A word problem's box holding two numbers and words: no one answer to check.
    gsm = R1_BY_ID["cohere_r1_gsm8k_3"]  # gold: #### 540
    assert settle("gsm8k", gsm["problem"], gsm["gold_solution"], reply("t", "$\\boxed{540 \\text{ meters in } 3 \\text{ sprints}}$")) == ("malformed", "ambiguous_answer")
    # An exception in a worker is the reply's parse_error, never a wrong answer.
    from rchain.verify.pool import WorkerError

    outcome = precheck("math", "p", "$\\boxed{x^2}$", reply("t", "$\\boxed{x \\cdot x}$"), "stop")
    assert isinstance(outcome, Comparison)
    assert outcome.verdict(WorkerError("LaTeXParsingError: ...")) == ("unverifiable", "parse_error")
    assert outcome.verdict(TIMED_OUT) == ("unverifiable", "parse_timeout")
