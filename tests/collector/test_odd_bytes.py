"""Bytes that are not UTF-8 in headers cost nothing: the call is still recorded and
the collector keeps recording later calls (it once killed the pipeline thread)."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from spendtap.collector.trust import write_ca_bundle
from spendtap.simulator.certs import TestPKI
from tests.support.scripted_upstream import Script, ScriptedUpstream
from tests.support.tls import trusting

MESSAGE = {
    "id": "msg_odd",
    "type": "message",
    "model": "claude-haiku-4-5-20251001",
    "content": [{"type": "text", "text": "ok"}],
    "usage": {"input_tokens": 5, "output_tokens": 2},
}


def test_non_utf8_header_bytes_do_not_stop_the_pipeline(
    pki: TestPKI, make_collector: Any
) -> None:
    script = Script(
        headers=[("content-type", "application/json"), ("request-id", "req_caf\xe9")],
        pieces=[(0, json.dumps(MESSAGE).encode())],
    )
    with ScriptedUpstream(pki.leaf_cert, pki.leaf_key, script) as upstream:
        collector = make_collector({"api.anthropic.com": upstream.port})
        bundle = write_ca_bundle(collector.ca_cert, collector.config.data_dir)
        odd = {
            b"user-agent": b"claude-cli/1.0.\xe9",
            b"x-claude-code-session-id": b"s\xff",
        }
        with httpx.Client(proxy=collector.proxy_url, verify=trusting(bundle)) as c:
            for headers in (odd, {}, {}):
                c.post(
                    "https://api.anthropic.com/v1/messages",
                    json={"model": "claude-haiku-4-5", "max_tokens": 5, "messages": []},
                    headers=headers,
                ).raise_for_status()

    deadline = time.monotonic() + 5
    while len(events := [e.event for e in collector.spool.take(10)]) < 3:
        assert time.monotonic() < deadline, f"only {len(events)} of 3 calls recorded"
        time.sleep(0.05)
    assert collector.pipeline.alive
    assert [e["output_tokens"] for e in events] == [2, 2, 2]
    json.dumps(events).encode()  # every string in them is valid UTF-8
