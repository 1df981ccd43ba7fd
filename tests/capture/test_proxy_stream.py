"""The proxy tees streams: bytes unchanged, nothing held back, usage still parsed."""

from __future__ import annotations

import json
import time
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from spendtap.collector.service import Collector
from spendtap.collector.trust import write_ca_bundle
from spendtap.simulator.certs import TestPKI, make_test_pki
from tests.support.scripted_upstream import Script, ScriptedUpstream
from tests.support.tls import trusting

PIECE_DELAY_S = 0.3

SSE_EVENTS = [
    (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_tee_1",
                "type": "message",
                "role": "assistant",
                "model": "claude-haiku-4-5-20251001",
                "content": [],
                "usage": {
                    "input_tokens": 12,
                    "cache_read_input_tokens": 300,
                    "cache_creation_input_tokens": 0,
                    "output_tokens": 1,
                },
            },
        },
    ),
    (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "text", "text": ""},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "Hello"},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": " there"},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 7},
        },
    ),
    ("message_stop", {"type": "message_stop"}),
]


def sse_pieces() -> list[bytes]:
    """One piece per event, except that the third event is split across two reads."""
    events = [f"event: {n}\ndata: {json.dumps(d)}\n\n".encode() for n, d in SSE_EVENTS]
    third = events[2]
    return [events[0], events[1], third[:17], third[17:], *events[3:]]


def gzip_pieces(pieces: list[bytes]) -> list[bytes]:
    compressor = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    out = [compressor.compress(p) + compressor.flush(zlib.Z_SYNC_FLUSH) for p in pieces]
    out[-1] += compressor.flush()
    return out


def script_for(pieces: list[bytes], encoding: str | None) -> Script:
    headers = [("content-type", "text/event-stream"), ("request-id", "req_tee_1")]
    if encoding:
        headers.append(("content-encoding", encoding))
    return Script(headers=headers, pieces=[(PIECE_DELAY_S, p) for p in pieces])


REQUEST = {
    "model": "claude-haiku-4-5",
    "max_tokens": 50,
    "stream": True,
    "messages": [{"role": "user", "content": "hi"}],
}


def fetch(
    client: httpx.Client, url: str, **kw: Any
) -> tuple[bytes, list[tuple[float, int]]]:
    """The raw body, and (arrival time, bytes so far) after each read; the first
    entry is (request start, 0)."""
    arrivals: list[tuple[float, int]] = [(time.monotonic(), 0)]
    body = b""
    headers = {
        "x-api-key": "sk-ant-test",
        "accept-encoding": "gzip",
        **kw.pop("headers", {}),
    }
    with client.stream("POST", url, json=REQUEST, headers=headers, **kw) as response:
        assert response.status_code == 200
        for chunk in response.iter_raw():
            body += chunk
            arrivals.append((time.monotonic(), len(body)))
    return body, arrivals


def spooled(
    collector: Collector, count: int, timeout: float = 5.0
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = [item.event for item in collector.spool.take(100)]
        if len(events) >= count:
            return events
        time.sleep(0.05)
    raise AssertionError(f"expected {count} spooled events, found {len(events)}")


@pytest.mark.parametrize("encoding", [None, "gzip"])
def test_stream_bytes_identical_and_first_event_early(
    encoding: str | None, pki: TestPKI, make_collector: Any
) -> None:
    pieces = sse_pieces()
    wire = gzip_pieces(pieces) if encoding else pieces
    with ScriptedUpstream(
        pki.leaf_cert, pki.leaf_key, script_for(wire, encoding)
    ) as up:
        with httpx.Client(verify=trusting(pki.ca_cert), timeout=10) as direct:
            direct_body, direct_arrivals = fetch(
                direct,
                f"https://127.0.0.1:{up.port}/v1/messages",
                headers={"host": "api.anthropic.com"},
            )
        collector = make_collector({"api.anthropic.com": up.port})
        bundle = write_ca_bundle(collector.ca_cert, collector.config.data_dir)
        with httpx.Client(
            proxy=collector.proxy_url, verify=trusting(bundle), timeout=10
        ) as c:
            proxied_body, arrivals = fetch(c, "https://api.anthropic.com/v1/messages")
        finished = up.finished_at
        sent_at = up.sent_at[-len(wire) :]  # the proxied request's pieces

    assert proxied_body == direct_body == b"".join(wire)
    assert finished is not None
    # The first event reached the client while the upstream still had >1 s to send.
    assert finished - arrivals[1][0] > PIECE_DELAY_S * 4
    # Case T01: every piece, not just the first, reached the client when it was sent.
    sent_so_far = 0
    for piece, sent in zip(wire, sent_at, strict=True):
        sent_so_far += len(piece)
        arrived = next(t for t, total in arrivals if total >= sent_so_far)
        assert arrived - sent < 0.25, f"a piece was held {arrived - sent:.3f} s"
    # Case T02: time to first bytes through the collector is the direct path's.
    direct_first = direct_arrivals[1][0] - direct_arrivals[0][0]
    proxied_first = arrivals[1][0] - arrivals[0][0]
    assert proxied_first < direct_first + 0.1

    [event] = spooled(collector, 1)
    assert (
        event["input_tokens"],
        event["cache_read_tokens"],
        event["output_tokens"],
    ) == (12, 300, 7)
    assert event["status"] == "ok" and event["streaming"] is True
    assert event["request_id"] == "req_tee_1"
    assert event["ttft_ms"] is not None and event["ttft_ms"] < event["duration_ms"]


def test_non_ai_tls_host_presents_its_own_certificate(
    tmp_path: Path, pki: TestPKI, make_collector: Any
) -> None:
    origin_pki = make_test_pki(tmp_path / "origin", ["localhost", "127.0.0.1"])
    script = Script(
        headers=[("content-type", "text/plain")], pieces=[(0, b"origin says hi")]
    )
    with ScriptedUpstream(origin_pki.leaf_cert, origin_pki.leaf_key, script) as origin:
        collector = make_collector({"api.anthropic.com": 9})
        # Trust ONLY the origin's CA: an intercepted connection would fail verification.
        with httpx.Client(
            proxy=collector.proxy_url, verify=trusting(origin_pki.ca_cert)
        ) as c:
            response = c.post(
                f"https://localhost:{origin.port}/v1/messages", content=b"{}"
            )
    assert response.text == "origin says hi"
    time.sleep(0.2)
    assert collector.spool.take(10) == []


def test_egress_to_unmapped_host_is_refused(pki: TestPKI, make_collector: Any) -> None:
    collector = make_collector({"api.anthropic.com": 9})
    bundle = write_ca_bundle(collector.ca_cert, collector.config.data_dir)
    with (
        httpx.Client(
            proxy=collector.proxy_url, verify=trusting(bundle), timeout=5
        ) as c,
        pytest.raises(httpx.HTTPError),
    ):
        c.get("https://unmapped.example.invalid/").raise_for_status()
    assert collector.router.refused >= 1


def test_silent_stream_is_not_reset_after_two_minutes(
    pki: TestPKI, make_collector: Any
) -> None:
    """Case T05: an intermediary's idle timeout once cut streams silent for >120 s."""
    pieces = sse_pieces()
    script = Script(
        headers=[("content-type", "text/event-stream")],
        pieces=[(0, pieces[0]), (125.0, b"".join(pieces[1:]))],
    )
    with ScriptedUpstream(pki.leaf_cert, pki.leaf_key, script) as up:
        collector = make_collector({"api.anthropic.com": up.port})
        bundle = write_ca_bundle(collector.ca_cert, collector.config.data_dir)
        with httpx.Client(
            proxy=collector.proxy_url, verify=trusting(bundle), timeout=200
        ) as c:
            body, _ = fetch(c, "https://api.anthropic.com/v1/messages")
    assert body == b"".join(pieces)
    [event] = spooled(collector, 1)
    assert event["status"] == "ok" and event["output_tokens"] == 7
