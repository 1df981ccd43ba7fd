"""Claude Code lines that once came out wrong: found by trying to break the reader.

Each test names what a plain reading of the lines gives, worked out by hand.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from spendtap.agentlogs.claude_code import ClaudeCodeFormat, TranscriptFile
from spendtap.agentlogs.events import fast_event_id
from spendtap.agentlogs.lines import Lines
from spendtap.agentlogs.stats import ImportStats
from tests.agentlogs.conftest import assistant_record, import_json

#: The event id namespace, as the contract fixes it.
NAMESPACE = uuid.UUID("6f1c3a52-58f0-4d8e-9a55-2b1d4c0e7a11")


def line(
    message_id: str,
    output: int,
    at: str,
    request_id: str | None = "req_1",
    *,
    text: str = "done",
    prompt: int = 10,
) -> dict[str, Any]:
    content = [{"type": "text", "text": text}]
    return assistant_record(
        message_id, request_id, output, at, content=content, prompt=prompt
    )


def compact(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode()


def read(*lines: bytes) -> tuple[list[tuple[object, ...]], ImportStats]:
    fmt = ClaudeCodeFormat()
    reader = TranscriptFile(fmt, Path("s.jsonl"))
    reader.feed(Lines.of(lines))
    calls = reader.settle(final=True)
    found = [
        (c.response_id, c.request_id, c.output_tokens, c.input_tokens) for c in calls
    ]
    return sorted(found, key=str), fmt.stats


def test_a_time_out_of_range_once_in_utc_costs_its_line_only() -> None:
    calls, stats = read(
        compact(line("ok1", 5, "2025-10-02T10:00:00.000Z")),
        compact(line("early", 5, "0001-01-01T00:00:00+14:00")),
        compact(line("late", 5, "9999-12-31T23:59:59-14:00")),
        compact(line("ok2", 7, "2025-10-02T10:00:01.000Z")),
    )

    assert [c[0] for c in calls] == ["ok1", "ok2"]
    assert stats.unusable_lines == 2


def test_a_bad_time_in_claude_codes_own_shape_costs_its_line_not_the_response() -> None:
    calls, stats = read(
        compact(line("mG", 2, "2025-10-02T25:00:01.000Z")),  # hour 25
        compact(line("mG", 50, "2025-10-02T10:00:02.000Z")),
    )

    assert calls == [("mG", "req_1", 50, 10)]
    assert stats.unusable_lines == 1


def test_two_records_run_together_by_a_crash_are_not_read_as_one() -> None:
    cut = compact(line("mA", 3, "2025-10-02T10:00:00.000Z", "rA", text="partial"))
    cut = cut[: cut.index(b"partial") + 4]  # the writer died mid-text
    merged = cut + compact(
        line("mB", 500, "2025-10-02T10:05:00.000Z", "rB", prompt=7777)
    )

    calls, stats = read(
        merged, compact(line("mA", 40, "2025-10-02T10:00:01.000Z", "rA"))
    )

    assert calls == [("mA", "rA", 40, 10)]
    assert stats.invalid_lines == 1


def test_usage_written_before_the_content_is_the_usage_read() -> None:
    record = line("mE", 5, "2025-10-02T10:00:00.000Z")
    message = record["message"]
    record["message"] = {
        "id": "mE",
        "usage": message["usage"],
        "content": message["content"],
    }
    record["meta"] = {
        "items": [1],
        "stop_reason": "x",
        "usage": {"input_tokens": 1, "output_tokens": 99999},
    }

    assert read(compact(record))[0] == [("mE", "req_1", 5, 10)]


def test_a_cut_emoji_escape_reads_the_same_compact_or_spaced() -> None:
    record = line("mS", 9, "2025-10-02T10:00:00.000Z", text="cut \ud83d here")
    spaced = json.dumps(record, indent=1).replace("\n", " ").encode()
    assert b"\\ud83d" in spaced

    assert read(compact(record))[0] == read(spaced)[0] == [("mS", "req_1", 9, 10)]


def test_ids_that_contain_the_separator_give_different_event_ids() -> None:
    first = fast_event_id("claude_code_log", ("a|b", "c"))
    second = fast_event_id("claude_code_log", ("a", "b|c"))
    plain = fast_event_id("claude_code_log", ("msg_1", "req_1"))

    assert first != second
    # Ids without the separator keep the id they always had.
    assert plain == str(uuid.uuid5(NAMESPACE, "claude_code_log|msg_1|req_1"))


def test_a_copy_without_request_id_in_the_other_process_is_dropped_as_in_one(
    tmp_path: Path,
) -> None:
    """The resumed session's copy lacks the request id and is read by the second
    process: one call, as one process reads it."""
    projects = tmp_path / "projects" / "-home-dev-p"
    projects.mkdir(parents=True)
    original = line("m1", 50, "2025-10-02T10:00:00.000Z", "req_1")
    user = {"type": "user", "message": {"role": "user", "content": "x" * 4000}}
    older = projects / "a.jsonl"
    older.write_bytes(compact(user) + b"\n" + compact(original) + b"\n")
    newer = projects / "b.jsonl"
    newer.write_bytes(compact(line("m1", 50, "2025-10-02T10:00:00.000Z", None)) + b"\n")
    os.utime(older, (1_759_000_000, 1_759_000_000))
    os.utime(newer, (1_759_000_060, 1_759_000_060))

    data = tmp_path / "data"
    split, split_log = import_json(projects.parent, data, split=True, home=tmp_path)
    whole, _ = import_json(projects.parent, data, split=False, home=tmp_path)

    assert "agentlogs.backfill.split shards=2" in split_log
    assert split == whole
    assert len(whole) == 1
    assert "cross_file_duplicates=1" in split_log.splitlines()[-1]


def test_a_copy_the_second_process_took_first_hides_no_later_call(
    tmp_path: Path,
) -> None:
    """a: m2/r2 (all of the first shard); b: a copy of m2 without request id;
    c: m2 with another request, r1. In order: b's copy is dropped (m2 was taken
    with r2), and c's r1 is a call of its own: two calls. The second process once
    took b's copy itself, dropped c for it, and the parent then dropped b: one."""
    projects = tmp_path / "projects" / "-home-dev-p"
    projects.mkdir(parents=True)
    user = {"type": "user", "message": {"role": "user", "content": "x" * 4000}}
    files = {
        "a.jsonl": [user, line("m2", 5, "2025-10-02T10:00:00.000Z", "r2")],
        "b.jsonl": [line("m2", 5, "2025-10-02T10:00:00.000Z", None)],
        "c.jsonl": [line("m2", 7, "2025-10-02T10:01:00.000Z", "r1")],
    }
    for index, (name, records) in enumerate(files.items()):
        path = projects / name
        path.write_bytes(b"".join(compact(r) + b"\n" for r in records))
        os.utime(path, (1_759_000_000 + 60 * index,) * 2)

    data = tmp_path / "data"
    split, split_log = import_json(projects.parent, data, split=True, home=tmp_path)
    whole, _ = import_json(projects.parent, data, split=False, home=tmp_path)

    assert "agentlogs.backfill.split shards=2" in split_log
    assert split == whole
    assert sorted(json.loads(e)["request_id"] for e in whole) == ["r1", "r2"]
    assert "cross_file_duplicates=1" in split_log.splitlines()[-1]


def test_nesting_too_deep_to_decode_costs_its_line_only() -> None:
    """1,500 nested lists in the content (msgspec and the standard library stop at
    about a thousand): that line is invalid, the others are read."""
    nest = b"[" * 1500 + b"]" * 1500

    def deep(message_id: str, text: str) -> bytes:
        record = line(message_id, 5, "2025-10-02T10:00:00.000Z", text=text)
        record["message"]["content"].append("NEST")
        return compact(record).replace(b'"NEST"', nest)

    calls, stats = read(
        compact(line("ok", 3, "2025-10-02T10:00:00.000Z")),
        deep("mD", "plain"),
        deep("mC", "cut \ud83d"),  # read by the standard library instead
    )

    assert calls == [("ok", "req_1", 3, 10)]
    assert stats.invalid_lines == 2


def test_a_week_date_is_no_canonical_time() -> None:
    """``2025-W40-4T09:00:00.000Z`` (Thursday of week 40: 2 October, 09:00) has
    Claude Code's length and separators at 10 and 19, but does not sort as text."""
    fmt = ClaudeCodeFormat()
    reader = TranscriptFile(fmt, Path("s.jsonl"))
    reader.feed(
        Lines.of(
            [
                compact(line("m1", 1, "2025-10-02T10:00:00.000Z")),
                compact(line("m1", 2, "2025-W40-4T09:00:00.000Z")),
            ]
        )
    )
    (call,) = reader.settle(final=True)

    assert call.started_at.isoformat() == "2025-10-02T09:00:00+00:00"
    assert call.ended_at is not None
    assert call.ended_at.isoformat() == "2025-10-02T10:00:00+00:00"
    assert (call.started_text, call.ended_text) == (None, "2025-10-02T10:00:00.000Z")
    assert call.output_tokens == 2


def test_the_fallback_reader_takes_only_what_orjson_would() -> None:
    """A line with a cut emoji goes to the standard library; a byte order mark or
    NaN there makes it no line, as orjson says of a line without the emoji."""
    record = compact(line("mB", 4, "2025-10-02T10:00:00.000Z", text="\ud83d"))
    with_bom = b"\xef\xbb\xbf" + record
    with_nan = record[:-1] + b',"x":NaN}'

    for bad in (with_bom, with_nan):
        calls, stats = read(bad)
        assert (calls, stats.invalid_lines) == ([], 1)
    assert read(record)[0] == [("mB", "req_1", 4, 10)]


def test_a_file_with_invalid_lines_is_named_in_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        _, stats = read(
            compact(line("ok", 3, "2025-10-02T10:00:00.000Z")),
            b'{"type":"assistant","usage":{"output_tokens":1}',  # cut short
            b'{"type":"assistant","usage":{}} trailing',
        )

    assert stats.invalid_lines == 2
    assert "agentlogs.claude_code.invalid_lines path=s.jsonl count=2" in caplog.text
