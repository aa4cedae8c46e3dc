"""Events and the JSONL store: round trips, torn lines, unknown kinds, truncation and rotation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rchain.errors import DataError
from rchain.events import EventFollower, EventWriter, Message, Progress, StageFinished, StageStarted, decode_event, encode_event, read_events
from rchain.records import JsonlAppender, iter_jsonl, repair_torn_tail
from rchain.secrets import Redactor


def test_events_round_trip_with_stage_and_time_stamped(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    writer = EventWriter(path, "train:V", clock=lambda: 123.5)
    writer.emit(StageStarted(pid=42))
    writer.emit(Progress(done=3, total=10, unit="steps"))
    writer.emit(StageFinished(status="done", exit_code=0))
    writer.close()
    events = read_events(path)
    assert events == [
        StageStarted(pid=42, t=123.5, stage="train:V"),
        Progress(done=3, total=10, unit="steps", t=123.5, stage="train:V"),
        StageFinished(status="done", exit_code=0, t=123.5, stage="train:V"),
    ]
    first = path.read_bytes().split(b"\n")[0]
    assert b'"kind":"stage_started"' in first and b'"v":1' in first


def test_torn_last_line_is_skipped_and_repaired_by_the_next_writer(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    good = encode_event(Progress(done=1, stage="g", t=1.0))
    path.write_bytes(good + b"\n" + good[:17])  # a writer killed mid-line
    assert read_events(path) == [Progress(done=1, stage="g", t=1.0)]
    writer = EventWriter(path, "g", clock=lambda: 2.0)
    writer.emit(Progress(done=2))
    writer.close()
    assert [e.done for e in read_events(path)] == [1, 2]
    assert path.read_bytes().count(b"\n") == 2


def test_unknown_kinds_newer_versions_and_garbage_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    lines = [
        b'{"kind":"progress","v":1,"t":1,"stage":"g","done":1}',
        b'{"kind":"quantum_flux","v":1,"t":1,"stage":"g"}',
        b'{"kind":"progress","v":2,"t":1,"stage":"g","done":9}',
        b"not json at all",
        b'{"kind":"progress","v":1,"t":1,"stage":"g","done":"three"}',
        b'{"kind":"message","v":1,"t":2,"stage":"g","text":"hi"}',
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    follower = EventFollower(path)
    assert follower.poll() == [Progress(done=1, t=1, stage="g"), Message(text="hi", t=2, stage="g")]
    assert follower.skipped == 4
    assert decode_event(b"") is None


def test_follower_reads_only_new_lines_and_waits_for_a_partial_one(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    follower = EventFollower(path)
    assert follower.poll() == []  # no file yet
    line = encode_event(Progress(done=1, stage="g", t=1.0))
    with open(path, "ab") as fh:
        fh.write(line + b"\n" + line[:10])
    assert len(follower.poll()) == 1
    with open(path, "ab") as fh:
        fh.write(line[10:] + b"\n")
    assert len(follower.poll()) == 1
    assert follower.poll() == []


def test_follower_survives_truncation_and_rotation(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    line = lambda n: encode_event(Progress(done=n, stage="g", t=1.0)) + b"\n"  # noqa: E731
    path.write_bytes(line(1) + line(2))
    follower = EventFollower(path)
    assert [e.done for e in follower.poll()] == [1, 2]
    path.write_bytes(line(3))  # truncated and rewritten, shorter than before
    assert [e.done for e in follower.poll()] == [3]
    rotated = tmp_path / "new.jsonl"
    rotated.write_bytes(line(4) + line(5) + line(6))
    os.replace(rotated, path)  # a new file (new inode) under the same name
    assert [e.done for e in follower.poll()] == [4, 5, 6]


def test_writer_masks_secrets(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    writer = EventWriter(path, "g", redactor=Redactor(["sk-abcdefghijklmnop"]))
    writer.emit(Message(text="failed with key sk-abcdefghijklmnop"))
    writer.close()
    assert b"sk-abc" not in path.read_bytes()
    assert read_events(path)[0].text == "failed with key ***"


def test_repair_cuts_only_an_unterminated_tail(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    assert repair_torn_tail(path) == 0  # missing file
    path.write_bytes(b'{"a":1}\n{"a":2}\n')
    assert repair_torn_tail(path) == 0
    path.write_bytes(b'{"a":1}\n{"a":')
    assert repair_torn_tail(path) == 5
    assert path.read_bytes() == b'{"a":1}\n'
    path.write_bytes(b'{"only": "torn' * 10000)  # longer than one block, no newline at all
    repair_torn_tail(path)
    assert path.read_bytes() == b""


def test_appender_keeps_unicode_line_separators_inside_records(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    text = "a problem\u2028with a line separator\u2029inside"
    import orjson

    with JsonlAppender(path) as out:
        out.append(orjson.dumps({"problem": text}))
        out.append(orjson.dumps({"problem": "second"}))
    assert [obj["problem"] for _, obj in iter_jsonl(path)] == [text, "second"]


def test_malformed_jsonl_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "raw.jsonl"
    path.write_bytes(b'{"a":1}\n{"a":2}\n{"a":\n{"a":4}\n')
    with pytest.raises(DataError) as info:
        list(iter_jsonl(path))
    assert info.value.message.startswith(f"{path}:3: malformed JSON line")


def test_batch_fold_equals_folding_one_event_at_a_time_and_chunked_reads_lose_nothing(tmp_path: Path) -> None:
    import functools
    import random

    from rchain.events import EventFollower, GenerateProgress, Message, Progress, StageFinished, StageStarted
    from rchain.runs import StageView, fold_event, fold_events

    rng = random.Random(7)
    writer = EventWriter(tmp_path / "events.jsonl", "generate")
    for i in range(3000):
        roll = rng.random()
        if roll < 0.01:
            writer.emit(StageStarted(pid=i))
        elif roll < 0.02:
            writer.emit(StageFinished(status="failed", exit_code=1, reason=rng.choice(["", "boom"])))
        elif roll < 0.2:
            writer.emit(Message(level=rng.choice(["info", "warning"]), text=f"m{i}"))
        elif roll < 0.4:
            writer.emit(Progress(done=i, total=3000))
        else:
            writer.emit(GenerateProgress(teacher=rng.choice(["A", "B", "C"]), done=i, total=3000))
    writer.close()
    everything = EventFollower(tmp_path / "events.jsonl").poll()
    assert len(everything) == 3000
    one_by_one = functools.reduce(fold_event, everything, StageView(id="generate"))
    assert fold_events(StageView(id="generate"), everything) == one_by_one
    # Read 1 KB at a time, folding each piece onto the last: the same view, nothing lost.
    follower, view, pieces = EventFollower(tmp_path / "events.jsonl"), StageView(id="generate"), 0
    while True:
        view = fold_events(view, follower.poll(max_bytes=1024))
        pieces += 1
        if not follower.behind:
            break
    assert view == one_by_one and pieces > 100


def test_a_reader_starts_from_the_stage_checkpoint_and_folds_only_what_came_after(tmp_path: Path) -> None:
    from rchain.events import GenerateProgress, Message, StageStarted
    from rchain.runs import RunDir, RunWatcher, ViewCheckpoint

    run = RunDir(tmp_path)
    run.stage_dir("generate").mkdir(parents=True)
    checkpoint = ViewCheckpoint(run, "generate")
    writer = EventWriter(run.events_path("generate"), "generate", observer=checkpoint.observe)
    writer.emit(StageStarted(pid=1))
    for i in range(2000):
        writer.emit(GenerateProgress(teacher="A" if i % 2 else "B", done=i, total=2000))
        if i % 100 == 0:
            writer.emit(Message(level="warning", text=f"slow {i}"))
    checkpoint.save()
    covered = run.events_path("generate").stat().st_size
    writer.emit(GenerateProgress(teacher="A", done=5000, total=5000))  # after the checkpoint
    writer.close()
    full = RunWatcher(run, ["generate"])
    # Scribble over the part the checkpoint covers (same inode): a reader that starts from the
    # checkpoint never reads it, one without the checkpoint sees nothing but garbage there.
    with open(run.events_path("generate"), "r+b") as fh:
        fh.write(b"x" * (covered - 1))
    view = RunWatcher(run, ["generate"]).snapshot().stage("generate")
    assert view.pid == 1 and view.warnings == 20
    assert view.snapshots["generate_progress:A"].done == 5000 and view.snapshots["generate_progress:B"].done == 1998
    (run.stage_dir("generate") / "view.json").unlink()
    assert "generate_progress:B" not in full.snapshot().stage("generate").snapshots
