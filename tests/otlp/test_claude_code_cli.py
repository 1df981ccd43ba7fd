"""The real Claude Code CLI exporting its telemetry to the receiver, against the
provider simulator: the api_request it sends is the call the simulator served."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from spendtap.delivery.spool import Spool
from spendtap.demo.claude_code import claude_home, find_claude
from spendtap.otlp import OtlpReceiver
from spendtap.simulator import TestPKI, read_ledger, start_simulator

CLAUDE = find_claude()

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(CLAUDE is None, reason="the Claude Code CLI is not installed"),
]


@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json"])
def test_api_request_telemetry_maps_to_the_call_the_simulator_served(
    protocol: str, receiver: OtlpReceiver, spool: Spool, pki: TestPKI, tmp_path: Path
) -> None:
    assert CLAUDE is not None
    workspace = tmp_path / "work"
    workspace.mkdir()
    home = claude_home(tmp_path / "claude-home", workspace)
    ledger = tmp_path / "ledger.jsonl"
    with start_simulator(pki, ledger=ledger) as simulator:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "ANTHROPIC_BASE_URL": simulator.url,
            "NODE_EXTRA_CA_CERTS": str(pki.ca_cert),
            "ANTHROPIC_API_KEY": "sk-ant-simulator",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
            "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
            "OTEL_LOGS_EXPORTER": "otlp",
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_LOGS_EXPORT_INTERVAL": "500",
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        }
        done = subprocess.run(
            [str(CLAUDE), "-p", "Say hi."],
            cwd=workspace,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr[-2000:]

    served = [e for e in read_ledger(ledger) if e.api == "messages"]
    deadline = time.monotonic() + 10
    while receiver.totals().spooled < len(served) and time.monotonic() < deadline:
        time.sleep(0.05)
    events = {e.event["request_id"]: e.event for e in spool.take(100)}
    session_id = next((home / ".claude" / "projects").rglob("*.jsonl")).stem

    assert served and set(events) == {e.request_id for e in served}
    for call in served:
        event, usage = events[call.request_id], call.usage or {}
        assert event["capture_source"] == "otlp"
        assert event["model"] == call.model
        assert event["input_tokens"] == usage["input_tokens"]
        assert event["output_tokens"] == usage["output_tokens"]
        assert event["cache_read_tokens"] == usage.get("cache_read_input_tokens", 0)
        assert event["cache_write_5m_tokens"] == usage.get(
            "cache_creation_input_tokens", 0
        )
        assert event["session_id"] == session_id
        assert event["agent"] == "claude-code"
        assert event["agent_cost_usd"] is not None and event["agent_cost_usd"] > 0
        assert event["cost_status"] == "priced"
    metrics = receiver.totals().metrics
    assert metrics.tokens[("claude-code", "input")] == sum(
        (c.usage or {})["input_tokens"] for c in served
    )
