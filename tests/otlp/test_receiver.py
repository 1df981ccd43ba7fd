"""The OTLP/HTTP server: protobuf and JSON in, usage events in the spool."""

from __future__ import annotations

import gzip
from decimal import Decimal

import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceResponse,
)

from spendtap.delivery.spool import Spool
from spendtap.otlp import OtlpReceiver
from spendtap.otlp import receiver as receiver_module
from tests.otlp.conftest import JSON, PROTOBUF, fixture


def post(
    receiver: OtlpReceiver, path: str, body: bytes, **headers: str
) -> httpx.Response:
    return httpx.post(
        f"{receiver.url}{path}", content=body, headers=headers, timeout=10
    )


def test_protobuf_logs_become_a_spooled_usage_event(
    receiver: OtlpReceiver, spool: Spool
) -> None:
    response = post(
        receiver,
        "/v1/logs",
        fixture("claude_code_logs.pb"),
        **{"content-type": PROTOBUF},
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == PROTOBUF
    ExportLogsServiceResponse.FromString(response.content)  # an OTLP answer
    (queued,) = spool.take(10)
    event = queued.event
    assert (event["capture_source"], event["request_id"]) == ("otlp", "req_sim_1")
    assert (
        event["input_tokens"],
        event["cache_write_5m_tokens"],
        event["output_tokens"],
    ) == (
        1539,
        17382,
        6,
    )
    assert event["agent_cost_usd"] == pytest.approx(0.1164825)
    assert event["cost_status"] == "priced"
    assert event["duration_ms"] == 76


def test_json_and_gzip_are_taken_and_a_resent_batch_adds_nothing(
    receiver: OtlpReceiver, spool: Spool
) -> None:
    body = gzip.compress(fixture("claude_code_logs.json"))
    headers = {"content-type": JSON, "content-encoding": "gzip"}

    first = post(receiver, "/v1/logs", body, **headers)
    second = post(receiver, "/v1/logs", body, **headers)

    assert (first.status_code, first.content) == (200, b"{}")
    assert second.status_code == 200
    assert spool.depth() == 1
    totals = receiver.totals()
    assert (totals.calls, totals.spooled) == (2, 1)
    assert totals.agent_cost_usd == Decimal("0.11645125") * 2


def test_metrics_are_kept_as_totals_to_check_events_against(
    receiver: OtlpReceiver,
) -> None:
    post(
        receiver, "/v1/logs", fixture("claude_code_logs.json"), **{"content-type": JSON}
    )
    post(
        receiver,
        "/v1/metrics",
        fixture("claude_code_metrics.json"),
        **{"content-type": JSON},
    )

    totals = receiver.totals()
    assert (
        totals.event_tokens["input_tokens"]
        == totals.metrics.tokens[("claude-code", "input")]
    )
    assert (
        totals.event_tokens["output_tokens"]
        == totals.metrics.tokens[("claude-code", "output")]
    )
    assert totals.agent_cost_usd == totals.metrics.cost_usd["claude-code"]


@pytest.mark.parametrize(
    ("method", "path", "body", "content_type", "status"),
    [
        ("POST", "/v1/logs", b"\xff\x00 not protobuf", PROTOBUF, 400),
        ("POST", "/v1/logs", b"{not json", JSON, 400),
        ("POST", "/v1/logs", b"{}", "text/plain", 415),
        ("POST", "/v1/traces", b"", PROTOBUF, 404),
        ("GET", "/v1/logs", b"", PROTOBUF, 405),
    ],
)
def test_bad_requests_get_an_otlp_http_status(
    receiver: OtlpReceiver,
    spool: Spool,
    method: str,
    path: str,
    body: bytes,
    content_type: str,
    status: int,
) -> None:
    response = httpx.request(
        method,
        f"{receiver.url}{path}",
        content=body,
        headers={"content-type": content_type},
    )

    assert response.status_code == status
    assert spool.depth() == 0


def test_a_body_over_the_limit_is_refused(
    receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(receiver_module, "MAX_BODY_BYTES", 100)

    response = post(receiver, "/v1/logs", b"x" * 1000, **{"content-type": PROTOBUF})

    assert response.status_code == 413


def test_a_busy_port_is_a_config_error(receiver: OtlpReceiver, spool: Spool) -> None:
    from spendtap.errors import ConfigError

    other = OtlpReceiver(spool, receiver._factory.context, port=receiver.port)
    with pytest.raises(ConfigError, match="--otlp-listen"):
        other.start()
