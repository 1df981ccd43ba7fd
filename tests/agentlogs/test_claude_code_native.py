"""The compiled Claude Code reader gives exactly the Python reader's events.

``claude_code_native`` re-does ``TranscriptFile`` with ``EventFactory.build_line``
in one compiled pass and leaves unusual responses to them. Each test reads the
same transcripts both ways (``SPENDTAP_PURE_PYTHON=1`` for the Python way) and
holds the two to the same event lines, byte for byte, in the same order, and to
the same counts. The transcripts are every fixture case and random ones built to
hit what the compiled pass must get right or hand back: spacing, times in every
form, ids with characters that need escaping, lone surrogates, counts past what
integer arithmetic or the engine takes, unknown and time-of-day-free models,
compaction steps, content-block lines and streaming snapshots, copies across
files, broken and truncated lines.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spendtap.agentlogs import claude_code_backfill
from spendtap.agentlogs.claude_code import ClaudeCodeFormat
from spendtap.agentlogs.context import AgentHomes, LogContext
from spendtap.agentlogs.events import EventFactory, EventLine, ImportedEvent
from spendtap.agentlogs.importer import LogImporter
from tests.agentlogs.conftest import FIXTURES, copy_fixture, make_repo

CASES = sorted(p.name for p in (FIXTURES / "claude_code").iterdir() if p.is_dir())


def test_the_compiled_reader_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    # The test set-up (scripts/setup) builds it; without it every backfill is
    # read the slow way and the tests below would compare Python with itself.
    assert claude_code_backfill.built()
    monkeypatch.delenv(claude_code_backfill.PURE_PYTHON_ENV, raising=False)
    assert claude_code_backfill.available()
    monkeypatch.setenv(claude_code_backfill.PURE_PYTHON_ENV, "1")
    assert not claude_code_backfill.available()


def read_both(
    root: Path, data_dir: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[tuple[list[bytes], dict[str, int]], tuple[list[bytes], dict[str, int]]]:
    """(event lines, counts) read the Python way, then the compiled way."""
    results = []
    for pure in ("1", "0"):
        monkeypatch.setenv(claude_code_backfill.PURE_PYTHON_ENV, pure)
        fmt = ClaudeCodeFormat()
        factory = EventFactory(LogContext(data_dir, homes=AgentHomes(home=home)))
        importer = LogImporter(fmt, [root])
        if pure == "0":
            assert fmt.event_reader(factory) is not None
        lines = [
            imported.line.data
            for batch in importer.backfill_events(factory)
            for imported in batch
        ]
        results.append((lines, fmt.stats.as_dict()))
    return results[0], results[1]


@pytest.mark.parametrize("case", CASES)
def test_every_fixture_case_reads_the_same_both_ways(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    projects = home / ".claude" / "projects"
    repo = make_repo(tmp_path / "payments")
    copy_fixture(FIXTURES / "claude_code" / case / "projects", projects, repo)
    python, native = read_both(projects, tmp_path / "data", home, monkeypatch)
    assert python[0], "a fixture case with no events compares nothing"
    assert native == python


# Random transcripts.

MODELS = [
    "claude-sonnet-4-5-20250929",
    "claude-opus-4-1-20250805",
    "claude-3-5-haiku-20241022",
    "claude-sonnet-4@20250514",
    "anthropic.claude-3-5-sonnet-20241022-v2:0",
    "claude-sonnet-4-5-20250929",
    "<synthetic>",
    "no-such-model-7",
    "",
    None,
    7,
]
TEXTS = [
    "plain",
    'quote " and back\\slash',
    "pipe | in it",
    "tab\tnew\nline\x01ctl\x7f",
    "ünïcødé ✓ 🎉",
    "/",
]
STAMPS = [
    "2025-10-02T09:00:{s:02d}.{ms:03d}Z",
    "2025-10-02T09:00:{s:02d}.{ms:03d}Z",
    "2025-10-02T09:00:{s:02d}.{ms:03d}Z",
    "2025-10-02T11:00:{s:02d}.{ms:03d}+02:00",
    "2025-10-02T09:00:{s:02d}Z",
    "2025-10-02T09:00:{s:02d}.{ms:03d}123456Z",
    "2025-10-02T09:00:{s:02d}.{ms:03d}",
    "2025-13-02T09:00:{s:02d}.{ms:03d}Z",
    "2025-W40-4T09:00:{s:02d}.000Z",
    "1969-12-31T23:59:{s:02d}.{ms:03d}Z",
    "2025-02-29T09:00:{s:02d}.{ms:03d}Z",
    "2024-02-29T23:59:{s:02d}.{ms:03d}Z",
]
COUNTS: list[Any] = [
    0, 1, 3, 150, 4_000, 210_000, 2**40 - 1, 2**40, 2**53 + 1, 2**63 - 1, 2**63,
    -5, True, 2.5, "12", None,
]  # fmt: skip


def _count(rng: random.Random) -> Any:
    return rng.choice(COUNTS) if rng.random() < 0.25 else rng.randrange(0, 50_000)


def _usage(rng: random.Random, output: int) -> Any:
    if rng.random() < 0.03:
        return rng.choice([[1, 2], "usage", None])
    usage: dict[str, Any] = {"input_tokens": _count(rng), "output_tokens": output}
    if rng.random() < 0.05:  # a prompt at a long-context price band's edge
        usage["input_tokens"] = rng.choice([200_000, 200_001])
        return usage
    for key in ("cache_read_input_tokens", "cache_creation_input_tokens"):
        if rng.random() < 0.7:
            usage[key] = _count(rng)
    if rng.random() < 0.5:
        usage["cache_creation"] = rng.choice(
            [
                {"ephemeral_5m_input_tokens": _count(rng)},
                {
                    "ephemeral_5m_input_tokens": _count(rng),
                    "ephemeral_1h_input_tokens": _count(rng),
                },
                {"ephemeral_1h_input_tokens": _count(rng)},
                "odd",
            ]
        )
    if rng.random() < 0.3:
        usage["service_tier"] = rng.choice(["standard", "priority", "batch", 3])
    if rng.random() < 0.2:
        usage["inference_geo"] = rng.choice(["us", "global", "not_available", ""])
    if rng.random() < 0.1:
        usage["server_tool_use"] = {"web_search_requests": _count(rng)}
    if rng.random() < 0.1:
        usage["output_tokens_details"] = {"thinking_tokens": _count(rng)}
    if rng.random() < 0.05:
        usage["iterations"] = [
            {"input_tokens": _count(rng), "output_tokens": _count(rng)}
            for _ in range(rng.randrange(1, 3))
        ]
    return usage


def _stamp(rng: random.Random, second: int) -> Any:
    if rng.random() < 0.02:
        return rng.choice([None, 17, ""])
    form = rng.choice(STAMPS) if rng.random() < 0.3 else STAMPS[0]
    return form.format(s=second % 60, ms=rng.randrange(1000))


def _text(rng: random.Random, prefix: str) -> str:
    if rng.random() < 0.15:
        return prefix + rng.choice(TEXTS)
    return f"{prefix}{rng.randrange(6)}"


def _response_lines(rng: random.Random, second: int) -> Iterator[dict[str, Any]]:
    message_id: Any = _text(rng, "msg_")
    if rng.random() < 0.02:
        message_id = rng.choice([None, "", 5])
    request_id: Any = _text(rng, "req_") if rng.random() < 0.8 else None
    if rng.random() < 0.03:
        request_id = rng.choice(["", 9])
    model = rng.choice(MODELS)
    final = rng.randrange(1, 3_000)
    outputs = [final] * rng.randrange(1, 4)
    if rng.random() < 0.3:
        outputs.insert(0, rng.randrange(0, final + 1))  # a streaming snapshot
    for index, output in enumerate(outputs):
        line: dict[str, Any] = {
            "parentUuid": None,
            "isSidechain": rng.random() < 0.1,
            "userType": "external",
            "cwd": rng.choice(["/work/payments", "/work/" + rng.choice(TEXTS), None]),
            "sessionId": _text(rng, "s-"),
            "version": rng.choice(["2.1.3", "1.0.0", None]),
            "gitBranch": rng.choice(["main", "HEAD", "feature/PAY-42-x", "ü", 3]),
            "message": {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": rng.choice(TEXTS)}],
                "usage": _usage(rng, output),
            },
            "type": "assistant",
            "timestamp": _stamp(rng, second + index),
        }
        if request_id is not None:
            line["requestId"] = request_id
        if rng.random() < 0.02:
            line["isApiErrorMessage"] = True
        yield line


def _encode(rng: random.Random, record: dict[str, Any]) -> str:
    if rng.random() < 0.1:
        return json.dumps(record, separators=(", ", ": "))
    text = json.dumps(record, separators=(",", ":"), ensure_ascii=rng.random() < 0.5)
    if rng.random() < 0.02:  # an emoji cut in half, as Node writes it
        text = text.replace('"text":"', '"text":"\\ud83d', 1)
    if rng.random() < 0.01:
        text = text.replace('"id":"', '"id":"\\udc00', 1)
    return text


def _transcript(rng: random.Random, second: int) -> list[str]:
    lines: list[str] = []
    for _ in range(rng.randrange(1, 12)):
        roll = rng.random()
        if roll < 0.2:
            user = {"type": "user", "message": {"role": "user", "content": "hi"}}
            lines.append(json.dumps(user, separators=(",", ":")))
        elif roll < 0.23:
            lines.append(rng.choice(['{"type":"assistant","usage":', "[1,2]", "NaN"]))
        else:
            lines.extend(_encode(rng, r) for r in _response_lines(rng, second))
        second += 7
    return lines


def write_transcripts(rng: random.Random, projects: Path) -> None:
    """Sessions in two project folders; some repeat another's lines (resumed)."""
    written: list[list[str]] = []
    for index in range(rng.randrange(1, 5)):
        folder = projects / f"-work-p{index % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        lines = _transcript(rng, index * 100)
        if written and rng.random() < 0.3:
            lines = rng.choice(written)[: rng.randrange(1, 6)] + lines
        written.append(lines)
        text = "\n".join(lines)
        ending = rng.random()
        if ending < 0.8:
            text += "\n"
        elif ending < 0.9:
            text = text[: rng.randrange(len(text) // 2, len(text))]
        path = folder / f"session-{index}.jsonl"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        stamp = 1_759_000_000 + index * 60
        os.utime(path, (stamp, stamp))


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(seed=st.integers(0, 2**32 - 1))
def test_random_transcripts_read_the_same_both_ways(
    seed: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    base = tmp_path_factory.mktemp("random")
    projects = base / "home" / ".claude" / "projects"
    write_transcripts(random.Random(seed), projects)
    with pytest.MonkeyPatch.context() as monkeypatch:
        python, native = read_both(projects, base / "data", base / "home", monkeypatch)
    assert native == python


def test_random_transcripts_reach_both_ways_of_the_compiled_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The random transcripts are neither all handed back to Python nor all kept."""
    projects = tmp_path / "home" / ".claude" / "projects"
    for seed in range(40):
        write_transcripts(random.Random(seed), projects / str(seed))
    monkeypatch.setenv(claude_code_backfill.PURE_PYTHON_ENV, "0")
    fmt = ClaudeCodeFormat()
    factory = EventFactory(
        LogContext(tmp_path / "data", homes=AgentHomes(home=tmp_path / "home"))
    )
    reader = fmt.event_reader(factory)
    assert isinstance(reader, claude_code_backfill.NativeTranscripts)
    events = [
        imported
        for path in sorted(projects.rglob("*.jsonl"))
        for batch in reader.read_file(path)
        for imported in batch
    ]
    slow = reader.slow_calls
    assert 0 < slow < len(events), (slow, len(events))
    # The compiled reader makes the same named tuples as the Python code.
    assert all(type(e) is ImportedEvent and type(e.line) is EventLine for e in events)


def test_feed_refuses_what_is_not_complete_lines(tmp_path: Path) -> None:
    fmt = ClaudeCodeFormat()
    factory = EventFactory(
        LogContext(tmp_path / "data", homes=AgentHomes(home=tmp_path))
    )
    reader = claude_code_backfill.NativeTranscripts(fmt, factory)._reader
    for data, start, end in ((b"{}", 0, 2), (b"{}\n", 0, 9), (b"{}\n", 2, 1)):
        with pytest.raises(ValueError, match="complete lines"):
            reader.feed(data, start, end)
    assert reader.feed(b"{}\n", 0, 3) == 0


def _nested(depth: int) -> str:
    """A response line whose content is ``depth`` - 2 arrays deep (the line and
    its message are the other two levels)."""
    inner = "[" * (depth - 2) + "1" + "]" * (depth - 2)
    return (
        '{"type":"assistant","timestamp":"2025-10-02T09:00:00.000Z",'
        f'"requestId":"req_{depth}","message":{{"id":"msg_{depth}",'
        '"model":"claude-sonnet-4-5-20250929",'
        f'"content":{inner},"usage":{{"input_tokens":1,"output_tokens":1}}}}}}'
    )


@pytest.mark.parametrize("depth", [1000, 1024, 1025, 1200, 1493, 1496, 5000])
def test_nesting_past_the_limit_is_an_invalid_line_wherever_it_is_read(
    depth: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # How deep msgspec can go depends on the caller's stack; whether a line is
    # read must not (it did: depth 1493 was read one way and not the other).
    from spendtap.agentlogs.claude_code import MAX_DEPTH, read_line

    home = tmp_path / "home"
    projects = home / ".claude" / "projects"
    (projects / "p").mkdir(parents=True)
    line = _nested(depth)
    (projects / "p" / "s.jsonl").write_text(line + "\n")
    python, native = read_both(projects, tmp_path / "data", home, monkeypatch)
    assert native == python
    readable = depth <= MAX_DEPTH
    assert python[1]["calls"] == (1 if readable else 0)
    assert python[1]["invalid_lines"] == (0 if readable else 1)

    def nested_call(levels: int) -> object:  # deeper in the C stack each time
        return read_line(line.encode()) if levels == 0 else nested_call(levels - 1)

    assert (nested_call(300) is not None) == readable


def test_caches_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # One session per line: the per-session pieces would otherwise pile up.
    from spendtap.agentlogs.claude_code_native import CACHE_SIZE_LIMIT

    projects = tmp_path / "home" / ".claude" / "projects" / "p"
    projects.mkdir(parents=True)
    lines = [
        json.dumps(
            {
                "type": "assistant",
                "timestamp": "2025-10-02T09:00:00.000Z",
                "sessionId": f"s-{index}",
                "requestId": f"req_{index}",
                "message": {
                    "id": f"msg_{index}",
                    "model": "claude-sonnet-4-5-20250929",
                    "usage": {"input_tokens": 1, "output_tokens": 1},
                },
            }
        )
        for index in range(CACHE_SIZE_LIMIT + 10)
    ]
    (projects / "s.jsonl").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv(claude_code_backfill.PURE_PYTHON_ENV, "0")
    factory = EventFactory(
        LogContext(tmp_path / "data", homes=AgentHomes(home=tmp_path / "home"))
    )
    reader = claude_code_backfill.NativeTranscripts(ClaudeCodeFormat(), factory)
    events = [e for batch in reader.read_file(projects / "s.jsonl") for e in batch]
    assert len(events) == CACHE_SIZE_LIMIT + 10
    cached = reader._reader.cached
    assert 0 < cached["fragments"] <= CACHE_SIZE_LIMIT, cached


@pytest.mark.parametrize("cwd", ["/work/payments", "/work/\x00spendtap slot\x00"])
def test_session_pieces_are_the_event_json_cut_at_the_calls_own_values(
    cwd: str, tmp_path: Path
) -> None:
    from spendtap.agentlogs.claude_code import LINE_DECODER
    from spendtap.agentlogs.claude_code_native import SLOTS

    line = {
        "type": "assistant",
        "timestamp": "2025-10-02T09:00:00.000Z",
        "cwd": cwd,
        "sessionId": "s-1",
        "message": {"id": "m", "model": "claude-sonnet-4-5-20250929", "usage": {}},
    }
    record = LINE_DECODER.decode(json.dumps(line))
    response = SimpleNamespace(
        message_id="m",
        request_id="r",
        first_at="2025-10-02T09:00:00.000Z",
        last_at="2025-10-02T09:00:00.000Z",
    )
    factory = EventFactory(
        LogContext(tmp_path / "data", homes=AgentHomes(home=tmp_path))
    )
    plans = claude_code_backfill.EventPlans(factory)
    pieces = plans.fragments(record, response)
    template = factory.template(plans.slow_call(record, response))
    assert pieces == claude_code_backfill.fragments_by_field(template, SLOTS)
    # Put together with each slot's own JSON, they are the template's JSON.
    joined = pieces[0]
    for name, piece in zip(SLOTS, pieces[1:], strict=True):
        joined += json.dumps(template[name]).encode() + piece
    assert json.loads(joined) == template


def test_without_the_compiled_reader_backfills_read_with_python_and_say_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(claude_code_backfill, "claude_code_native", None)
    factory = EventFactory(
        LogContext(tmp_path / "data", homes=AgentHomes(home=tmp_path))
    )
    caplog.set_level("INFO")
    assert ClaudeCodeFormat().event_reader(factory) is None
    assert "pure_python reason=not_built" in caplog.text
    # Turned off on purpose: no message.
    monkeypatch.undo()
    caplog.clear()
    monkeypatch.setenv(claude_code_backfill.PURE_PYTHON_ENV, "1")
    assert ClaudeCodeFormat().event_reader(factory) is None
    assert "pure_python" not in caplog.text
