"""HTTP/2 end to end (case T03): an h2 client, the collector, an h2 upstream.

The upstream streams server-sent events in DATA frames with pauses between them. The
first event must reach the client long before the upstream ends the stream, the
bytes must be the upstream's, and the call must still be parsed.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import httpx

from spendtap.collector.service import Collector
from spendtap.collector.trust import write_ca_bundle
from spendtap.simulator.certs import TestPKI
from tests.support.tls import trusting

PIECE_DELAY_S = 0.3
CHUNK_ID = "chatcmpl-h2stream0001"


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    chunk = {
        "id": CHUNK_ID,
        "object": "chat.completion.chunk",
        "created": 1765800000,
        "model": "gpt-4.1-mini-2025-04-14",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return f"data: {json.dumps(chunk)}\n\n".encode()


PIECES = [
    _chunk({"role": "assistant", "content": ""}),
    _chunk({"content": "Streams"}),
    _chunk({"content": " over h2"})[:25],  # one event split across two DATA frames
    _chunk({"content": " over h2"})[25:],
    _chunk({}, finish="stop"),
    _chunk(
        {},
        usage={
            "prompt_tokens": 1500,
            "completion_tokens": 9,
            "prompt_tokens_details": {"cached_tokens": 1280},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    ),
    b"data: [DONE]\n\n",
]
REQUEST = {
    "model": "gpt-4.1-mini",
    "stream": True,
    "stream_options": {"include_usage": True},
    "messages": [{"role": "user", "content": "hi"}],
}


class H2Upstream:
    """A TLS server that speaks only HTTP/2 and answers every request with PIECES."""

    def __init__(self, cert: Path, key: Path) -> None:
        self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ssl.load_cert_chain(cert, key)
        self._ssl.set_alpn_protocols(["h2"])
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0
        self.protocols: list[str | None] = []
        self.finished_at: list[float] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: asyncio.Server

    def __enter__(self) -> H2Upstream:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self._ssl)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    async def _shutdown(self) -> None:
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._track(asyncio.current_task())
        tls = writer.get_extra_info("ssl_object")
        self.protocols.append(tls.selected_alpn_protocol() if tls else None)
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        conn = h2.connection.H2Connection(config=config)
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        try:
            while data := await reader.read(65535):
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.DataReceived):
                        conn.acknowledge_received_data(
                            event.flow_controlled_length, event.stream_id
                        )
                    elif isinstance(event, h2.events.StreamEnded):
                        self._track(
                            asyncio.create_task(
                                self._respond(conn, writer, event.stream_id)
                            )
                        )
                writer.write(conn.data_to_send())
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    def _track(self, task: asyncio.Task[Any] | None) -> None:
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _respond(
        self,
        conn: h2.connection.H2Connection,
        writer: asyncio.StreamWriter,
        stream: int,
    ) -> None:
        headers = [
            (":status", "200"),
            ("content-type", "text/event-stream"),
            ("x-request-id", "req_h2_0001"),
        ]
        conn.send_headers(stream, headers)
        writer.write(conn.data_to_send())
        for piece in PIECES:
            await asyncio.sleep(PIECE_DELAY_S)
            conn.send_data(stream, piece)
            writer.write(conn.data_to_send())
            await writer.drain()
        conn.end_stream(stream)
        writer.write(conn.data_to_send())
        await writer.drain()
        self.finished_at.append(time.monotonic())


def _fetch(client: httpx.Client, url: str) -> tuple[bytes, list[float], str]:
    arrivals: list[float] = []
    body = b""
    headers = {"authorization": "Bearer sk-test-h2"}
    with client.stream("POST", url, json=REQUEST, headers=headers) as response:
        assert response.status_code == 200
        for chunk in response.iter_raw():
            arrivals.append(time.monotonic())
            body += chunk
        return body, arrivals, response.http_version


def _spooled(collector: Collector, timeout: float = 5.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    events: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not events:
        events = [item.event for item in collector.spool.take(100)]
        time.sleep(0.05)
    return events


def test_h2_stream_reaches_the_client_as_it_arrives_bytes_unchanged(
    pki: TestPKI, make_collector: Any
) -> None:
    with H2Upstream(pki.leaf_cert, pki.leaf_key) as upstream:
        verify = trusting(pki.ca_cert)
        with httpx.Client(http2=True, verify=verify, timeout=10) as direct:
            direct_body, _, _ = _fetch(
                direct, f"https://127.0.0.1:{upstream.port}/v1/chat/completions"
            )
        collector = make_collector({"api.openai.com": upstream.port})
        bundle = write_ca_bundle(collector.ca_cert, collector.config.data_dir)
        with httpx.Client(
            http2=True, proxy=collector.proxy_url, verify=trusting(bundle), timeout=10
        ) as client:
            body, arrivals, version = _fetch(
                client, "https://api.openai.com/v1/chat/completions"
            )
        finished = upstream.finished_at[-1]

    assert version == "HTTP/2"
    assert upstream.protocols == ["h2", "h2"]  # the collector spoke h2 upstream too
    assert body == direct_body == b"".join(PIECES)
    # The first event arrived while the upstream still had five pauses to go.
    assert finished - arrivals[0] > PIECE_DELAY_S * 4
    assert len(arrivals) >= 4  # not one lump at the end

    [event] = _spooled(collector)
    assert (event["provider"], event["api"], event["status"]) == (
        "openai",
        "chat_completions",
        "ok",
    )
    assert (
        event["input_tokens"],
        event["cache_read_tokens"],
        event["output_tokens"],
    ) == (1500 - 1280, 1280, 9)
    assert event["request_id"] == "req_h2_0001"
    assert event["ttft_ms"] is not None and event["ttft_ms"] < event["duration_ms"]
