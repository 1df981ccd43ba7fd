"""The cached per-token rates give exactly what genai-prices' calc_price gives.

The reference side converts our usage to genai-prices' convention here, in the test,
independently of ``spendtap.pricing.rates``: its ``input_tokens`` is the whole prompt
and its ``cache_write_tokens`` include the 1-hour part.
"""

from __future__ import annotations

from datetime import UTC, datetime

import genai_prices
from hypothesis import given, settings
from hypothesis import strategies as st

from spendtap.event import Usage
from spendtap.pricing import Pricer
from spendtap.pricing.rates import band_of, tier_starts

# Without our corrections: this compares the rate cache with genai-prices alone.
PRICER = Pricer(rules=())

# (our provider, genai-prices provider id, model): tiered and flat, with and without
# cache-write and reasoning prices, on several providers
MODELS = [
    ("anthropic", "anthropic", "claude-sonnet-4-5"),
    ("anthropic", "anthropic", "claude-haiku-4-5"),
    ("anthropic", "anthropic", "claude-3-5-haiku-latest"),
    ("openai", "openai", "gpt-4o-mini"),
    ("openai", "openai", "o3"),
    ("gcp.gemini", "google", "gemini-2.5-pro"),
    ("aws.bedrock", "aws", "claude-sonnet-4-5-20250929"),
    ("deepseek", "deepseek", "deepseek-chat"),
]

counts = st.integers(min_value=0, max_value=400_000)
small = st.integers(min_value=0, max_value=5)


@st.composite
def usages(draw: st.DrawFn) -> Usage:
    output = draw(counts)
    return Usage(
        input_tokens=draw(counts),
        cache_read_tokens=draw(st.one_of(st.none(), counts)),
        cache_write_5m_tokens=draw(st.one_of(st.none(), counts)),
        cache_write_1h_tokens=draw(st.one_of(st.none(), counts)),
        output_tokens=output,
        reasoning_tokens=draw(st.integers(min_value=0, max_value=output)),
        web_search_requests=draw(st.one_of(st.none(), small)),
    )


def reference_cost(provider_id: str, model: str, usage: Usage, at: datetime) -> object:
    read = usage.cache_read_tokens or 0
    w5 = usage.cache_write_5m_tokens or 0
    w1h = usage.cache_write_1h_tokens or 0
    theirs = genai_prices.Usage(
        input_tokens=(usage.input_tokens or 0) + read + w5 + w1h,
        cache_read_tokens=read,
        cache_write_tokens=w5 + w1h,
        cache_write_1h_tokens=w1h,
        output_tokens=usage.output_tokens,
        output_reasoning_tokens=usage.reasoning_tokens,
        web_searches=usage.web_search_requests or 0,
    )
    calculation = genai_prices.calc_price(
        theirs, model, provider_id=provider_id, genai_request_timestamp=at
    )
    return calculation.total_price


@settings(max_examples=300, deadline=None)
@given(
    model=st.sampled_from(MODELS),
    usage=usages(),
    at=st.datetimes(
        min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 31)
    ).map(lambda d: d.replace(tzinfo=UTC)),
)
def test_cached_rates_equal_genai_prices(
    model: tuple[str, str, str], usage: Usage, at: datetime
) -> None:
    ours, provider_id, name = model

    price = PRICER.price(ours, name, usage, at)

    assert price.cost_usd == reference_cost(provider_id, name, usage, at)


def test_band_is_the_number_of_thresholds_the_prompt_is_above() -> None:
    starts = (200_000,)

    assert band_of(200_000, starts) == 0  # genai-prices: a tier applies above start
    assert band_of(200_001, starts) == 1
    assert band_of(0, ()) == 0


def test_tier_starts_collects_every_threshold() -> None:
    snapshot = genai_prices.data_snapshot.get_snapshot()
    _, model = snapshot.find_provider_model("gemini-2.5-pro", None, "google", None)

    starts = tier_starts([model.get_prices(datetime(2025, 9, 1, tzinfo=UTC))])

    assert starts == (200_000,)
