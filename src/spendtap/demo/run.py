"""The main job: engine, collector, simulator and real clients, then the report."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from spendtap.capture.routing import UpstreamMap
from spendtap.cli.commands import client_environment
from spendtap.cli.report import fetch_report, render_table
from spendtap.collector.service import Collector, CollectorConfig
from spendtap.demo.claude_code import find_claude, run_claude
from spendtap.demo.workspace import make_workspace
from spendtap.engine.server import EngineServer
from spendtap.simulator.certs import make_test_pki
from spendtap.simulator.server import start_simulator

log = logging.getLogger(__name__)

PROVIDER_HOSTS = ("api.anthropic.com", "api.openai.com")
REPORT_DIMENSIONS = ["model", "provider", "agent", "user"]
ARRIVAL_TIMEOUT_S = 20.0


def run_demo(data_dir: Path | None, *, with_claude: bool = True) -> int:
    root = data_dir or Path(tempfile.mkdtemp(prefix="spendtap-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"spendtap demo: state in {root}", flush=True)

    pki = make_test_pki(root / "simulator-pki", list(PROVIDER_HOSTS))
    ledger = root / "simulator-ledger.jsonl"
    engine = EngineServer(f"sqlite:///{root / 'engine.sqlite3'}", "127.0.0.1", 0)
    with start_simulator(pki, ledger=ledger) as simulator:
        engine.start_in_thread()
        engine_url = engine.url
        routes = {host: ("127.0.0.1", simulator.port) for host in PROVIDER_HOSTS}
        collector = Collector(
            CollectorConfig(
                data_dir=root / "collector",
                listen_port=0,
                engine_url=engine.url,
                upstreams=UpstreamMap(routes),
                upstream_ca=pki.ca_cert,
            )
        )
        collector.start()
        try:
            _run_clients(root, client_environment(collector), with_claude)
            expected = _ledger_calls(ledger)
            report = _wait_for_calls(engine.url, expected)
        finally:
            collector.stop()
            engine.stop()

    print()
    print(render_table(report, REPORT_DIMENSIONS))
    print()
    print(f"{report['totals']['calls']} calls captured of {expected} made.")
    db_url = f"sqlite:///{root / 'engine.sqlite3'}"
    print(
        f"The engine ran at {engine_url} (dashboard at /, API spec at /openapi.json)"
        " and stopped with the demo."
    )
    print(f"Browse these numbers again: .venv/bin/spendtap serve --db {db_url}")
    print(
        "then open the dashboard at http://127.0.0.1:8878/, or run "
        "`.venv/bin/spendtap report --by agent,user`."
    )
    return 0 if report["totals"]["calls"] == expected else 1


def _run_clients(root: Path, proxy_env: dict[str, str], with_claude: bool) -> None:
    workspace = make_workspace(root / "workspace")
    env = {**os.environ, **proxy_env, "NO_PROXY": "", "no_proxy": ""}
    for sdk in ("anthropic", "openai"):
        print(f"running the official {sdk} SDK through the collector...", flush=True)
        done = subprocess.run(
            [sys.executable, "-m", "spendtap.demo.clients", sdk],
            cwd=workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            raise SystemExit(f"the {sdk} client failed (exit {done.returncode})")
    binary = find_claude() if with_claude else None
    if binary is None:
        print(
            "Claude Code CLI not installed: skipped (the README's set-up installs it)"
        )
        return
    print(
        f"running the Claude Code CLI ({binary.name}) through the collector...",
        flush=True,
    )
    done = run_claude(
        binary,
        "Say hello in five words.",
        workspace=workspace,
        home=root / "claude-home",
        proxy_env=proxy_env,
    )
    if done.returncode != 0:
        print(
            f"Claude Code exited {done.returncode}: {done.stderr[-500:]}",
            file=sys.stderr,
        )


def _ledger_calls(ledger: Path) -> int:
    """Billable calls the simulator answered: what the engine must show."""
    if not ledger.exists():
        return 0
    lines = [json.loads(line) for line in ledger.read_text().splitlines() if line]
    return sum(1 for line in lines if "count_tokens" not in line.get("path", ""))


def _wait_for_calls(engine_url: str, expected: int) -> dict[str, Any]:
    deadline = time.monotonic() + ARRIVAL_TIMEOUT_S
    while True:
        report = fetch_report(engine_url, REPORT_DIMENSIONS, "1d", None)
        if report["totals"]["calls"] >= expected or time.monotonic() > deadline:
            return report
        time.sleep(0.25)
