"""OpenAI Realtime over WebSocket through the collector: messages relayed unchanged,
one call per session recorded when the socket closes (none for the 101 response)."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from spendtap.collector.service import Collector
from spendtap.collector.trust import write_ca_bundle
from spendtap.simulator.certs import TestPKI
from tests.support.tls import trusting

websockets = pytest.importorskip("websockets")
from websockets.asyncio.server import ServerConnection, serve  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

SESSION = {"id": "sess_WsCapture0001", "model": "gpt-realtime-2025-08-28"}
AUDIO = "QUJD" * 50_000  # a 200 kB audio delta, as Realtime sends them


def _done(response_id: str, inp: int, cached: int, out: int) -> dict[str, Any]:
    usage = {
        "total_tokens": inp + out,
        "input_tokens": inp,
        "output_tokens": out,
        "input_token_details": {"cached_tokens": cached, "audio_tokens": inp - cached},
        "output_token_details": {"audio_tokens": out},
    }
    response = {"id": response_id, "status": "completed", "usage": usage}
    return {"type": "response.done", "response": response}


def _response(
    response_id: str, inp: int, cached: int, out: int
) -> list[dict[str, Any]]:
    return [
        {"type": "response.created", "response": {"id": response_id}},
        {
            "type": "response.output_audio.delta",
            "response_id": response_id,
            "delta": AUDIO,
        },
        {"type": "response.output_audio_transcript.delta", "delta": "Hi"},
        _done(response_id, inp, cached, out),
    ]


class RealtimeUpstream:
    """A TLS WebSocket server that answers each client message with scripted events."""

    def __init__(self, cert: Path, key: Path, replies: list[list[dict[str, Any]]]):
        self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ssl.load_cert_chain(cert, key)
        self._replies = replies
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0
        self.sent: list[str] = []
        self.paths: list[str] = []

    def __enter__(self) -> RealtimeUpstream:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    async def _start(self) -> Any:
        server = await serve(
            self._handle, "127.0.0.1", 0, ssl=self._ssl, max_size=None, compression=None
        )
        self.port = next(iter(server.sockets)).getsockname()[1]
        return server

    async def _stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        self.paths.append(ws.request.path)
        await self._send(ws, {"type": "session.created", "session": SESSION})
        for reply in self._replies:
            await ws.recv()
            for event in reply:
                await self._send(ws, event)
        await ws.wait_closed()

    async def _send(self, ws: ServerConnection, event: dict[str, Any]) -> None:
        text = json.dumps(event)
        self.sent.append(text)
        await ws.send(text)


def _session(collector: Collector, port: int, path: str, turns: int) -> list[str]:
    """Talk to the upstream through the collector; the messages the client got."""
    bundle = write_ca_bundle(collector.ca_cert, collector.config.data_dir)
    received: list[str] = []
    with connect(
        f"wss://api.openai.com{path}",
        proxy=collector.proxy_url,
        ssl=trusting(bundle),
        additional_headers={"Authorization": "Bearer sk-test-realtime"},
        max_size=None,
        compression=None,
    ) as ws:
        received.append(str(ws.recv(timeout=5)))
        for _ in range(turns):
            ws.send(json.dumps({"type": "response.create"}))
            while True:
                received.append(str(ws.recv(timeout=5)))
                if json.loads(received[-1])["type"] == "response.done":
                    break
    return received


def _spooled(
    collector: Collector, wait: float = 5.0, settle: float = 0.5
) -> list[dict[str, Any]]:
    """The spooled events once the first arrived and nothing more came for a while
    (so a second record of the upgrade response would be seen)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and not collector.spool.take(1):
        time.sleep(0.05)
    time.sleep(settle)
    return [item.event for item in collector.spool.take(100)]


def test_realtime_session_is_relayed_unchanged_and_recorded_once(
    pki: TestPKI, make_collector: Any
) -> None:
    replies = [
        _response("resp_1", 1200, 1024, 300),
        _response("resp_2", 1500, 1152, 80),
    ]
    with RealtimeUpstream(pki.leaf_cert, pki.leaf_key, replies) as upstream:
        collector = make_collector({"api.openai.com": upstream.port})
        received = _session(
            collector, upstream.port, "/v1/realtime?model=gpt-realtime", turns=2
        )
        events = _spooled(collector)

    assert received == upstream.sent
    assert upstream.paths == ["/v1/realtime?model=gpt-realtime"]
    [event] = events
    assert (event["provider"], event["status"], event["streaming"]) == (
        "openai",
        "ok",
        True,
    )
    assert (event["model_requested"], event["model"]) == (
        "gpt-realtime",
        "gpt-realtime-2025-08-28",
    )
    assert (
        event["input_tokens"],
        event["cache_read_tokens"],
        event["output_tokens"],
    ) == ((1200 - 1024) + (1500 - 1152), 1024 + 1152, 300 + 80)
    assert event["http_status"] == 101
    assert event["response_id"] == "sess_WsCapture0001"
    assert event["ttft_ms"] is not None and event["ttft_ms"] <= event["duration_ms"]


def test_socket_closed_while_a_response_is_open_is_truncated(
    pki: TestPKI, make_collector: Any
) -> None:
    replies = [_response("resp_1", 10, 0, 5)[:2]]  # created and a delta, never done
    with RealtimeUpstream(pki.leaf_cert, pki.leaf_key, replies) as upstream:
        collector = make_collector({"api.openai.com": upstream.port})
        bundle = write_ca_bundle(collector.ca_cert, collector.config.data_dir)
        with connect(
            "wss://api.openai.com/v1/realtime?model=gpt-realtime",
            proxy=collector.proxy_url,
            ssl=trusting(bundle),
            max_size=None,
        ) as ws:
            ws.recv(timeout=5)
            ws.send(json.dumps({"type": "response.create"}))
            ws.recv(timeout=5)
            ws.recv(timeout=5)
        events = _spooled(collector)

    [event] = events
    assert event["status"] == "truncated"
    assert event["input_tokens"] is None and event["usage_source"] == "absent"


def test_a_websocket_no_route_handles_is_relayed_and_not_recorded(
    pki: TestPKI, make_collector: Any
) -> None:
    replies = [_response("resp_1", 10, 0, 5)]
    with RealtimeUpstream(pki.leaf_cert, pki.leaf_key, replies) as upstream:
        collector = make_collector({"api.openai.com": upstream.port})
        received = _session(collector, upstream.port, "/v1/other-socket", turns=1)
        events = _spooled(collector, wait=1.0, settle=0.0)

    assert received == upstream.sent
    assert events == []
