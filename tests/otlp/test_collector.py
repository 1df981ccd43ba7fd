"""The collector started with ``otlp_listen`` receives telemetry into its spool."""

from __future__ import annotations

import httpx

from spendtap.otlp.decode import PROTOBUF
from tests.conftest import CollectorFactory
from tests.otlp.conftest import fixture


def test_collector_with_otlp_listen_spools_agent_telemetry(
    make_collector: CollectorFactory,
) -> None:
    collector = make_collector({}, otlp_listen=("127.0.0.1", 0))
    assert collector.otlp is not None

    response = httpx.post(
        f"{collector.otlp.url}/v1/logs",
        content=fixture("claude_code_logs.pb"),
        headers={"content-type": PROTOBUF},
    )

    assert response.status_code == 200
    (queued,) = collector.spool.take(10)
    assert queued.event["request_id"] == "req_sim_1"
    assert queued.event["device_id"] == collector.pipeline.resolver.device.device_id
