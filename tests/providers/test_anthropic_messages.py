"""The Anthropic Messages parser against recorded-shape fixtures (cases C01-S05)."""

from __future__ import annotations

import pytest

from spendtap.event import Api, CallStatus, Usage, UsageSource
from spendtap.providers.base import RequestInfo, ResponseHead
from spendtap.providers.registry import default_registry
from tests.providers.exchanges import inline, load, parse


def test_c01_cache_write_counts_once_as_a_5m_write() -> None:
    call = parse(load("anthropic_messages/c01_cache_write_non_stream"))

    assert call.usage == Usage(
        input_tokens=3,
        cache_read_tokens=0,
        cache_write_5m_tokens=12304,
        output_tokens=550,
    )
    assert call.usage_source is UsageSource.PROVIDER
    assert call.status is CallStatus.OK
    assert call.streaming is False
    assert call.model == "claude-3-7-sonnet-20250219"
    assert call.response_id == "msg_01Xw3TnZ8ekqQ1Zb4nFq2ViU"


def test_c02_streamed_cache_reads_are_not_input() -> None:
    call = parse(load("anthropic_messages/c02_cache_read_stream"))

    assert call.usage == Usage(
        input_tokens=4,
        cache_read_tokens=2455,
        cache_write_5m_tokens=0,
        cache_write_1h_tokens=0,
        output_tokens=23,
    )
    assert call.usage_source is UsageSource.PROVIDER
    assert call.status is CallStatus.OK
    assert call.streaming is True
    assert call.model_requested == "claude-sonnet-4-5"
    assert call.model == "claude-sonnet-4-5-20250929"
    assert call.service_tier == "standard"


def test_c02_stream_and_non_stream_of_the_same_numbers_agree() -> None:
    streamed = parse(load("anthropic_messages/c02_cache_read_stream"))
    whole = parse(load("anthropic_messages/c02_cache_read_non_stream"))

    assert streamed.usage == whole.usage
    assert whole.streaming is False


def test_c05_input_tokens_already_exclude_the_cache() -> None:
    call = parse(load("anthropic_messages/c05_cache_read_and_write"))

    assert call.usage == Usage(
        input_tokens=100,
        cache_read_tokens=75,
        cache_write_5m_tokens=25,
        output_tokens=10,
    )


def test_s02_message_delta_revises_input_and_cache() -> None:
    call = parse(load("anthropic_messages/s02_delta_revises_usage"))

    assert call.usage == Usage(
        input_tokens=1900,
        cache_read_tokens=400,
        cache_write_5m_tokens=100,
        output_tokens=60,
    )
    assert call.status is CallStatus.OK


def test_s05_legacy_complete_without_usage_is_recorded() -> None:
    call = parse(load("anthropic_messages/s05_legacy_complete"))

    assert call.api is Api.COMPLETE
    assert call.status is CallStatus.OK
    assert call.usage_source is UsageSource.ABSENT
    assert call.usage.is_empty
    assert call.model == "claude-instant-1.2"
    assert call.billable is True


def test_s05_streamed_legacy_complete_ends_at_its_stop_reason() -> None:
    exchange = load("anthropic_messages/s05_legacy_complete_stream")
    reader = exchange.reader()
    reader.feed(exchange.body)

    call = reader.finish(complete=True)

    assert reader.content_started
    assert (call.api, call.status, call.usage_source) == (
        Api.COMPLETE,
        CallStatus.OK,
        UsageSource.ABSENT,
    )
    assert call.model == "claude-2.1"
    assert call.response_id == "compl_01GtVYrjx6o5dpT8JsBqMn4u"


def test_legacy_complete_stream_without_stop_reason_is_truncated() -> None:
    exchange = load("anthropic_messages/s05_legacy_complete_stream")
    cut = exchange.body[: exchange.body.index(b'"completion":""')]

    call = parse(exchange, [cut], complete=False)

    assert call.status is CallStatus.TRUNCATED


def test_cache_writes_are_split_by_ttl() -> None:
    call = parse(load("anthropic_messages/cache_write_1h_and_5m"))

    assert call.usage == Usage(
        input_tokens=21,
        cache_read_tokens=0,
        cache_write_5m_tokens=2048,
        cache_write_1h_tokens=4096,
        output_tokens=9,
    )
    assert call.region == "us"
    assert call.service_tier == "standard"


def test_web_search_requests_come_from_server_tool_use() -> None:
    call = parse(load("anthropic_messages/web_search_stream"))

    assert call.usage.web_search_requests == 3
    assert call.usage.input_tokens == 28617
    assert call.usage.output_tokens == 652


def test_compaction_iterations_are_billed_as_their_sum() -> None:
    call = parse(load("anthropic_messages/compaction_iterations_stream"))

    assert call.usage == Usage(
        input_tokens=100 + 181,
        cache_read_tokens=55096,
        cache_write_5m_tokens=0,
        cache_write_1h_tokens=0,
        output_tokens=83 + 8,
    )
    assert call.region == "global"


def test_error_event_inside_a_200_stream_makes_an_error() -> None:
    call = parse(load("anthropic_messages/error_event_in_stream"))

    assert call.status is CallStatus.ERROR
    assert call.error_type == "overloaded_error"
    assert call.http_status == 200
    assert call.usage_source is UsageSource.ESTIMATED
    assert call.usage.input_tokens == 12


def test_http_error_has_the_body_error_type_and_no_usage() -> None:
    call = parse(load("anthropic_messages/http_429_rate_limited"))

    assert call.status is CallStatus.ERROR
    assert call.http_status == 429
    assert call.error_type == "rate_limit_error"
    assert call.usage_source is UsageSource.ABSENT
    assert call.usage.is_empty
    assert call.streaming is True  # the request asked for a stream


def test_count_tokens_is_recorded_but_not_billable() -> None:
    call = parse(load("anthropic_messages/count_tokens"))

    assert call.api is Api.COUNT_TOKENS
    assert call.billable is False
    assert call.usage_source is UsageSource.ABSENT
    assert call.usage.is_empty
    assert call.model_requested == "claude-sonnet-4-5"


def test_stream_cut_before_message_delta_is_truncated_and_estimated() -> None:
    call = parse(load("anthropic_messages/stream_cut_before_delta"), complete=False)

    assert call.status is CallStatus.TRUNCATED
    assert call.usage_source is UsageSource.ESTIMATED
    assert call.usage == Usage(
        input_tokens=31, cache_read_tokens=512, cache_write_5m_tokens=0, output_tokens=1
    )


def test_stream_cut_before_message_start_has_no_usage() -> None:
    exchange = load("anthropic_messages/c02_cache_read_stream")
    call = parse(exchange, [exchange.body[:40]], complete=False)

    assert call.status is CallStatus.TRUNCATED
    assert call.usage_source is UsageSource.ABSENT
    assert call.usage.is_empty


def test_stream_with_delta_but_no_message_stop_is_truncated_with_final_usage() -> None:
    exchange = load("anthropic_messages/c02_cache_read_stream")
    cut = exchange.body[: exchange.body.index(b"event: message_stop")]

    call = parse(exchange, [cut], complete=False)

    assert call.status is CallStatus.TRUNCATED
    assert call.usage_source is UsageSource.PROVIDER
    assert call.usage.output_tokens == 23


def test_t04_event_split_across_reads_is_reassembled() -> None:
    exchange = load("anthropic_messages/s02_delta_revises_usage")
    middle = exchange.body.index(b'"cache_read_input_tokens":400')

    call = parse(exchange, [exchange.body[:middle], exchange.body[middle:]])

    assert call.usage.cache_read_tokens == 400
    assert call.usage.input_tokens == 1900


def test_content_starts_at_the_first_content_block_delta() -> None:
    exchange = load("anthropic_messages/c02_cache_read_stream")
    first_delta = exchange.body.index(b"event: content_block_delta")
    reader = exchange.reader()

    reader.feed(exchange.body[:first_delta])
    before = reader.content_started
    reader.feed(exchange.body[first_delta:])

    assert (before, reader.content_started) == (False, True)


def test_http_error_body_is_not_content() -> None:
    exchange = load("anthropic_messages/http_429_rate_limited")
    reader = exchange.reader()
    reader.feed(exchange.body)

    assert reader.content_started is False


@pytest.mark.parametrize(
    ("method", "host", "path", "expected"),
    [
        ("POST", "api.anthropic.com", "/v1/messages", "anthropic.messages"),
        ("POST", "api.anthropic.com", "/v1/messages?beta=true", "anthropic.messages"),
        ("POST", "API.Anthropic.com", "/v1/messages/", "anthropic.messages"),
        (
            "POST",
            "api.anthropic.com",
            "/v1/messages/count_tokens?beta=true",
            "anthropic.count_tokens",
        ),
        ("POST", "api.anthropic.com", "/v1/complete", "anthropic.complete"),
        ("GET", "api.anthropic.com", "/v1/messages", None),
        (
            "POST",
            "api.anthropic.com",
            "/v1/messages/batches",
            "anthropic.message_batches",
        ),
        ("POST", "api.anthropic.com.evil.example", "/v1/messages", None),
    ],
)
def test_routes(method: str, host: str, path: str, expected: str | None) -> None:
    route = default_registry().route(RequestInfo(method=method, host=host, path=path))

    assert (route.name if route else None) == expected


def test_stream_flag_without_event_stream_content_type_still_streams() -> None:
    exchange = load("anthropic_messages/c02_cache_read_stream")
    route = default_registry().route(exchange.request)
    assert route is not None
    reader = route.reader(exchange.request, ResponseHead(status=200, headers={}))
    reader.feed(exchange.body)

    call = reader.finish(complete=True)

    assert call.streaming is True
    assert call.usage.output_tokens == 23


def test_an_error_body_with_status_200_is_an_error() -> None:
    exchange = inline(
        "https://api.anthropic.com/v1/messages",
        {"model": "claude-sonnet-4-5"},
        200,
        "application/json",
        '{"type": "error", "error": {"type": "api_error", "message": "Internal"}}',
    )

    call = parse(exchange)

    assert (call.status, call.error_type) == (CallStatus.ERROR, "api_error")


def test_legacy_complete_error_event_and_error_body_are_errors() -> None:
    url = "https://api.anthropic.com/v1/complete"
    request = {"model": "claude-2.1", "stream": True}
    stream = inline(
        url,
        request,
        200,
        "text/event-stream",
        'event: completion\ndata: {"type":"completion","completion":" Hi",'
        '"stop_reason":null,"model":"claude-2.1"}\n\n'
        'event: error\ndata: {"type":"error","error":{"type":"overloaded_error"}}\n\n',
    )
    body = inline(
        url,
        request,
        200,
        "application/json",
        '{"type":"error","error":{"type":"api_error"}}',
    )

    assert (parse(stream).status, parse(stream).error_type) == (
        CallStatus.ERROR,
        "overloaded_error",
    )
    assert parse(body).error_type == "api_error"
