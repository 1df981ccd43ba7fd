"""Claude Code's compact lines (decoded without their content blocks) and the same
records written any other way (decoded whole) give the same calls, and both give
what a plain reading of the records says."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from spendtap.agentlogs.claude_code import ClaudeCodeFormat, TranscriptFile
from spendtap.agentlogs.lines import Lines
from tests.agentlogs.conftest import assistant_record

START = datetime(2025, 10, 2, 9, tzinfo=UTC)
#: Text and tool input that contain the byte patterns the reader looks for.
TRICKY_TEXT = st.sampled_from(
    [
        "plain words",
        '],"stop_reason":"end_turn"} "usage": {"output_tokens": 9}',
        '"content":[ "type":"user" "message":',
        '\\"escaped\\" quotes and a newline \n inside',
    ]
)
TOOL_INPUT = st.fixed_dictionaries(
    {
        "usage": st.just({"output_tokens": 77}),
        "list": st.just([1, 2]),
        "stop_reason": st.just("tool input, not the message's"),
    }
)
BLOCK = st.one_of(
    st.builds(lambda t: {"type": "text", "text": t}, TRICKY_TEXT),
    st.builds(
        lambda i: {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": i},
        TOOL_INPUT,
    ),
)
LINE = st.tuples(
    st.sampled_from(["msg_A", "msg_B", "msg_C"]),
    st.sampled_from(["req_1", "req_2"]),
    st.integers(min_value=0, max_value=5000),  # output tokens
    st.integers(min_value=0, max_value=600_000),  # milliseconds after START
    st.lists(BLOCK, min_size=1, max_size=3),
    st.integers(min_value=0, max_value=3),  # input tokens: tells the lines apart
)
Line = tuple[str, str, int, int, list[dict[str, Any]], int]


def record(line: Line) -> dict[str, Any]:
    message_id, request_id, output, offset, blocks, prompt = line
    stamp = START + timedelta(milliseconds=offset)
    at = stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return assistant_record(
        message_id, request_id, output, at, content=blocks, prompt=prompt
    )


def read(lines: list[bytes]) -> list[tuple[object, ...]]:
    reader = TranscriptFile(ClaudeCodeFormat(), Path("session.jsonl"))
    reader.feed(Lines.of(lines))
    calls = reader.settle(final=True)
    return sorted(
        (
            c.response_id,
            c.request_id,
            c.output_tokens,
            c.input_tokens,
            c.started_at,
            c.ended_at,
        )
        for c in calls
    )


def expected(records: list[dict[str, Any]]) -> list[tuple[object, ...]]:
    """One call per (message id, request id): the largest output (the later line
    among equals), from the first of its lines' times to the last."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["message"]["id"], r["requestId"]), []).append(r)
    calls = []
    for (message_id, request_id), rows in groups.items():
        best = max(rows[::-1], key=lambda r: r["message"]["usage"]["output_tokens"])
        times = [datetime.fromisoformat(r["timestamp"]) for r in rows]
        usage = best["message"]["usage"]
        calls.append(
            (
                message_id,
                request_id,
                usage["output_tokens"],
                usage["input_tokens"],
                min(times),
                max(times),
            )
        )
    return sorted(calls)


@settings(max_examples=200, deadline=None)
@given(st.lists(LINE, min_size=1, max_size=12))
def test_compact_and_spaced_lines_give_the_calls_a_plain_reading_gives(
    lines: list[Line],
) -> None:
    records = [record(line) for line in lines]
    compact = [json.dumps(r, separators=(",", ":")).encode() for r in records]
    spaced = [json.dumps(r, indent=1).replace("\n", " ").encode() for r in records]

    assert read(compact) == expected(records)
    assert read(spaced) == expected(records)
