"""The OpenAI Responses parser against recorded-shape fixtures."""

from __future__ import annotations

from spendtap.event import Api, CallStatus, Usage, UsageSource
from tests.providers.exchanges import inline, load, parse


def test_r01_reasoning_inside_output_and_cache_inside_input() -> None:
    call = parse(load("openai_responses/r01_reasoning_non_stream"))

    assert call.usage == Usage(
        input_tokens=1200 - 1024,
        cache_read_tokens=1024,
        output_tokens=5500,
        reasoning_tokens=5000,
    )
    assert call.usage_source is UsageSource.PROVIDER
    assert (call.provider, call.api, call.status) == (
        "openai",
        Api.RESPONSES,
        CallStatus.OK,
    )
    assert call.model_requested == "gpt-5"
    assert call.model == "gpt-5-2025-08-07"
    assert call.response_id == "resp_0e3d55e9502941380068c4aaa6f1a88195b6e8f7d1c2a3b4e5"


def test_completed_stream_takes_usage_from_response_completed() -> None:
    call = parse(load("openai_responses/stream_completed"))

    assert call.usage == Usage(
        input_tokens=2067 - 1920,
        cache_read_tokens=1920,
        output_tokens=469,
        reasoning_tokens=448,
    )
    assert call.status is CallStatus.OK
    assert call.streaming is True
    assert call.service_tier == "default"  # the served tier, not the requested "auto"


def test_incomplete_stream_is_a_finished_call_with_usage() -> None:
    call = parse(load("openai_responses/stream_incomplete"))

    assert call.status is CallStatus.OK
    assert call.usage == Usage(
        input_tokens=11, cache_read_tokens=0, output_tokens=16, reasoning_tokens=0
    )


def test_failed_stream_is_an_error_that_keeps_its_usage() -> None:
    call = parse(load("openai_responses/stream_failed"))

    assert call.status is CallStatus.ERROR
    assert call.error_type == "server_error"
    assert call.usage.input_tokens == 812
    assert call.usage_source is UsageSource.PROVIDER


def test_error_event_inside_a_200_stream_makes_an_error() -> None:
    call = parse(load("openai_responses/stream_error_event"))

    assert call.status is CallStatus.ERROR
    assert call.error_type == "rate_limit_exceeded"
    assert call.usage_source is UsageSource.ABSENT
    assert call.model == "gpt-4o-2024-08-06"


def test_stream_cut_before_a_terminal_event_is_truncated() -> None:
    call = parse(load("openai_responses/stream_cut_off"), complete=False)

    assert call.status is CallStatus.TRUNCATED
    assert call.usage_source is UsageSource.ABSENT
    assert call.usage.is_empty
    assert call.response_id == "resp_68c42d0fb418819dbfa579f69406b49508fbf9b1584184ff"


def test_web_search_calls_in_the_output_are_counted() -> None:
    call = parse(load("openai_responses/web_search_non_stream"))

    assert call.usage.web_search_requests == 2
    assert call.usage.input_tokens == 9299 - 8448


def test_web_search_before_a_cut_is_still_counted() -> None:
    call = parse(load("openai_responses/web_search_stream_cut_off"), complete=False)

    assert call.status is CallStatus.TRUNCATED
    assert call.usage.web_search_requests == 1


def test_a_response_without_web_search_has_no_count() -> None:
    call = parse(load("openai_responses/stream_completed"))

    assert call.usage.web_search_requests is None


def test_http_error_has_the_body_error_type() -> None:
    call = parse(load("openai_responses/http_400_bad_request"))

    assert call.status is CallStatus.ERROR
    assert call.error_type == "invalid_request_error"
    assert call.http_status == 400
    assert call.usage.is_empty


def test_input_token_count_is_not_billable() -> None:
    call = parse(load("openai_responses/input_tokens_count"))

    assert call.api is Api.COUNT_TOKENS
    assert call.billable is False
    assert call.usage_source is UsageSource.ABSENT
    assert call.usage.is_empty


def test_content_starts_at_the_first_output_text_delta() -> None:
    exchange = load("openai_responses/stream_completed")
    first_delta = exchange.body.index(b"event: response.output_text.delta")
    reader = exchange.reader()

    reader.feed(exchange.body[:first_delta])
    before = reader.content_started
    reader.feed(exchange.body[first_delta:])

    assert (before, reader.content_started) == (False, True)


def test_t04_terminal_event_split_across_reads_is_reassembled() -> None:
    exchange = load("openai_responses/stream_completed")
    middle = exchange.body.index(b'"cached_tokens":1920')

    call = parse(exchange, [exchange.body[:middle], exchange.body[middle:]])

    assert call.usage.cache_read_tokens == 1920
    assert call.status is CallStatus.OK


def test_an_error_body_with_status_200_is_an_error() -> None:
    exchange = inline(
        "https://api.openai.com/v1/responses",
        {"model": "gpt-5"},
        200,
        "application/json",
        '{"error": {"type": null, "code": "server_error", "message": "Sorry"}}',
    )

    call = parse(exchange)

    assert (call.status, call.error_type) == (CallStatus.ERROR, "server_error")


def test_a_queued_background_response_has_no_usage_yet() -> None:
    exchange = inline(
        "https://api.openai.com/v1/responses",
        {"model": "gpt-5", "background": True},
        200,
        "application/json",
        '{"id": "resp_1", "object": "response", "status": "queued", "model": "gpt-5",'
        ' "output": [], "usage": null, "error": null}',
    )

    call = parse(exchange)

    assert (call.status, call.usage_source) == (CallStatus.OK, UsageSource.ABSENT)
    assert call.usage.is_empty
    assert call.response_id == "resp_1"
