"""The OpenAI Chat Completions parser against recorded-shape fixtures (C03, C04, R01,
S03, S04)."""

from __future__ import annotations

import dataclasses

import pytest

from spendtap.event import Api, CallStatus, Usage, UsageSource
from spendtap.providers.base import RequestInfo
from spendtap.providers.registry import default_registry
from tests.providers.exchanges import inline, load, parse


def test_c03_prompt_tokens_include_cached_tokens() -> None:
    call = parse(load("openai_chat/c03_cached_prompt"))

    assert call.usage == Usage(
        input_tokens=17903 - 17817,
        cache_read_tokens=17817,
        output_tokens=7,
        reasoning_tokens=0,
    )
    assert call.usage_source is UsageSource.PROVIDER
    assert (call.provider, call.api) == ("openai", Api.CHAT_COMPLETIONS)
    assert call.model_requested == "gpt-4.1"
    assert call.model == "gpt-4.1-2025-04-14"
    assert call.service_tier == "default"
    assert call.response_id == "chatcmpl-BxQ2mT8vR4kL9nW3pY6sZ1aC5dE7"


def test_c04_final_usage_chunk_keeps_the_cache_split() -> None:
    call = parse(load("openai_chat/c04_stream_usage_chunk"))

    assert call.usage == Usage(
        input_tokens=20, cache_read_tokens=2603, output_tokens=31, reasoning_tokens=0
    )
    assert call.status is CallStatus.OK
    assert call.streaming is True
    assert call.model == "gpt-4o-mini-2024-07-18"


def test_c04_stream_and_non_stream_agree() -> None:
    streamed = parse(load("openai_chat/c04_stream_usage_chunk"))
    whole = parse(load("openai_chat/c04_non_stream"))

    assert streamed.usage == whole.usage
    assert whole.streaming is False


def test_r01_reasoning_tokens_are_inside_completion_tokens() -> None:
    call = parse(load("openai_chat/r01_reasoning_inside_completion"))

    assert call.usage.output_tokens == 5500
    assert call.usage.reasoning_tokens == 5000
    assert call.usage.input_tokens == 1200


def test_s03_stream_without_usage_chunk_has_absent_usage_not_zero() -> None:
    call = parse(load("openai_chat/s03_stream_without_usage"))

    assert call.status is CallStatus.OK
    assert call.usage_source is UsageSource.ABSENT
    assert call.usage == Usage()  # every count None, none a confident 0
    assert call.model == "o4-mini-2025-04-16"


@pytest.mark.parametrize("complete", [False, True])
def test_s04_stream_cut_off_without_finish_or_done_is_truncated(complete: bool) -> None:
    # complete=True: the upstream closed the connection cleanly, as the collector sees
    # a close-delimited body; the missing terminal event still makes it truncated.
    call = parse(load("openai_chat/s04_stream_cut_off"), complete=complete)

    assert call.status is CallStatus.TRUNCATED
    assert call.usage_source is UsageSource.ABSENT
    assert call.usage.is_empty


def test_json_body_cut_at_a_clean_end_of_file_is_truncated() -> None:
    exchange = load("openai_chat/c04_non_stream")
    cut = dataclasses.replace(exchange, body=exchange.body[: len(exchange.body) // 2])

    call = parse(cut, complete=True)

    assert call.status is CallStatus.TRUNCATED
    assert call.usage.is_empty


def test_stream_cut_after_finish_reason_while_usage_was_due_is_truncated() -> None:
    exchange = load("openai_chat/c04_stream_usage_chunk")
    cut = exchange.body[: exchange.body.index(b'"choices":[],"usage":{')]

    call = parse(exchange, [cut], complete=False)

    assert call.status is CallStatus.TRUNCATED


def test_stream_cut_between_usage_chunk_and_done_keeps_the_usage() -> None:
    exchange = load("openai_chat/c04_stream_usage_chunk")
    cut = exchange.body[: exchange.body.index(b"data: [DONE]")]

    call = parse(exchange, [cut], complete=False)

    assert call.status is CallStatus.OK
    assert call.usage.cache_read_tokens == 2603


def test_error_inside_a_200_stream_makes_an_error() -> None:
    call = parse(load("openai_chat/error_in_stream"))

    assert call.status is CallStatus.ERROR
    assert call.error_type == "server_error"
    assert call.usage_source is UsageSource.ABSENT


def test_http_error_has_the_body_error_type() -> None:
    call = parse(load("openai_chat/http_400_bad_request"))

    assert call.status is CallStatus.ERROR
    assert call.http_status == 400
    assert call.error_type == "invalid_request_error"
    assert call.usage.is_empty


def test_explicit_cache_writes_are_taken_out_of_input() -> None:
    call = parse(load("openai_chat/cache_write_explicit"))

    assert call.usage == Usage(
        input_tokens=4020 - 4012,
        cache_read_tokens=0,
        cache_write_5m_tokens=4012,
        output_tokens=4,
        reasoning_tokens=0,
    )


def test_content_starts_at_the_first_delta_with_text() -> None:
    exchange = load("openai_chat/c04_stream_usage_chunk")
    second_chunk = exchange.body.index(b"data:", 10)  # the first chunk has role only
    reader = exchange.reader()

    reader.feed(exchange.body[:second_chunk])
    before = reader.content_started
    reader.feed(exchange.body[second_chunk:])

    assert (before, reader.content_started) == (False, True)


def test_t04_usage_chunk_split_across_reads_is_reassembled() -> None:
    exchange = load("openai_chat/c04_stream_usage_chunk")
    middle = exchange.body.index(b'"cached_tokens":2603')

    call = parse(exchange, [exchange.body[:middle], exchange.body[middle:]])

    assert call.usage.cache_read_tokens == 2603


def test_only_chat_completions_path_routes_here() -> None:
    def route_name(path: str) -> str | None:
        route = default_registry().route(RequestInfo("POST", "api.openai.com", path))
        return route.name if route else None

    assert route_name("/v1/chat/completions") == "openai.chat_completions"
    assert route_name("/v1/completions") is None
    assert route_name("/v1/embeddings") == "openai.embeddings"


def test_an_error_body_with_status_200_is_an_error() -> None:
    exchange = inline(
        "https://api.openai.com/v1/chat/completions",
        {"model": "gpt-4o"},
        200,
        "application/json",
        '{"error": {"type": "server_error", "message": "Sorry"}}',
    )

    call = parse(exchange)

    assert (call.status, call.error_type) == (CallStatus.ERROR, "server_error")
    assert call.usage_source is UsageSource.ABSENT
