"""Requests reach the provider byte-identical (case M02: a proxy dropped cache_control)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from spendtap.collector.trust import write_ca_bundle
from spendtap.simulator.certs import TestPKI
from tests.support.scripted_upstream import Script, ScriptedUpstream
from tests.support.tls import trusting

ARN = (
    "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6"
)
PATH = "/model/" + ARN.replace(":", "%3A").replace("/", "%2F") + "/converse"
# Spaced oddly on purpose: a proxy that re-serialised JSON would change these bytes
# and break the request's SigV4 signature.
BODY = (
    b'{"messages": [{"role": "user", "content": [{"text": "hi"},'
    b'  {"cache_control": {"type": "ephemeral"}}]}],\n "inferenceConfig":{"maxTokens":5}}'
)
HEADERS = {
    "content-type": "application/json",
    "x-amz-date": "20261204T120000Z",
    "x-amz-content-sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261204/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=abc123",
}
CONVERSE_OK = {
    "output": {"message": {"role": "assistant", "content": [{"text": "hello"}]}},
    "stopReason": "end_turn",
    "usage": {"inputTokens": 10, "outputTokens": 2, "totalTokens": 12},
}


def test_bedrock_arn_request_reaches_the_upstream_byte_identical(
    pki: TestPKI, make_collector: Any
) -> None:
    host = "bedrock-runtime.us-east-1.amazonaws.com"
    script = Script(
        headers=[("content-type", "application/json")],
        pieces=[(0, json.dumps(CONVERSE_OK).encode())],
    )
    with ScriptedUpstream(pki.leaf_cert, pki.leaf_key, script) as upstream:
        collector = make_collector({host: upstream.port})
        bundle = write_ca_bundle(collector.ca_cert, collector.config.data_dir)
        with httpx.Client(proxy=collector.proxy_url, verify=trusting(bundle)) as c:
            response = c.post(f"https://{host}{PATH}", content=BODY, headers=HEADERS)
    assert response.status_code == 200

    [received] = upstream.received
    request_line, *header_lines = received.head.decode().split("\r\n")
    assert request_line == f"POST {PATH} HTTP/1.1"
    got = dict(
        (name.lower(), value.strip())
        for name, _, value in (line.partition(":") for line in header_lines if line)
    )
    for name, value in HEADERS.items():
        assert got[name] == value
    assert received.body == BODY
