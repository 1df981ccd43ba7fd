"""Normalising OpenAI usage objects (Chat Completions and Responses)."""

from __future__ import annotations

import logging

import pytest

from spendtap.event import Usage
from spendtap.providers.openai_usage import chat_usage, responses_usage


def test_c03_input_is_prompt_less_cached() -> None:
    usage = chat_usage(
        {"prompt_tokens": 17903, "prompt_tokens_details": {"cached_tokens": 17817}}
    )

    assert (usage.input_tokens, usage.cache_read_tokens) == (86, 17817)


def test_r01_reasoning_is_inside_completion_tokens() -> None:
    usage = chat_usage(
        {
            "prompt_tokens": 1200,
            "completion_tokens": 5500,
            "completion_tokens_details": {"reasoning_tokens": 5000},
        }
    )

    assert usage == Usage(input_tokens=1200, output_tokens=5500, reasoning_tokens=5000)


def test_missing_details_are_none_not_zero() -> None:
    usage = chat_usage(
        {
            "prompt_tokens": 10,
            "completion_tokens": 2,
            "prompt_tokens_details": None,
        }
    )

    assert usage == Usage(input_tokens=10, output_tokens=2)


def test_responses_names_and_cache_writes() -> None:
    usage = responses_usage(
        {
            "input_tokens": 4020,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 4012},
            "output_tokens": 5,
            "output_tokens_details": {"reasoning_tokens": 0},
        }
    )

    assert usage == Usage(
        input_tokens=8,
        cache_read_tokens=0,
        cache_write_5m_tokens=4012,
        output_tokens=5,
        reasoning_tokens=0,
    )


def test_cached_above_prompt_is_flagged_and_gives_no_input(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        usage = chat_usage(
            {"prompt_tokens": 10, "prompt_tokens_details": {"cached_tokens": 50}}
        )

    assert usage.input_tokens is None
    assert usage.cache_read_tokens == 50
    assert "providers.openai.usage_inconsistent" in caplog.text


def test_an_empty_usage_object_is_empty() -> None:
    assert chat_usage({}).is_empty
