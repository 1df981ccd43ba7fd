"""The real Claude Code CLI against the simulator (no proxy): ``claude -p "hi"``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from spendtap.demo.claude_code import find_claude
from spendtap.simulator import TestPKI, read_ledger, start_simulator

#: Where set-up installs it (it looked in a folder that never existed, and skipped).
CLAUDE = find_claude()
CLI_TIMEOUT_S = 120


@pytest.mark.e2e
@pytest.mark.skipif(CLAUDE is None, reason="Claude Code CLI not installed")
def test_claude_code_print_mode_completes_and_is_recorded(
    pki: TestPKI, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    home = tmp_path / "home"
    home.mkdir()
    with start_simulator(pki, ledger=ledger) as sim:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "ANTHROPIC_BASE_URL": sim.url,
            "NODE_EXTRA_CA_CERTS": str(pki.ca_cert),
            "ANTHROPIC_API_KEY": "sk-ant-simulator",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        }
        result = subprocess.run(
            [str(CLAUDE), "-p", "hi"],
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
        )

    assert result.returncode == 0, result.stderr
    assert "Simulated answer" in result.stdout
    calls = [e for e in read_ledger(ledger) if e.api == "messages"]
    assert calls, "Claude Code made no call the simulator recorded"
    assert all(e.status == "ok" and e.streaming for e in calls)
    assert calls[0].path == "/v1/messages?beta=true"
    usage = calls[0].usage
    assert usage is not None and usage["cache_creation_input_tokens"] > 0
