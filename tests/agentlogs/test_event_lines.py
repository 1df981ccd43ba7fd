"""A backfill's event lines are the JSON of the contract's event objects."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from spendtap.agentlogs.call import AgentCall
from spendtap.agentlogs.context import AgentHomes, LogContext
from spendtap.agentlogs.events import EventFactory
from spendtap.event import Api, CallStatus, CaptureSource

#: Texts with what JSON must escape, what ``%`` formatting would read, and more.
texts = st.one_of(
    st.none(),
    st.sampled_from(["claude-sonnet-4-5-20250929", "gpt-5", "us", "main", "%s%%"]),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
    st.text(alphabet='"\\%\n\t\x00\x1f\x7f\u2028é😀', max_size=6),
)
counts = st.one_of(st.none(), st.integers(0, 2**63 - 1))
START = datetime(2025, 9, 1, tzinfo=UTC)


@st.composite
def calls(draw: st.DrawFn) -> AgentCall:
    started = START + timedelta(microseconds=draw(st.integers(0, 86_400 * 10**6 * 60)))
    ended = draw(
        st.one_of(
            st.none(),
            st.integers(-5000, 10**9).map(
                lambda ms: started + timedelta(milliseconds=ms)
            ),
        )
    )
    canonical = draw(st.booleans())
    return AgentCall(
        draw(st.sampled_from(list(CaptureSource))),
        tuple(draw(st.lists(st.text(max_size=8), min_size=1, max_size=3))),
        draw(st.sampled_from(["claude-code", "codex", "gemini-cli"])),
        draw(st.sampled_from(["anthropic", "openai", "google", "aws.bedrock"])),
        # Agent logs make no web-chat calls (the collector prices those as seats).
        draw(st.sampled_from([api for api in Api if api is not Api.WEB_CHAT])),
        draw(texts),
        draw(counts),
        draw(counts),
        draw(counts),
        draw(counts),
        draw(counts),
        draw(counts),
        draw(counts),
        started,
        ended,
        None,
        draw(texts),
        draw(texts),
        draw(texts),
        draw(texts),
        draw(texts),
        draw(texts),
        draw(texts),
        None,
        draw(texts),
        draw(st.sampled_from([None, "standard", "priority"])),
        draw(st.sampled_from([None, "us", "global", "eu"])),
        draw(st.one_of(st.none(), st.decimals(0, 1000, places=6))),
        draw(st.booleans()),
        draw(st.sampled_from(list(CallStatus))),
        started.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        if canonical
        else None,
        None,
    )


FACTORY = EventFactory(
    LogContext(
        Path(tempfile.mkdtemp(prefix="spendtap-lines-")),
        user="dev@acme.example",
        homes=AgentHomes(home=Path(tempfile.mkdtemp(prefix="spendtap-home-"))),
    )
)


@settings(max_examples=400, deadline=None)
@given(calls())
def test_event_line_is_the_json_of_the_collectors_event(call: AgentCall) -> None:
    """The fast path (template, bulk pricer, direct event id) against the
    collector's own assembly of the same call."""
    line = FACTORY.build_line(call)
    event = FACTORY.build(call).to_json()

    assert line.data.endswith(b"\n") and line.data.count(b"\n") == 1
    assert orjson.loads(line.data) == event
    assert list(orjson.loads(line.data)) == list(event)  # contract order
    assert line.event_id == event["event_id"]


def test_event_line_of_a_priced_call_carries_the_exact_list_price() -> None:
    """Sonnet 4.5 at $3 in and $15 out per million tokens, worked out by hand."""
    call = AgentCall(
        CaptureSource.CLAUDE_CODE_LOG,
        ("msg_1", "req_1"),
        "claude-code",
        "anthropic",
        Api.MESSAGES,
        "claude-sonnet-4-5-20250929",
        1000,
        None,
        None,
        None,
        2000,
        None,
        None,
        START,
        START + timedelta(seconds=2),
        request_id="req_1",
        response_id="msg_1",
    )

    event = orjson.loads(FACTORY.build_line(call).data)

    assert Decimal(str(event["cost_usd"])) == Decimal("0.003") + Decimal("0.03")
    assert event["duration_ms"] == 2000
    assert event["ended_at"] == "2025-09-01T00:00:02.000Z"
    assert (event["input_tokens"], event["output_tokens"]) == (1000, 2000)
    assert event["cache_read_tokens"] is None
