"""Three capture paths, one truth: the Claude Code CLI runs through the collector's
proxy while exporting its telemetry to the collector's OTLP receiver, and its
transcript is imported afterwards. The engine stores each call once."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from spendtap.cli.commands import client_environment
from spendtap.demo.claude_code import claude_home, find_claude
from spendtap.simulator import read_ledger
from tests.agentlogs.conftest import import_to_engine

CLAUDE = find_claude()


def cross_source_dedup(engine_url: str) -> bool:
    """Whether the engine links one call seen by two sources (issue 6)."""
    response = httpx.post(f"{engine_url}/v1/events", json={"events": []}, timeout=10)
    return response.status_code == 200 and "cross_source_duplicates" in response.json()


@pytest.mark.skipif(CLAUDE is None, reason="the Claude Code CLI is not installed")
def test_proxy_transcript_and_telemetry_count_each_call_once(
    simulator: Any, engine: Any, make_collector: Any, tmp_path: Path
) -> None:
    if not cross_source_dedup(engine.url):
        pytest.skip("the engine does not de-duplicate across capture sources yet")
    assert CLAUDE is not None
    collector = make_collector(
        {"api.anthropic.com": simulator.port},
        engine_url=engine.url,
        otlp_listen=("127.0.0.1", 0),
    )
    workspace = tmp_path / "work"
    workspace.mkdir()
    home = claude_home(tmp_path / "claude-home", workspace)
    proxy = client_environment(collector)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "ANTHROPIC_API_KEY": "sk-ant-simulator",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "HTTPS_PROXY": proxy["HTTPS_PROXY"],
        "NODE_EXTRA_CA_CERTS": proxy["NODE_EXTRA_CA_CERTS"],
        "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.otlp.url,
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
    projects = home / ".claude" / "projects"
    imported = import_to_engine(projects, engine.url, tmp_path / "import-data")
    assert imported == 0

    served = [e for e in read_ledger(tmp_path / "ledger.jsonl") if e.api == "messages"]
    assert served
    # Every call reaches the engine three times; two of them are linked duplicates.
    deadline = time.monotonic() + 20
    while cross_source_total(engine.url) < 2 * len(served):
        assert time.monotonic() < deadline, (
            cross_source_total(engine.url),
            engine.rows(),
        )
        time.sleep(0.1)

    assert engine.report("model")["totals"]["calls"] == len(served)
    stored = engine.rows()
    assert sorted(r["request_id"] for r in stored) == sorted(
        c.request_id for c in served
    )


def cross_source_total(engine_url: str) -> float:
    """``spendtap_events_cross_source_duplicate_total`` from the engine's /metrics."""
    text = httpx.get(f"{engine_url}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith("spendtap_events_cross_source_duplicate_total"):
            return float(line.split()[-1])
    return 0.0
