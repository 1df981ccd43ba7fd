"""OpenAI Realtime over WebSocket: one call per session, the sum of its responses."""

from __future__ import annotations

import json

import pytest

from spendtap.event import CallStatus, Usage, UsageSource
from spendtap.providers.base import RequestInfo, ResponseHead
from spendtap.providers.openai_realtime import read_realtime
from spendtap.providers.registry import default_registry
from spendtap.providers.websocket import frame_message
from tests.providers.exchanges import load, parse

REQUEST = RequestInfo("GET", "api.openai.com", "/v1/realtime?model=gpt-realtime")
UPGRADED = ResponseHead(101, {"upgrade": "websocket"})


def test_session_usage_is_the_sum_of_its_response_done_events() -> None:
    call = parse(load("openai_realtime/session_two_responses"))

    assert call.provider == "openai"
    assert call.status is CallStatus.OK
    assert call.usage == Usage(
        input_tokens=(1200 - 1024) + (1500 - 1152),
        cache_read_tokens=1024 + 1152,
        output_tokens=300 + 80,
    )
    assert call.usage_source is UsageSource.PROVIDER
    assert call.model_requested == "gpt-realtime"  # from the query string
    assert call.model == "gpt-realtime-2025-08-28"  # from session.created
    assert call.response_id == "sess_C9a8b7c6d5e4f3a2"
    assert (call.streaming, call.http_status) == (True, 101)


def test_socket_closed_mid_response_is_truncated() -> None:
    call = parse(load("openai_realtime/session_cut_mid_response"), complete=False)

    assert call.status is CallStatus.TRUNCATED
    assert call.usage.is_empty and call.usage_source is UsageSource.ABSENT


def test_session_that_only_reported_an_error_is_an_error() -> None:
    call = parse(load("openai_realtime/session_error_only"))

    assert call.status is CallStatus.ERROR
    assert call.error_type == "invalid_request_error"


def test_failed_response_makes_an_error_and_keeps_reported_usage() -> None:
    call = parse(load("openai_realtime/session_response_failed"))

    assert call.status is CallStatus.ERROR
    assert call.error_type == "server_error"
    assert call.usage == Usage(input_tokens=900, cache_read_tokens=0, output_tokens=0)


def test_azure_realtime_names_the_deployment() -> None:
    call = parse(load("openai_realtime/azure_deployment_session"))

    assert call.provider == "azure.ai.openai"
    assert call.model_requested == "rt-voice"
    assert call.model == "gpt-realtime"
    assert call.usage == Usage(input_tokens=400, cache_read_tokens=0, output_tokens=120)


def _events(*events: dict[str, object]) -> bytes:
    return b"".join(frame_message(json.dumps(e).encode()) for e in events)


def test_an_error_the_session_survives_does_not_fail_it() -> None:
    reader = read_realtime(REQUEST, UPGRADED)
    reader.feed(
        _events(
            {"type": "error", "error": {"type": "invalid_request_error"}},
            {"type": "response.created", "response": {"id": "r1"}},
            {
                "type": "response.done",
                "response": {
                    "id": "r1",
                    "status": "completed",
                    "usage": {"input_tokens": 10, "output_tokens": 2},
                },
            },
        )
    )

    call = reader.finish(complete=True)

    assert call.status is CallStatus.OK
    assert call.usage == Usage(input_tokens=10, output_tokens=2)


def test_messages_with_line_breaks_are_framed_without_changing_them() -> None:
    pretty = json.dumps(
        {
            "type": "response.done",
            "response": {
                "status": "completed",
                "usage": {"input_tokens": 3, "output_tokens": 4},
            },
        },
        indent=2,
    ).replace("\n", "\r\n")
    reader = read_realtime(REQUEST, UPGRADED)

    reader.feed(frame_message(pretty.encode()))

    assert reader.finish(complete=True).usage == Usage(input_tokens=3, output_tokens=4)


def test_first_delta_starts_content() -> None:
    reader = read_realtime(REQUEST, UPGRADED)
    reader.feed(_events({"type": "session.created", "session": {"model": "m"}}))
    before = reader.content_started
    reader.feed(_events({"type": "response.output_audio.delta", "delta": "AAAA"}))

    assert (before, reader.content_started) == (False, True)


def test_refused_upgrade_is_an_http_error() -> None:
    reader = read_realtime(
        REQUEST, ResponseHead(401, {"content-type": "application/json"})
    )
    reader.feed(
        b'{"error": {"type": "invalid_request_error", "code": "invalid_api_key"}}'
    )

    call = reader.finish(complete=True)

    assert call.status is CallStatus.ERROR
    assert call.error_type == "invalid_request_error"
    assert call.usage.is_empty


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/v1/realtime?model=gpt-realtime", "openai.realtime"),
        ("POST", "/v1/realtime", None),
        ("POST", "/v1/realtime/calls", None),
        ("POST", "/v1/realtime/client_secrets", None),
    ],
)
def test_routes(method: str, path: str, expected: str | None) -> None:
    route = default_registry().route(RequestInfo(method, "api.openai.com", path))

    assert (route.name if route else None) == expected
