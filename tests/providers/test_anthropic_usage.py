"""Normalising Anthropic usage objects, field by field."""

from __future__ import annotations

from spendtap.event import Usage
from spendtap.providers.anthropic_usage import (
    RunningUsage,
    anthropic_usage,
    usage_region,
)


def test_cache_writes_without_a_ttl_split_are_all_5m() -> None:
    usage = anthropic_usage({"input_tokens": 3, "cache_creation_input_tokens": 12304})

    assert (usage.cache_write_5m_tokens, usage.cache_write_1h_tokens) == (12304, None)


def test_a_ttl_split_that_adds_up_is_used_as_given() -> None:
    usage = anthropic_usage(
        {
            "cache_creation_input_tokens": 300,
            "cache_creation": {
                "ephemeral_5m_input_tokens": 100,
                "ephemeral_1h_input_tokens": 200,
            },
        }
    )

    assert (usage.cache_write_5m_tokens, usage.cache_write_1h_tokens) == (100, 200)


def test_a_split_that_disagrees_with_the_total_yields_to_the_total() -> None:
    usage = anthropic_usage(
        {
            "cache_creation_input_tokens": 500,
            "cache_creation": {"ephemeral_1h_input_tokens": 200},
        }
    )

    assert (usage.cache_write_5m_tokens, usage.cache_write_1h_tokens) == (300, 200)


def test_thinking_tokens_are_the_reasoning_part_of_output() -> None:
    usage = anthropic_usage(
        {"output_tokens": 55, "output_tokens_details": {"thinking_tokens": 40}}
    )

    assert (usage.output_tokens, usage.reasoning_tokens) == (55, 40)


def test_junk_counts_become_none_not_zero() -> None:
    usage = anthropic_usage(
        {
            "input_tokens": -4,
            "output_tokens": True,
            "cache_read_input_tokens": "12",
            "cache_creation": "none",
            "server_tool_use": [1],
            "iterations": "many",
        }
    )

    assert usage == Usage()


def test_iterations_are_summed_and_junk_steps_skipped() -> None:
    usage = anthropic_usage(
        {
            "input_tokens": 9,
            "output_tokens": 9,
            "iterations": [
                {"input_tokens": 10, "output_tokens": 1, "cache_read_input_tokens": 7},
                "junk",
                {"input_tokens": 20, "output_tokens": 2},
            ],
        }
    )

    assert usage == Usage(input_tokens=30, cache_read_tokens=7, output_tokens=3)


def test_running_usage_last_value_wins_and_null_does_not_erase() -> None:
    running = RunningUsage()
    running.update({"input_tokens": 800, "output_tokens": 1, "service_tier": "batch"})
    running.update({"input_tokens": 1900, "output_tokens": 60})
    running.update({"output_tokens": None, "cache_read_input_tokens": 400})

    assert running.usage() == Usage(
        input_tokens=1900, cache_read_tokens=400, output_tokens=60
    )
    assert running.service_tier == "batch"


def test_running_usage_is_not_a_sum() -> None:
    running = RunningUsage()
    for total in (5, 10, 23):
        running.update({"output_tokens": total})

    assert running.usage().output_tokens == 23


def test_region_is_the_inference_geo_unless_not_available() -> None:
    assert usage_region({"inference_geo": "us"}) == "us"
    assert usage_region({"inference_geo": "not_available"}) is None
    assert usage_region({}) is None
