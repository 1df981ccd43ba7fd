"""One test per correction rule, with costs worked out by hand.

Rates are written as numbers, USD per million tokens, each from the source the rule
cites (and, for the base rates, genai-prices 0.2.3's bundled data, which the test
names). ``Pricer(rules=())`` shows what the data alone would charge.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from spendtap.event import Usage
from spendtap.pricing import PRICE_DATA, Pricer
from spendtap.pricing.corrections import RULES, rule_by_id

M = Decimal(1_000_000)
D = Decimal
AT = datetime(2025, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def pricer() -> Pricer:
    return Pricer()


@pytest.fixture(scope="module")
def data_only() -> Pricer:
    return Pricer(rules=())


# R001 ------------------------------------------------------------------------------


def test_r001_vertex_claude_3_5_haiku_1h_write_is_twice_input(
    pricer: Pricer, data_only: Pricer
) -> None:
    # Vertex claude-3-5-haiku in the data: input 0.8, 5m write 1, no 1h price.
    # Prompt caching pricing: a 1-hour write is 2 x base input = 1.6.
    usage = Usage(input_tokens=1_000, cache_write_1h_tokens=10_000, output_tokens=100)
    model = "claude-3-5-haiku@20241022"

    price = pricer.price("gcp.vertex_ai", model, usage, AT, region="global")
    silent = data_only.price("gcp.vertex_ai", model, usage, AT, region="global")

    assert price.cost_usd == (1_000 * D("0.8") + 10_000 * D("1.6") + 100 * 4) / M
    assert silent.cost_usd == (1_000 * D("0.8") + 10_000 * 1 + 100 * 4) / M  # as 5m
    assert price.price_ref == f"{PRICE_DATA}:google/claude-3-5-haiku;rules=R001"


def test_r001_bedrock_sonnet_4_1h_write_is_twice_input(pricer: Pricer) -> None:
    # Bedrock regional claude-sonnet-4-20250514: input 3, no 1h price -> 6
    usage = Usage(input_tokens=0, cache_write_1h_tokens=1_000)

    price = pricer.price(
        "aws.bedrock", "us.anthropic.claude-sonnet-4-20250514-v1:0", usage, AT
    )

    assert price.cost_usd == 1_000 * D(6) / M
    assert price.price_ref is not None and price.price_ref.endswith(";rules=R001")


def test_r001_leaves_data_with_a_1h_price_alone(pricer: Pricer) -> None:
    # Anthropic claude-haiku-4-5 has its own 1h price (2): no rule named
    usage = Usage(input_tokens=0, cache_write_1h_tokens=1_000)

    price = pricer.price("anthropic", "claude-haiku-4-5", usage, AT)

    assert price.cost_usd == 1_000 * D(2) / M
    assert price.price_ref == f"{PRICE_DATA}:anthropic/claude-haiku-4-5"


# R002 ------------------------------------------------------------------------------


def test_r002_bedrock_sonnet_4_5_over_200k_prices_the_whole_call_long(
    pricer: Pricer,
) -> None:
    # Bedrock regional claude-sonnet-4-5: 3.3 in / 0.33 read / 16.5 out (10% over
    # global). Long context: input-side x2, output x1.5 -> 6.6 / 0.66 / 24.75.
    usage = Usage(input_tokens=150_000, cache_read_tokens=60_000, output_tokens=1_000)
    model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"

    price = pricer.price("aws.bedrock", model, usage, AT)

    expected = (150_000 * D("6.6") + 60_000 * D("0.66") + 1_000 * D("24.75")) / M
    assert price.cost_usd == expected == D("1.05435")
    assert price.price_ref is not None and price.price_ref.endswith(";rules=R002")


def test_r002_bedrock_global_sonnet_4_5_long_context_from_global_rates(
    pricer: Pricer,
) -> None:
    # global profile: 3 / 15 -> long context 6 / 22.5, the same as Anthropic's
    usage = Usage(input_tokens=250_000, output_tokens=2_000)

    price = pricer.price(
        "aws.bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", usage, AT
    )

    assert price.cost_usd == (250_000 * 6 + 2_000 * D("22.5")) / M == D("1.545")


def test_r002_exactly_200k_is_still_the_base_rate(pricer: Pricer) -> None:
    usage = Usage(input_tokens=200_000)

    price = pricer.price(
        "aws.bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0", usage, AT
    )

    assert price.cost_usd == 200_000 * D("3.3") / M
    assert price.price_ref is not None and "R002" not in price.price_ref


def test_r002_not_after_the_1m_beta_was_retired(pricer: Pricer) -> None:
    usage = Usage(input_tokens=250_000)
    later = datetime(2026, 5, 1, tzinfo=UTC)

    price = pricer.price(
        "aws.bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0", usage, later
    )

    assert price.cost_usd == 250_000 * D("3.3") / M


def test_r002_anthropic_sonnet_4_gets_the_tier_it_lacks(pricer: Pricer) -> None:
    # Anthropic claude-sonnet-4-0 in the data: 3 / 15 flat; long context 6 / 22.5
    usage = Usage(input_tokens=300_000, output_tokens=1_000)

    price = pricer.price("anthropic", "claude-sonnet-4-20250514", usage, AT)

    assert price.cost_usd == (300_000 * 6 + 1_000 * D("22.5")) / M


# R003 ------------------------------------------------------------------------------


def test_r003_bedrock_opus_4_6_long_context_before_the_1m_ga(pricer: Pricer) -> None:
    # Bedrock regional claude-opus-4-6: 5.5 / 27.5 flat in the data; before
    # 2026-03-13 prompts over 200k cost x2 / x1.5 -> 11 / 41.25
    usage = Usage(input_tokens=250_000, output_tokens=1_000)
    before = datetime(2026, 3, 1, tzinfo=UTC)
    after = datetime(2026, 3, 13, tzinfo=UTC)
    model = "us.anthropic.claude-opus-4-6-v1"

    early = pricer.price("aws.bedrock", model, usage, before)
    late = pricer.price("aws.bedrock", model, usage, after)

    assert early.cost_usd == (250_000 * 11 + 1_000 * D("41.25")) / M
    assert late.cost_usd == (250_000 * D("5.5") + 1_000 * D("27.5")) / M


def test_r003_vertex_opus_4_6_uses_the_tiers_the_data_has(pricer: Pricer) -> None:
    # Vertex claude-opus-4-6 before 2026-03-13: tiers in the data (10 / 37.5 over 200k)
    usage = Usage(input_tokens=250_000, output_tokens=1_000)

    price = pricer.price(
        "gcp.vertex_ai",
        "claude-opus-4-6",
        usage,
        datetime(2026, 3, 1, tzinfo=UTC),
        region="global",
    )

    assert price.cost_usd == (250_000 * 10 + 1_000 * D("37.5")) / M
    assert price.price_ref == f"{PRICE_DATA}:google/claude-opus-4-6"


# R004 ------------------------------------------------------------------------------


def test_r004_anthropic_batch_before_the_data_has_it(pricer: Pricer) -> None:
    # Batch: 50% of haiku-4-5's 1 / 0.1 / 1.25 / 5 -> 0.5 / 0.05 / 0.625 / 2.5;
    # web search ($10 per 1,000) has no batch rate and stays
    usage = Usage(
        input_tokens=1_000,
        cache_read_tokens=2_000,
        cache_write_5m_tokens=400,
        output_tokens=800,
        web_search_requests=2,
    )

    price = pricer.price(
        "anthropic", "claude-haiku-4-5", usage, AT, service_tier="batch"
    )

    expected = (
        1_000 * D("0.5") + 2_000 * D("0.05") + 400 * D("0.625") + 800 * D("2.5")
    ) / M + 2 * D("0.01")
    assert price.cost_usd == expected
    assert price.price_ref == (
        f"{PRICE_DATA}:anthropic/claude-haiku-4-5;tier=batch;rules=R004"
    )


def test_r004_gives_way_to_the_data_once_it_has_batch_prices(pricer: Pricer) -> None:
    usage = Usage(input_tokens=1_000, output_tokens=1_000)
    later = datetime(2026, 11, 1, tzinfo=UTC)

    price = pricer.price(
        "anthropic", "claude-haiku-4-5", usage, later, service_tier="batch"
    )

    assert price.cost_usd == (1_000 * D("0.5") + 1_000 * D("2.5")) / M
    assert price.price_ref == (
        f"{PRICE_DATA}:anthropic/claude-haiku-4-5;processing=batch"
    )


# R005 / R006 -----------------------------------------------------------------------


def test_r005_vertex_claude_batch_is_half(pricer: Pricer) -> None:
    # Vertex claude-haiku-4-5 global: 1 / 5 -> batch 0.5 / 2.5
    usage = Usage(input_tokens=10_000, output_tokens=2_000)

    price = pricer.price(
        "gcp.vertex_ai",
        "claude-haiku-4-5@20251001",
        usage,
        AT,
        region="global",
        service_tier="batch",
    )

    assert price.cost_usd == (10_000 * D("0.5") + 2_000 * D("2.5")) / M
    assert (
        price.price_ref == f"{PRICE_DATA}:google/claude-haiku-4-5;tier=batch;rules=R005"
    )


def test_r006_bedrock_claude_batch_is_half(pricer: Pricer) -> None:
    # Bedrock regional claude-haiku-4-5: 1.1 / 5.5 -> batch 0.55 / 2.75
    usage = Usage(input_tokens=10_000, output_tokens=2_000)

    price = pricer.price(
        "aws.bedrock",
        "us.anthropic.claude-haiku-4-5-20251001-v1:0",
        usage,
        AT,
        service_tier="batch",
    )

    assert price.cost_usd == (10_000 * D("0.55") + 2_000 * D("2.75")) / M
    assert price.price_ref is not None and price.price_ref.endswith(
        ";tier=batch;rules=R006"
    )


# R007 / R008 / R009 ----------------------------------------------------------------


def test_r007_openai_batch_halves_input_and_output(pricer: Pricer) -> None:
    # gpt-4o-mini 0.15 / 0.6 -> batch 0.075 / 0.3 (cached input 0.075 unchanged)
    usage = Usage(input_tokens=10_000, cache_read_tokens=4_000, output_tokens=1_000)

    price = pricer.price("openai", "gpt-4o-mini", usage, AT, service_tier="batch")

    expected = (10_000 * D("0.075") + 4_000 * D("0.075") + 1_000 * D("0.3")) / M
    assert price.cost_usd == expected
    assert price.price_ref == f"{PRICE_DATA}:openai/gpt-4o-mini;tier=batch;rules=R007"


def test_r007_azure_global_batch_is_half_too(pricer: Pricer) -> None:
    # Azure gpt-4o (borrowed from OpenAI's data): 2.5 / 10 -> 1.25 / 5
    usage = Usage(input_tokens=10_000, output_tokens=1_000)
    later = datetime(2026, 11, 1, tzinfo=UTC)

    price = pricer.price(
        "azure.ai.openai", "gpt-4o", usage, later, service_tier="batch"
    )

    assert price.cost_usd == (10_000 * D("1.25") + 1_000 * 5) / M


def test_r008_openai_flex_at_batch_rates(pricer: Pricer) -> None:
    # o4-mini 1.1 / 0.275 / 4.4 -> flex 0.55 / 0.1375 / 2.2
    usage = Usage(input_tokens=10_000, cache_read_tokens=2_000, output_tokens=1_000)

    price = pricer.price("openai", "o4-mini", usage, AT, service_tier="flex")

    expected = (10_000 * D("0.55") + 2_000 * D("0.1375") + 1_000 * D("2.2")) / M
    assert price.cost_usd == expected


def test_r009_gemini_batch_halves_input_and_output_not_cache(pricer: Pricer) -> None:
    # gemini-2.0-flash: 0.1 in / 0.025 cached / 0.4 out; batch 0.05 / 0.025 / 0.2
    usage = Usage(input_tokens=100_000, cache_read_tokens=40_000, output_tokens=10_000)

    price = pricer.price(
        "gcp.gemini", "models/gemini-2.0-flash-001", usage, AT, service_tier="batch"
    )

    expected = (100_000 * D("0.05") + 40_000 * D("0.025") + 10_000 * D("0.2")) / M
    assert price.cost_usd == expected == D("0.008")
    assert (
        price.price_ref == f"{PRICE_DATA}:google/gemini-2.0-flash;tier=batch;rules=R009"
    )


# R010 ------------------------------------------------------------------------------


@pytest.mark.parametrize("region", ["us-east5", "europe-west1", "us", "eu"])
def test_r010_vertex_regional_endpoints_cost_10_percent_more(
    pricer: Pricer, region: str
) -> None:
    # Vertex claude-sonnet-4-5 global: 3 / 15; regional and multi-region +10%
    usage = Usage(input_tokens=10_000, output_tokens=1_000)

    price = pricer.price(
        "gcp.vertex_ai", "claude-sonnet-4-5@20250929", usage, AT, region=region
    )

    assert price.cost_usd == (10_000 * D("3.3") + 1_000 * D("16.5")) / M
    assert price.price_ref == f"{PRICE_DATA}:google/claude-sonnet-4-5;rules=R010"


def test_r010_not_on_the_global_endpoint_nor_for_older_models(pricer: Pricer) -> None:
    usage = Usage(input_tokens=10_000, output_tokens=1_000)

    on_global = pricer.price(
        "gcp.vertex_ai", "claude-sonnet-4-5@20250929", usage, AT, region="global"
    )
    older = pricer.price(
        "gcp.vertex_ai", "claude-sonnet-4@20250514", usage, AT, region="us-east5"
    )

    assert on_global.cost_usd == older.cost_usd == (10_000 * 3 + 1_000 * 15) / M


# R011 / R012 -----------------------------------------------------------------------


def test_r011_vertex_claude_web_search_is_10_dollars_per_1000(pricer: Pricer) -> None:
    usage = Usage(input_tokens=1_000, output_tokens=100, web_search_requests=3)

    price = pricer.price(
        "gcp.vertex_ai", "claude-haiku-4-5@20251001", usage, AT, region="global"
    )

    assert price.cost_usd == (1_000 * 1 + 100 * 5) / M + 3 * D("0.01")
    assert price.price_ref == f"{PRICE_DATA}:google/claude-haiku-4-5;rules=R011"


def test_r011_is_not_named_when_the_call_made_no_search(pricer: Pricer) -> None:
    usage = Usage(input_tokens=1_000, output_tokens=100, web_search_requests=0)

    price = pricer.price(
        "gcp.vertex_ai", "claude-haiku-4-5", usage, AT, region="global"
    )

    assert price.price_ref == f"{PRICE_DATA}:google/claude-haiku-4-5"


def test_r012_anthropic_web_search_where_the_data_lacks_it(pricer: Pricer) -> None:
    # claude-3-haiku: 0.25 / 1.25 in the data, no web-search price
    usage = Usage(input_tokens=1_000, output_tokens=100, web_search_requests=2)

    price = pricer.price("anthropic", "claude-3-haiku-20240307", usage, AT)

    assert price.cost_usd == (1_000 * D("0.25") + 100 * D("1.25")) / M + 2 * D("0.01")
    assert price.price_ref == f"{PRICE_DATA}:anthropic/claude-3-haiku;rules=R012"


def test_web_search_on_anthropic_direct_comes_from_the_data(pricer: Pricer) -> None:
    usage = Usage(input_tokens=0, output_tokens=0, web_search_requests=5)

    price = pricer.price("anthropic", "claude-sonnet-4-5", usage, AT)

    assert price.cost_usd == 5 * D("0.01")
    assert price.price_ref == f"{PRICE_DATA}:anthropic/claude-sonnet-4-5"


# The catalogue ---------------------------------------------------------------------


def test_every_rule_has_an_id_a_source_a_test_here_and_a_line_in_the_docs() -> None:
    ids = [rule.id for rule in RULES]
    here = Path(__file__).read_text()
    docs = (Path(__file__).parents[2] / "docs" / "pricing.md").read_text()

    assert len(ids) == len(set(ids))
    for rule in RULES:
        assert re.fullmatch(r"R\d{3}", rule.id)
        assert rule.source.startswith("https://")
        assert f"def test_{rule.id.lower()}_" in here, f"{rule.id} has no test"
        row = next(
            line for line in docs.splitlines() if line.startswith(f"| {rule.id} |")
        )
        assert rule.source in row, f"docs/pricing.md: {rule.id} lacks its source"
        if rule.valid_from and rule.valid_until:
            assert rule.valid_from < rule.valid_until
    assert rule_by_id("R010").regional_only
