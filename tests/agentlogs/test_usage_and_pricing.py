"""The backfill's direct arithmetic agrees with the general code it stands in for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from spendtap.agentlogs.bulk_pricing import BulkPricer
from spendtap.agentlogs.call import AgentCall, usage_counts
from spendtap.agentlogs.claude_code import transcript_usage
from spendtap.event import Api, CaptureSource, Usage
from spendtap.pricing import Pricer
from spendtap.providers.anthropic_usage import anthropic_usage

counts = st.one_of(st.none(), st.integers(0, 400_000), st.just(True), st.just(-3))


@st.composite
def usage_objects(draw: st.DrawFn) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "input_tokens": draw(counts),
        "cache_read_input_tokens": draw(counts),
        "cache_creation_input_tokens": draw(counts),
        "output_tokens": draw(counts),
    }
    if draw(st.booleans()):
        raw["cache_creation"] = {
            "ephemeral_5m_input_tokens": draw(counts),
            "ephemeral_1h_input_tokens": draw(counts),
        }
    if draw(st.booleans()):
        raw["server_tool_use"] = {"web_search_requests": draw(counts)}
    if draw(st.booleans()):
        raw["output_tokens_details"] = {"thinking_tokens": draw(counts)}
    if draw(st.booleans()):
        raw["iterations"] = draw(st.sampled_from([[], [{"input_tokens": 5}]]))
    return {k: v for k, v in raw.items() if draw(st.booleans()) or k == "output_tokens"}


@given(usage_objects())
def test_transcript_usage_equals_anthropic_usage(raw: dict[str, Any]) -> None:
    assert transcript_usage(raw) == anthropic_usage(raw)


MODELS = (
    ("anthropic", "claude-sonnet-4-5-20250929"),  # long-context tier past 200k
    ("anthropic", "claude-opus-4-1-20250805"),
    ("anthropic", "claude-haiku-4-5-20251001"),
    ("openai", "gpt-5"),
    ("gcp.gemini", "gemini-2.5-pro"),
    ("deepseek", "deepseek-chat"),  # off-peak rates: the price changes within a day
    ("anthropic", "no-such-model"),
)
PRICER = Pricer()
#: One bulk pricer for every example, as one import uses one: its caches are tested.
SHARED = BulkPricer(PRICER)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(MODELS),
    st.tuples(*[st.one_of(st.none(), st.integers(0, 300_000)) for _ in range(7)]),
    st.integers(0, 86_400 * 60),
    st.sampled_from([None, "standard", "priority", "batch"]),
)
def test_bulk_pricer_equals_the_pricer(
    model: tuple[str, str],
    raw_counts: tuple[int | None, ...],
    seconds: int,
    tier: str | None,
) -> None:
    usage = Usage(*raw_counts)
    when = datetime(2025, 9, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    call = AgentCall(
        CaptureSource.CLAUDE_CODE_LOG,
        ("k",),
        "claude-code",
        model[0],
        Api.MESSAGES,
        model[1],
        *usage_counts(usage),
        started_at=when,
        service_tier=tier,
    )

    price = PRICER.price(model[0], model[1], usage, when, service_tier=tier)

    expected = (price.cost_usd, price.cost_status, price.price_ref)
    assert BulkPricer(PRICER).price(call) == expected
    assert SHARED.price(call) == expected


def test_bulk_pricer_follows_rates_that_change_within_a_day() -> None:
    """DeepSeek's off-peak rates (16:30 to 00:30 UTC) differ from its day rates: one
    bulk pricer prices calls at both times of one day as the pricer does."""
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    bulk = BulkPricer(PRICER)
    costs = []
    for hour in (10, 20, 11):
        when = datetime(2025, 9, 1, hour, tzinfo=UTC)
        call = AgentCall(
            CaptureSource.CODEX_LOG,
            ("k",),
            "codex",
            "deepseek",
            Api.CHAT_COMPLETIONS,
            "deepseek-chat",
            *usage_counts(usage),
            started_at=when,
        )
        price = PRICER.price("deepseek", "deepseek-chat", usage, when)
        assert bulk.price(call) == (price.cost_usd, price.cost_status, price.price_ref)
        costs.append(price.cost_usd)

    assert costs[0] == costs[2] != costs[1]
