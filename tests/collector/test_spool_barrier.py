"""A streamed AI response ends for the client only once its event is in the spool."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from spendtap.collector.service import Collector
from spendtap.errors import SpoolError
from spendtap.simulator.certs import TestPKI
from tests.support.scripted_upstream import Script, ScriptedUpstream
from tests.support.tls import trusting

EVENTS = [
    (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_barrier_1",
                "type": "message",
                "role": "assistant",
                "model": "claude-haiku-4-5-20251001",
                "content": [],
                "usage": {"input_tokens": 12, "output_tokens": 1},
            },
        },
    ),
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
PIECES = [f"event: {n}\ndata: {json.dumps(d)}\n\n".encode() for n, d in EVENTS]
REQUEST = {
    "model": "claude-haiku-4-5",
    "max_tokens": 50,
    "stream": True,
    "messages": [{"role": "user", "content": "hi"}],
}


class Fetch(threading.Thread):
    """Streams one response in the background; notes bytes and when it ended."""

    def __init__(self, collector: Collector) -> None:
        super().__init__(daemon=True)
        self.collector = collector
        self.body = b""
        self.ended_at: float | None = None

    def run(self) -> None:
        with (
            httpx.Client(
                proxy=self.collector.proxy_url, verify=trusting(self.collector.ca_cert)
            ) as client,
            client.stream(
                "POST",
                "https://api.anthropic.com/v1/messages",
                json=REQUEST,
                headers={"x-api-key": "sk-ant-test"},
            ) as response,
        ):
            for chunk in response.iter_raw():
                self.body += chunk
        self.ended_at = time.monotonic()


def gate_spool(collector: Collector, before: Callable[[], object]) -> None:
    """Run ``before`` ahead of each spool write of the collector's pipeline."""
    real = collector.spool.put_many

    def put_many(events: Any) -> int:
        before()
        return real(events)

    collector.spool.put_many = put_many  # type: ignore[method-assign]


def upstream_for(pki: TestPKI) -> ScriptedUpstream:
    headers = [("content-type", "text/event-stream")]
    return ScriptedUpstream(
        pki.leaf_cert,
        pki.leaf_key,
        Script(headers=headers, pieces=[(0.01, p) for p in PIECES]),
    )


def test_the_stream_ends_only_after_its_event_is_spooled(
    pki: TestPKI, make_collector: Any
) -> None:
    gate = threading.Event()
    with upstream_for(pki) as upstream:
        collector = make_collector(
            {"api.anthropic.com": upstream.port}, spool_barrier_s=10
        )
        gate_spool(collector, lambda: gate.wait(10))
        fetch = Fetch(collector)
        fetch.start()

        deadline = time.monotonic() + 5
        while len(fetch.body) < len(b"".join(PIECES)) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # the upstream has finished; the client must still wait
        held = fetch.ended_at is None
        released_at = time.monotonic()
        gate.set()
        fetch.join(5)

    assert fetch.body == b"".join(PIECES)  # every byte arrived before the release
    assert held
    assert fetch.ended_at is not None and fetch.ended_at >= released_at
    assert collector.spool.depth() == 1
    assert collector.barrier.timeouts == 0


def test_a_call_the_spool_cannot_take_is_released_at_once(
    pki: TestPKI, make_collector: Any
) -> None:
    def refuse() -> None:
        raise SpoolError("spool x: cannot queue events: database or disk is full")

    with upstream_for(pki) as upstream:
        collector = make_collector(
            {"api.anthropic.com": upstream.port}, spool_barrier_s=10
        )
        gate_spool(collector, refuse)
        started = time.monotonic()
        fetch = Fetch(collector)
        fetch.run()

    assert fetch.body == b"".join(PIECES)
    assert fetch.ended_at is not None and fetch.ended_at - started < 3
    assert collector.pipeline.counters.dropped == 1


def test_the_barrier_gives_up_after_its_timeout(
    pki: TestPKI, make_collector: Any
) -> None:
    gate = threading.Event()
    with upstream_for(pki) as upstream:
        collector = make_collector(
            {"api.anthropic.com": upstream.port}, spool_barrier_s=0.3
        )
        gate_spool(collector, lambda: gate.wait(10))
        fetch = Fetch(collector)
        fetch.start()
        fetch.join(5)
        gate.set()

    assert fetch.ended_at is not None and fetch.body == b"".join(PIECES)
    assert collector.barrier.timeouts == 1
