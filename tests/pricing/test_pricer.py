"""Costs worked out by hand from the rates in genai-prices 0.2.3's bundled data.

Each rate below was read from ``genai_prices/data.py`` (USD per million tokens) and
is written here as a number; the expected cost is their sum, done in the test.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from spendtap.event import CostStatus, Usage
from spendtap.pricing import PRICE_DATA, Pricer
from spendtap.pricing.card import normalise_tier, price_context
from spendtap.pricing.pricer import model_refs

M = Decimal(1_000_000)
AT = datetime(2025, 11, 20, 12, 0, tzinfo=UTC)

D = Decimal

# anthropic claude-haiku-4-5: input 1, 5m write 1.25, 1h write 2, read 0.1, output 5
HAIKU_45 = {"in": D(1), "w5": D("1.25"), "w1h": D(2), "read": D("0.1"), "out": D(5)}
# anthropic claude-sonnet-4-5: 3 / 3.75 / 6 / 0.3 / 15; over 200k prompt: 6 / 7.5 /
# 12 / 0.6 / 22.5
SONNET_45 = {"in": D(3), "w5": D("3.75"), "w1h": D(6), "read": D("0.3"), "out": D(15)}
SONNET_45_LONG = {"in": D(6), "w5": D("7.5"), "w1h": D(12), "read": D("0.6")}
# openai gpt-4o-mini: input 0.15, cached input 0.075, output 0.6
GPT_4O_MINI = {"in": D("0.15"), "read": D("0.075"), "out": D("0.6")}
# openai o4-mini: input 1.1, cached 0.275, output 4.4
O4_MINI = {"in": D("1.1"), "read": D("0.275"), "out": D("4.4")}
# openai o3: 10 / 40 before 2025-06-10, 2 / 8 from then on
O3_OLD = {"in": D(10), "out": D(40)}
O3_NEW = {"in": D(2), "out": D(8)}


@pytest.fixture
def pricer() -> Pricer:
    return Pricer()


def test_haiku_with_cache_read_and_both_write_durations(pricer: Pricer) -> None:
    usage = Usage(
        input_tokens=1000,
        cache_read_tokens=500,
        cache_write_5m_tokens=200,
        cache_write_1h_tokens=50,
        output_tokens=300,
    )
    r = HAIKU_45
    expected = (
        1000 * r["in"]
        + 500 * r["read"]
        + 200 * r["w5"]
        + 50 * r["w1h"]
        + 300 * r["out"]
    ) / M  # 0.0029

    price = pricer.price("anthropic", "claude-haiku-4-5-20251001", usage, AT)

    assert price.cost_usd == expected == Decimal("0.0029")
    assert price.cost_status is CostStatus.PRICED
    assert price.price_ref == f"{PRICE_DATA}:anthropic/claude-haiku-4-5"
    assert PRICE_DATA == "genai-prices@0.2.3"


def test_sonnet_with_cache_read_and_writes(pricer: Pricer) -> None:
    usage = Usage(
        input_tokens=2_000,
        cache_read_tokens=40_000,
        cache_write_5m_tokens=3_000,
        cache_write_1h_tokens=1_000,
        output_tokens=800,
    )
    r = SONNET_45
    expected = (
        2_000 * r["in"]
        + 40_000 * r["read"]
        + 3_000 * r["w5"]
        + 1_000 * r["w1h"]
        + 800 * r["out"]
    ) / M

    price = pricer.price("anthropic", "claude-sonnet-4-5-20250929", usage, AT)

    assert price.cost_usd == expected == Decimal("0.04725")


def test_sonnet_prompt_over_200k_prices_every_token_at_the_long_context_rate(
    pricer: Pricer,
) -> None:
    # the whole prompt (input + cache) decides the tier: 150k + 60k > 200k
    usage = Usage(input_tokens=150_000, cache_read_tokens=60_000, output_tokens=1_000)
    r = SONNET_45_LONG
    expected = (150_000 * r["in"] + 60_000 * r["read"] + 1_000 * Decimal("22.5")) / M

    price = pricer.price("anthropic", "claude-sonnet-4-5", usage, AT)

    assert price.cost_usd == expected == Decimal("0.9585")


def test_gpt_4o_mini_cached_input_at_the_cached_rate(pricer: Pricer) -> None:
    usage = Usage(input_tokens=1_200, cache_read_tokens=4_000, output_tokens=500)
    r = GPT_4O_MINI
    expected = (1_200 * r["in"] + 4_000 * r["read"] + 500 * r["out"]) / M

    price = pricer.price("openai", "gpt-4o-mini-2024-07-18", usage, AT)

    assert price.cost_usd == expected == Decimal("0.00078")


def test_o_series_reasoning_is_part_of_output_and_priced_once(pricer: Pricer) -> None:
    # R01: completion 5500 of which reasoning 5000: 5500 output tokens, not 10500
    usage = Usage(input_tokens=1_200, output_tokens=5_500, reasoning_tokens=5_000)
    r = O4_MINI
    expected = (1_200 * r["in"] + 5_500 * r["out"]) / M

    price = pricer.price("openai", "o4-mini", usage, AT)

    assert price.cost_usd == expected == Decimal("0.02552")


def test_c01_cache_write_is_priced_once_at_the_write_rate(pricer: Pricer) -> None:
    # Anthropic {input_tokens:3, cache_creation_input_tokens:12304, output_tokens:550}
    usage = Usage(
        input_tokens=3,
        cache_read_tokens=0,
        cache_write_5m_tokens=12_304,
        output_tokens=550,
    )
    r = SONNET_45
    expected = (3 * r["in"] + 12_304 * r["w5"] + 550 * r["out"]) / M
    charged_twice = expected + 12_304 * r["in"] / M

    price = pricer.price("anthropic", "claude-sonnet-4-5", usage, AT)

    assert price.cost_usd == expected == Decimal("0.054399")
    assert price.cost_usd != charged_twice


def test_c02_stream_and_non_stream_of_the_same_numbers_cost_the_same(
    pricer: Pricer,
) -> None:
    # message_start {input 4, cache_read 2455, output 1}, final message_delta
    # {output 23}: the parser keeps the last output, so the stream's usage is this.
    non_stream = Usage(
        input_tokens=4,
        cache_read_tokens=2_455,
        cache_write_5m_tokens=0,
        output_tokens=23,
    )
    stream = Usage(input_tokens=4, cache_read_tokens=2_455, output_tokens=23)
    r = HAIKU_45
    expected = (4 * r["in"] + 2_455 * r["read"] + 23 * r["out"]) / M

    a = pricer.price("anthropic", "claude-haiku-4-5", non_stream, AT)
    b = pricer.price("anthropic", "claude-haiku-4-5", stream, AT)

    assert a.cost_usd == b.cost_usd == expected == Decimal("0.0003645")


def test_c03_cached_tokens_are_not_counted_on_top_of_the_prompt(pricer: Pricer) -> None:
    # OpenAI {prompt_tokens:17903, cached_tokens:17817} is input 86 + cache_read 17817
    usage = Usage(input_tokens=86, cache_read_tokens=17_817, output_tokens=0)
    r = GPT_4O_MINI
    expected = (86 * r["in"] + 17_817 * r["read"]) / M

    price = pricer.price("openai", "gpt-4o-mini", usage, AT)

    assert price.cost_usd == expected == Decimal("0.001349175")


def test_unknown_model_is_unpriced_not_zero_and_logged_once(
    pricer: Pricer, caplog: pytest.LogCaptureFixture
) -> None:
    usage = Usage(input_tokens=10, output_tokens=10)

    with caplog.at_level(logging.WARNING, logger="spendtap.pricing.pricer"):
        first = pricer.price("openai", "gpt-nonexistent-9", usage, AT)
        second = pricer.price("openai", "gpt-nonexistent-9", usage, AT)

    assert first.cost_usd is None and second.cost_usd is None
    assert first.cost_status is CostStatus.UNPRICED
    assert first.price_ref is None
    unknown = [r for r in caplog.records if "model_unknown" in r.getMessage()]
    assert len(unknown) == 1
    assert "gpt-nonexistent-9" in unknown[0].getMessage()


def test_unknown_provider_is_unpriced(pricer: Pricer) -> None:
    usage = Usage(input_tokens=10, output_tokens=10)

    price = pricer.price("some.new.vendor", "claude-haiku-4-5", usage, AT)

    assert price.cost_usd is None
    assert price.cost_status is CostStatus.UNPRICED


def test_absent_usage_or_model_is_unpriced(pricer: Pricer) -> None:
    assert pricer.price("anthropic", "claude-haiku-4-5", Usage(), AT).cost_usd is None
    no_model = pricer.price("anthropic", None, Usage(input_tokens=5), AT)
    assert no_model.cost_usd is None
    assert no_model.cost_status is CostStatus.UNPRICED


def test_reported_zero_tokens_cost_zero(pricer: Pricer) -> None:
    price = pricer.price("anthropic", "claude-haiku-4-5", Usage(input_tokens=0), AT)

    assert price.cost_usd == 0
    assert price.cost_status is CostStatus.PRICED


def test_historic_date_picks_the_older_price(pricer: Pricer) -> None:
    usage = Usage(input_tokens=1_000, output_tokens=1_000)
    before = datetime(2025, 6, 9, 23, 59, tzinfo=UTC)
    after = datetime(2025, 6, 10, 0, 1, tzinfo=UTC)

    old = pricer.price("openai", "o3", usage, before)
    new = pricer.price("openai", "o3", usage, after)

    assert old.cost_usd == (1_000 * O3_OLD["in"] + 1_000 * O3_OLD["out"]) / M  # 0.05
    assert new.cost_usd == (1_000 * O3_NEW["in"] + 1_000 * O3_NEW["out"]) / M  # 0.01


def test_the_date_is_taken_in_utc(pricer: Pricer) -> None:
    # 2025-06-10 01:00 in UTC+02:00 is still 2025-06-09 in UTC: the old o3 price
    usage = Usage(input_tokens=1_000, output_tokens=1_000)
    local = datetime(2025, 6, 10, 1, 0, tzinfo=timezone(timedelta(hours=2)))

    assert pricer.price("openai", "o3", usage, local).cost_usd == Decimal("0.05")


def test_bedrock_global_profile_is_cheaper_than_regional(pricer: Pricer) -> None:
    # aws regional claude-haiku-4-5: 1.1 in / 5.5 out; global: 1 / 5
    usage = Usage(input_tokens=1_000, output_tokens=1_000)
    model = "claude-haiku-4-5-20251001"

    regional = pricer.price("aws.bedrock", model, usage, AT, region="us")
    global_ = pricer.price("aws.bedrock", model, usage, AT, region="global")

    assert regional.cost_usd == (1_000 * Decimal("1.1") + 1_000 * Decimal("5.5")) / M
    assert global_.cost_usd == (1_000 * 1 + 1_000 * 5) / M
    assert global_.price_ref is not None and "/global.anthropic." in global_.price_ref


def test_vertex_claude_is_priced_under_google(pricer: Pricer) -> None:
    usage = Usage(input_tokens=1_000, output_tokens=1_000)

    price = pricer.price("gcp.vertex_ai", "claude-haiku-4-5", usage, AT)

    assert price.cost_usd == (1_000 * 1 + 1_000 * 5) / M
    assert price.price_ref == f"{PRICE_DATA}:google/claude-haiku-4-5"


def test_flex_service_tier_uses_its_price_from_its_start_date(pricer: Pricer) -> None:
    # o3 flex in the data: 1 in / 4 out from 2026-10-12. Before that the data has no
    # flex price and rule R008 (flex at Batch API rates, 50%) supplies it: 1 / 4 too.
    usage = Usage(input_tokens=1_000, output_tokens=1_000)
    late = datetime(2026, 11, 1, tzinfo=UTC)
    before_flex_existed = datetime(2025, 4, 1, tzinfo=UTC)

    flex = pricer.price("openai", "o3", usage, late, service_tier="flex")
    early = pricer.price("openai", "o3", usage, AT, service_tier="flex")
    too_early = pricer.price(
        "openai", "o3", usage, before_flex_existed, service_tier="flex"
    )

    assert flex.cost_usd == (1_000 * 1 + 1_000 * 4) / M == Decimal("0.005")
    assert flex.price_ref == f"{PRICE_DATA}:openai/o3;service_tier=flex"
    assert early.cost_usd == (1_000 * 1 + 1_000 * 4) / M
    assert early.price_ref == f"{PRICE_DATA}:openai/o3;tier=flex;rules=R008"
    # before 2025-04-17 no rule covers flex: standard o3 rates (10 / 40 until
    # 2025-06-10), flagged in price_ref
    assert too_early.cost_usd == (1_000 * 10 + 1_000 * 40) / M
    assert too_early.price_ref == f"{PRICE_DATA}:openai/o3;tier=flex(standard rates)"


def test_priority_tier_without_a_price_is_standard_and_flagged(
    pricer: Pricer, caplog: pytest.LogCaptureFixture
) -> None:
    usage = Usage(input_tokens=1_000, output_tokens=1_000)

    with caplog.at_level(logging.WARNING, logger="spendtap.pricing.pricer"):
        price = pricer.price(
            "anthropic", "claude-haiku-4-5", usage, AT, service_tier="priority"
        )

    assert price.cost_usd == (1_000 * HAIKU_45["in"] + 1_000 * HAIKU_45["out"]) / M
    assert price.price_ref == (
        f"{PRICE_DATA}:anthropic/claude-haiku-4-5;tier=priority(standard rates)"
    )
    assert any("tier_unpriced" in r.getMessage() for r in caplog.records)


def test_estimated_usage_gives_an_estimated_cost(pricer: Pricer) -> None:
    usage = Usage(input_tokens=1_000, output_tokens=1_000)

    price = pricer.price("anthropic", "claude-haiku-4-5", usage, AT, estimated=True)

    assert price.cost_status is CostStatus.ESTIMATED
    assert price.cost_usd == Decimal("0.006")


def test_reasoning_larger_than_output_is_priced_as_output(pricer: Pricer) -> None:
    usage = Usage(input_tokens=0, output_tokens=100, reasoning_tokens=500)

    price = pricer.price("openai", "o4-mini", usage, AT)

    assert price.cost_usd == 100 * O4_MINI["out"] / M


def test_service_tier_names_map_to_price_contexts() -> None:
    assert price_context(normalise_tier(None)) == ()
    assert price_context(normalise_tier("standard")) == ()
    assert price_context(normalise_tier("default")) == ()
    assert price_context(normalise_tier("on_demand")) == ()
    assert price_context(normalise_tier("batch")) == (("processing", "batch"),)
    assert price_context(normalise_tier("Priority")) == (("service_tier", "priority"),)


def test_model_refs_try_the_bedrock_global_profile_first() -> None:
    assert model_refs("aws", "claude-haiku-4-5-20251001", "global") == [
        "global.anthropic.claude-haiku-4-5-20251001",
        "claude-haiku-4-5-20251001",
    ]
    assert model_refs("aws", "claude-haiku-4-5-20251001", "us") == [
        "claude-haiku-4-5-20251001"
    ]


def test_threads_sharing_a_pricer_get_the_same_costs() -> None:
    pricer = Pricer()
    usage = Usage(input_tokens=1_000, cache_read_tokens=500, output_tokens=300)
    days = [AT + timedelta(days=d) for d in range(20)]
    results: list[Decimal | None] = []

    def work() -> None:
        for day in days:
            price = pricer.price("anthropic", "claude-haiku-4-5", usage, day)
            results.append(price.cost_usd)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)

    expected = (1_000 * HAIKU_45["in"] + 500 * HAIKU_45["read"] + 300 * 5) / M
    assert results == [expected] * 80


def test_r03_vertex_gemini_thoughts_are_priced_at_the_output_rate(
    pricer: Pricer,
) -> None:
    # cases R02/R03: promptTokenCount 55021, candidates 923 + thoughts 785: the
    # parser gives output 1708 with reasoning 785. gemini-2.5-flash: 0.3 in / 2.5 out.
    usage = Usage(input_tokens=55_021, output_tokens=1_708, reasoning_tokens=785)
    unpriced_thoughts = (55_021 * Decimal("0.3") + 923 * Decimal("2.5")) / M

    price = pricer.price(
        "gcp.vertex_ai", "gemini-2.5-flash", usage, AT, region="us-central1"
    )

    assert price.cost_usd == (55_021 * Decimal("0.3") + 1_708 * Decimal("2.5")) / M
    assert price.cost_usd == Decimal("0.0207763")
    assert price.cost_usd != unpriced_thoughts


@pytest.mark.parametrize(
    "model",
    [
        "claude-haiku-4-5",
        "claude-haiku-4-5@default",
        "publishers/anthropic/models/claude-haiku-4-5@default",
    ],
)
def test_m01_unversioned_vertex_claude_is_priced_not_zero(
    pricer: Pricer, model: str
) -> None:
    # Vertex claude-haiku-4-5 on the global endpoint: 1 in / 5 out
    usage = Usage(input_tokens=2_000, output_tokens=300)

    price = pricer.price("gcp.vertex_ai", model, usage, AT, region="global")

    assert price.cost_usd == (2_000 * 1 + 300 * 5) / M == Decimal("0.0035")
    assert price.cost_status is CostStatus.PRICED
    assert price.price_ref == f"{PRICE_DATA}:google/claude-haiku-4-5"


def test_m01_truly_unknown_vertex_model_is_unpriced_not_zero(pricer: Pricer) -> None:
    usage = Usage(input_tokens=2_000, output_tokens=300)

    price = pricer.price("gcp.vertex_ai", "claude-nonexistent-9@default", usage, AT)

    assert price.cost_usd is None
    assert price.cost_status is CostStatus.UNPRICED
    assert price.price_ref is None


def test_openrouter_reported_cost_is_the_cost_and_list_price_is_kept(
    pricer: Pricer, caplog: pytest.LogCaptureFixture
) -> None:
    # OpenRouter anthropic/claude-sonnet-4.5: 3 / 15 -> list 0.045 for 10k in / 1k out
    usage = Usage(input_tokens=10_000, output_tokens=1_000)
    listed = (10_000 * 3 + 1_000 * 15) / M

    with caplog.at_level(logging.WARNING, logger="spendtap.pricing.pricer"):
        same = pricer.price(
            "openrouter",
            "anthropic/claude-sonnet-4.5",
            usage,
            AT,
            reported_cost=Decimal("0.0452"),
        )
        differs = pricer.price(
            "openrouter",
            "anthropic/claude-sonnet-4.5",
            usage,
            AT,
            reported_cost=Decimal("0.05"),
        )

    assert same.cost_usd == Decimal("0.0452")
    assert same.list_cost_usd == listed == Decimal("0.045")
    assert same.price_ref == (
        f"reported:openrouter;list={PRICE_DATA}:openrouter/anthropic/claude-sonnet-4.5"
    )
    assert differs.cost_usd == Decimal("0.05")
    warned = [
        r.getMessage()
        for r in caplog.records
        if "reported_cost_differs" in r.getMessage()
    ]
    assert len(warned) == 1  # 0.0452 is within 1% of 0.045; 0.05 is not
    assert "reported=0.05" in warned[0]


def test_reported_cost_of_an_unknown_model_is_still_the_cost(pricer: Pricer) -> None:
    usage = Usage(input_tokens=10, output_tokens=10)

    price = pricer.price(
        "openrouter", "someone/new-model", usage, AT, reported_cost=Decimal("0.0001")
    )

    assert price.cost_usd == Decimal("0.0001")
    assert price.list_cost_usd is None
    assert price.price_ref == "reported:openrouter;list=unpriced"


def test_bedrock_profile_geo_wins_over_the_endpoint_region(pricer: Pricer) -> None:
    # a global profile called through a us-east-1 endpoint is priced as global: 1 / 5
    usage = Usage(input_tokens=1_000, output_tokens=1_000)
    model = "global.anthropic.claude-haiku-4-5-20251001-v1:0"

    price = pricer.price("aws.bedrock", model, usage, AT, region="us-east-1")

    assert price.cost_usd == (1_000 * 1 + 1_000 * 5) / M


def test_a_priced_call_costs_about_ten_microseconds(pricer: Pricer) -> None:
    usage = Usage(input_tokens=1_000, cache_read_tokens=500, output_tokens=300)
    pricer.price("anthropic", "claude-haiku-4-5-20251001", usage, AT)  # warm the card
    calls = 5_000

    started = time.perf_counter()
    for _ in range(calls):
        pricer.price("anthropic", "claude-haiku-4-5-20251001", usage, AT)
    per_call = (time.perf_counter() - started) / calls

    assert per_call < 60e-6  # ~10-15 µs measured; generous for slow CI machines


def test_time_of_day_prices_change_within_one_day(pricer: Pricer) -> None:
    # deepseek-chat: 0.27 in / 1.1 out from 00:30 to 16:30 UTC, 0.135 / 0.55 off-peak
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    peak = datetime(2025, 11, 20, 12, 0, tzinfo=UTC)
    off_peak = datetime(2025, 11, 20, 17, 0, tzinfo=UTC)

    first = pricer.price("deepseek", "deepseek-chat", usage, peak)
    second = pricer.price("deepseek", "deepseek-chat", usage, off_peak)
    again = pricer.price("deepseek", "deepseek-chat", usage, peak)

    assert first.cost_usd == again.cost_usd == Decimal("0.27") + Decimal("1.1")
    assert second.cost_usd == Decimal("0.135") + Decimal("0.55")


@pytest.mark.parametrize(
    ("provider", "model", "entry"),
    [
        ("groq", "deepseek-r1-distill-llama-70b", "groq/deepseek-r1-distill-llama-70b"),
        ("mistral_ai", "codestral-2508", "mistral/codestral-2508"),
        ("x_ai", "grok-3", "x-ai/grok-3"),
        ("together_ai", "Gryphe/MythoMax-L2-13b", "together/Gryphe/MythoMax-L2-13b"),
        ("fireworks_ai", "deepseek-v3-0324", "fireworks/deepseek-v3-0324"),
        (
            "fireworks_ai",
            "accounts/fireworks/models/deepseek-v3-0324",
            "fireworks/deepseek-v3-0324",
        ),
        ("deepseek", "deepseek-reasoner", "deepseek/deepseek-reasoner"),
        ("azure.ai.openai", "gpt-4o-2024-08-06", "azure/gpt-4o"),
        (
            "openrouter",
            "anthropic/claude-sonnet-4.5",
            "openrouter/anthropic/claude-sonnet-4.5",
        ),
    ],
)
def test_every_provider_name_the_parsers_use_finds_its_price_data(
    pricer: Pricer, provider: str, model: str, entry: str
) -> None:
    price = pricer.price(provider, model, Usage(input_tokens=10, output_tokens=10), AT)

    assert price.cost_status is CostStatus.PRICED
    assert price.cost_usd is not None and price.cost_usd > 0
    assert price.price_ref is not None
    assert price.price_ref.startswith(f"{PRICE_DATA}:{entry}")


def test_priority_tier_from_the_data_once_it_has_one(pricer: Pricer) -> None:
    # gpt-4o priority: 4.25 in / 17 out from 2026-10-12 (standard 2.5 / 10)
    usage = Usage(input_tokens=1_000, output_tokens=1_000)
    late = datetime(2026, 11, 1, tzinfo=UTC)

    price = pricer.price("openai", "gpt-4o", usage, late, service_tier="priority")

    assert price.cost_usd == (1_000 * Decimal("4.25") + 1_000 * 17) / M
    assert price.price_ref == f"{PRICE_DATA}:openai/gpt-4o;service_tier=priority"


def test_gemini_names_ending_in_001_that_are_the_name_still_price(
    pricer: Pricer,
) -> None:
    # gemini-embedding-001: 0.15 per million input tokens; gemini-1.0-pro-vision-001
    # (listed with its -001): 0.125 in / 0.375 out
    usage = Usage(input_tokens=1_000_000)

    embedding = pricer.price("gcp.gemini", "models/gemini-embedding-001", usage, AT)
    vision = pricer.price("gcp.vertex_ai", "gemini-1.0-pro-vision-001", usage, AT)

    assert embedding.cost_usd == Decimal("0.15")
    assert vision.cost_usd == Decimal("0.125")
