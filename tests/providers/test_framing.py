"""Choosing and driving a reader: HTTP errors, event streams, bounded JSON bodies."""

from __future__ import annotations

import json
import logging

import pytest

from spendtap.event import Api, CallStatus, Usage, UsageSource
from spendtap.providers.base import ParsedCall, ResponseHead
from spendtap.providers.framing import (
    EventStreamReader,
    JsonBodyReader,
    NoStream,
    call_template,
    error_type_of,
    open_reader,
)
from spendtap.providers.sse import ServerSentEvent

SSE_HEAD = ResponseHead(200, {"content-type": "text/event-stream; charset=utf-8"})
JSON_HEAD = ResponseHead(200, {"content-type": "application/json"})


def _template(head: ResponseHead = JSON_HEAD, stream: bool = False) -> ParsedCall:
    return call_template("p", Api.MESSAGES, {"model": "m", "stream": stream}, head)


def _with_output(template: ParsedCall, body: dict[str, object]) -> ParsedCall:
    return ParsedCall(
        provider=template.provider,
        api=template.api,
        streaming=template.streaming,
        status=CallStatus.OK,
        usage=Usage(output_tokens=int(str(body["n"]))),
        usage_source=UsageSource.PROVIDER,
    )


class _FailingResult:
    content_started = True

    def on_event(self, event: ServerSentEvent) -> None:
        return None

    def result(self, *, complete: bool) -> ParsedCall:
        raise ValueError("boom")


class _ExplodingStream:
    content_started = False

    def on_event(self, event: ServerSentEvent) -> None:
        raise KeyError("boom")

    def result(self, *, complete: bool) -> ParsedCall:
        raise AssertionError("never reached after a failure")


def test_template_takes_streaming_from_the_flag_or_the_content_type() -> None:
    assert _template(JSON_HEAD, stream=True).streaming is True
    assert _template(SSE_HEAD, stream=False).streaming is True
    assert _template(JSON_HEAD, stream=False).streaming is False


def test_template_of_a_non_2xx_response_is_an_error() -> None:
    template = _template(ResponseHead(503, {}))

    assert (template.status, template.http_status) == (CallStatus.ERROR, 503)
    assert template.model_requested == "m"
    assert template.usage_source is UsageSource.ABSENT


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"error": {"type": "overloaded_error"}}, "overloaded_error"),
        (
            {"error": {"type": None, "code": "rate_limit_exceeded"}},
            "rate_limit_exceeded",
        ),
        ({"error": "text only"}, None),
        ({}, None),
    ],
)
def test_error_type_of(body: dict[str, object], expected: str | None) -> None:
    assert error_type_of(body) == expected


def test_open_reader_picks_the_framing() -> None:
    def pick(head: ResponseHead, stream: bool) -> type:
        template = _template(head, stream)
        return type(
            open_reader(head, template, _with_output, lambda: NoStream(template))
        )

    assert pick(SSE_HEAD, stream=True) is EventStreamReader
    assert pick(ResponseHead(200, {}), stream=True) is EventStreamReader
    assert pick(JSON_HEAD, stream=True) is JsonBodyReader
    assert pick(JSON_HEAD, stream=False) is JsonBodyReader
    assert pick(ResponseHead(400, {"content-type": "text/event-stream"}), True) is (
        JsonBodyReader
    )


def test_json_body_is_read_whole_at_finish() -> None:
    reader = JsonBodyReader(_template(), _with_output)
    body = json.dumps({"n": 7}).encode()
    reader.feed(body[:3])
    reader.feed(body[3:])

    assert reader.finish(complete=True).usage.output_tokens == 7
    assert reader.content_started


def test_json_body_over_the_cap_is_dropped_and_gives_absent_usage() -> None:
    reader = JsonBodyReader(_template(), _with_output, limit=100)
    for _ in range(10):
        reader.feed(b'{"n": 1}' + b" " * 50)

    call = reader.finish(complete=True)

    assert reader.buffered_bytes == 0
    assert (call.status, call.usage_source) == (CallStatus.OK, UsageSource.ABSENT)


def test_unreadable_json_of_a_broken_connection_is_truncated() -> None:
    reader = JsonBodyReader(_template(), _with_output)
    reader.feed(b'{"n": ')

    assert reader.finish(complete=False).status is CallStatus.TRUNCATED


def test_unreadable_error_body_is_still_an_error() -> None:
    head = ResponseHead(502, {"content-type": "text/html"})
    reader = open_reader(
        head, _template(head), _with_output, lambda: NoStream(_template())
    )
    reader.feed(b"<html>Bad gateway</html>")

    call = reader.finish(complete=True)

    assert (call.status, call.error_type, call.http_status) == (
        CallStatus.ERROR,
        None,
        502,
    )
    assert reader.content_started is False


def test_a_failing_json_parser_costs_the_usage_not_the_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reader = JsonBodyReader(_template(), _with_output)
    reader.feed(b'{"n": "not a number"}')

    with caplog.at_level(logging.WARNING):
        call = reader.finish(complete=True)

    assert (call.status, call.usage_source) == (CallStatus.OK, UsageSource.ABSENT)
    assert "providers.reader.failed" in caplog.text
    assert "not a number" not in caplog.text  # no content in logs


def test_a_failing_stream_parser_never_raises_into_the_proxy(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reader = EventStreamReader(_template(SSE_HEAD, True), _ExplodingStream())

    with caplog.at_level(logging.WARNING):
        reader.feed(b"data: {}\n\n")
        reader.feed(b"data: {}\n\n")
        call = reader.finish(complete=False)

    assert (call.status, call.usage_source) == (
        CallStatus.TRUNCATED,
        UsageSource.ABSENT,
    )
    assert caplog.text.count("providers.reader.failed") == 1


def test_a_failing_stream_result_falls_back_to_the_template() -> None:
    reader = EventStreamReader(_template(SSE_HEAD, True), _FailingResult())
    reader.feed(b"data: {}\n\n")

    call = reader.finish(complete=True)

    assert (call.status, call.usage_source) == (CallStatus.OK, UsageSource.ABSENT)
    assert call.model_requested == "m"
