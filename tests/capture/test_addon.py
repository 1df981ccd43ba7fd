"""The capture addon's hooks, driven with mitmproxy's own flow objects (no sockets)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from mitmproxy import http
from mitmproxy.test import tflow
from mitmproxy.websocket import WebSocketData, WebSocketMessage
from wsproto.frame_protocol import Opcode

from spendtap.capture.addon import (
    METADATA_KEY,
    WEBSOCKET_KEY,
    CaptureAddon,
    CapturedCall,
    CaptureFault,
)
from spendtap.capture.hosts import HostAllowList
from spendtap.event import Api, CallStatus
from spendtap.providers.registry import default_registry

REALTIME_URL = "https://api.openai.com/v1/realtime?model=gpt-realtime"
CLAUDE_AI = "https://claude.ai/api/organizations/o1/chat_conversations/c1"


class Sink:
    def __init__(self) -> None:
        self.calls: list[CapturedCall] = []
        self.faults: list[CaptureFault] = []


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
def addon(sink: Sink) -> Iterator[CaptureAddon]:
    executor = ThreadPoolExecutor(max_workers=1)
    yield CaptureAddon(
        default_registry(),
        HostAllowList(),
        executor,
        on_call=sink.calls.append,
        on_fault=sink.faults.append,
    )
    executor.shutdown()


def _flow(
    url: str,
    *,
    method: str = "GET",
    status: int = 101,
    request_body: bytes = b"",
    response_headers: dict[str, str] | None = None,
) -> http.HTTPFlow:
    request = http.Request.make(method, url, request_body)
    response = http.Response.make(status, b"", response_headers or {})
    return tflow.tflow(req=request, resp=response)


def _message(flow: http.HTTPFlow, event: object, *, from_client: bool = False) -> None:
    assert flow.websocket is not None
    content = json.dumps(event).encode()
    flow.websocket.messages.append(WebSocketMessage(Opcode.TEXT, from_client, content))


def _realtime_session(addon: CaptureAddon, close_code: int) -> http.HTTPFlow:
    flow = _flow(REALTIME_URL, response_headers={"upgrade": "websocket"})
    addon.responseheaders(flow)  # the upgrade response passes through the HTTP hooks
    addon.response(flow)
    flow.websocket = WebSocketData()
    addon.websocket_start(flow)
    for event in [
        {"type": "session.created", "session": {"id": "sess_1", "model": "gpt-rt"}},
        {"type": "response.created", "response": {"id": "r1"}},
        {"type": "response.output_text.delta", "delta": "hi"},
        {"type": "response.done", "response": {"id": "r1", "status": "completed",
         "usage": {"input_tokens": 30, "output_tokens": 7,
                   "input_token_details": {"cached_tokens": 20}}}},
    ]:  # fmt: skip
        _message(flow, event)
        addon.websocket_message(flow)
    _message(flow, {"type": "response.create"}, from_client=True)
    addon.websocket_message(flow)
    flow.websocket.close_code = close_code
    flow.websocket.timestamp_end = flow.request.timestamp_start + 2
    addon.websocket_end(flow)
    return flow


def test_websocket_session_is_one_call_recorded_at_close(
    addon: CaptureAddon, sink: Sink
) -> None:
    flow = _realtime_session(addon, close_code=1000)

    [captured] = sink.calls
    call = captured.parsed
    assert call.status is CallStatus.OK
    assert (call.usage.input_tokens, call.usage.cache_read_tokens) == (10, 20)
    assert call.usage.output_tokens == 7
    assert (call.model, call.response_id) == ("gpt-rt", "sess_1")
    assert captured.first_content_at is not None
    assert captured.ended_at == flow.request.timestamp_start + 2
    assert sink.faults == []
    assert WEBSOCKET_KEY not in flow.metadata and METADATA_KEY not in flow.metadata


def test_websocket_messages_are_not_kept_on_the_flow(
    addon: CaptureAddon, sink: Sink
) -> None:
    flow = _realtime_session(addon, close_code=1000)

    assert flow.websocket is not None and flow.websocket.messages == []


def test_abnormal_close_mid_response_is_truncated(
    addon: CaptureAddon, sink: Sink
) -> None:
    flow = _flow(REALTIME_URL)
    flow.websocket = WebSocketData()
    addon.websocket_start(flow)
    _message(flow, {"type": "response.created", "response": {"id": "r1"}})
    addon.websocket_message(flow)
    flow.websocket.close_code = 1006
    addon.websocket_end(flow)

    [captured] = sink.calls
    assert captured.parsed.status is CallStatus.TRUNCATED


def test_websocket_hooks_survive_odd_messages(addon: CaptureAddon, sink: Sink) -> None:
    flow = _flow(REALTIME_URL)
    flow.websocket = WebSocketData()
    addon.websocket_start(flow)
    flow.websocket.messages.append(WebSocketMessage(Opcode.BINARY, False, b"\xff\x00"))
    addon.websocket_message(flow)
    flow.websocket.messages.append(WebSocketMessage(Opcode.TEXT, False, b"\xff{\r\n"))
    addon.websocket_message(flow)
    addon.websocket_message(flow)  # no message at all
    flow.websocket.close_code = None
    addon.websocket_end(flow)
    addon.websocket_end(flow)  # a second end records nothing more

    assert len(sink.calls) == 1 and sink.faults == []


def test_websocket_no_route_handles_is_left_alone(
    addon: CaptureAddon, sink: Sink
) -> None:
    flow = _flow("https://api.openai.com/v1/somewhere-else")
    flow.websocket = WebSocketData()
    addon.websocket_start(flow)
    _message(flow, {"type": "response.done"})
    addon.websocket_message(flow)
    addon.websocket_end(flow)

    assert sink.calls == [] and sink.faults == []


def test_claude_ai_conversation_is_recorded_and_other_paths_are_not(
    addon: CaptureAddon, sink: Sink
) -> None:
    other = _flow(f"{CLAUDE_AI}/title", method="POST", status=200)
    addon.responseheaders(other)
    addon.response(other)
    turn = _flow(
        f"{CLAUDE_AI}/completion",
        method="POST",
        status=200,
        request_body=b'{"prompt": "12345678"}',
        response_headers={"content-type": "text/event-stream"},
    )
    addon.responseheaders(turn)
    assert turn.response is not None and callable(turn.response.stream)
    turn.response.stream(b'data: {"type": "content_block_delta", "delta": ')
    turn.response.stream(b'{"type": "text_delta", "text": "abcd"}}\n\n')
    turn.response.stream(b'data: {"type": "message_stop"}\n\n')
    addon.response(turn)

    assert other.response is not None and other.response.stream is True
    [captured] = sink.calls
    call = captured.parsed
    assert (call.provider, call.api, call.status) == (
        "anthropic",
        Api.WEB_CHAT,
        CallStatus.OK,
    )
    assert (call.usage.input_tokens, call.usage.output_tokens) == (2, 1)
