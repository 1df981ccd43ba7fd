"""A parser fault costs a record, never a request (DESIGN.md invariant 1)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from spendtap.capture.routing import UpstreamMap
from spendtap.collector.service import Collector, CollectorConfig
from spendtap.collector.trust import write_ca_bundle
from spendtap.event import Api
from spendtap.providers.base import ParsedCall, RequestInfo, ResponseHead, Route
from spendtap.providers.registry import Registry
from spendtap.simulator.certs import TestPKI
from tests.support.scripted_upstream import Script, ScriptedUpstream
from tests.support.tls import trusting


class ExplodingReader:
    content_started = False

    def feed(self, data: bytes) -> None:
        raise ValueError("parser bug")

    def finish(self, *, complete: bool) -> ParsedCall:
        raise AssertionError("not reached after a fault")


def exploding(request: RequestInfo, head: ResponseHead) -> ExplodingReader:
    return ExplodingReader()


BOOM = Route(
    name="boom",
    provider="anthropic",
    api=Api.MESSAGES,
    path=lambda p: p == "/v1/messages",
    reader=exploding,
    hosts=frozenset({"api.anthropic.com"}),
)


def test_parser_fault_is_counted_and_the_client_gets_every_byte(
    tmp_path: Path, pki: TestPKI
) -> None:
    body = [b"data: one\n\n", b"data: two\n\n"]
    script = Script(
        headers=[("content-type", "text/event-stream")],
        pieces=[(0.05, p) for p in body],
    )
    with ScriptedUpstream(pki.leaf_cert, pki.leaf_key, script) as up:
        collector = Collector(
            CollectorConfig(
                data_dir=tmp_path / "c",
                listen_port=0,
                upstream_ca=pki.ca_cert,
                upstreams=UpstreamMap({"api.anthropic.com": ("127.0.0.1", up.port)}),
            )
        )
        collector.addon.registry = Registry([BOOM])
        collector.start()
        try:
            bundle = write_ca_bundle(collector.ca_cert, collector.config.data_dir)
            with httpx.Client(proxy=collector.proxy_url, verify=trusting(bundle)) as c:
                response = c.post("https://api.anthropic.com/v1/messages", json={})
            deadline = time.monotonic() + 5
            while (
                collector.pipeline.counters.faults == 0 and time.monotonic() < deadline
            ):
                time.sleep(0.05)
        finally:
            collector.stop()
    assert response.status_code == 200
    assert response.content == b"".join(body)
    assert collector.pipeline.counters.faults == 1
    assert collector.pipeline.counters.spooled == 0
