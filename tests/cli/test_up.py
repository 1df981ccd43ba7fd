"""`spendtap up`: collector and engine in one command, printing the client environment."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from spendtap.simulator.certs import TestPKI
from spendtap.simulator.server import RunningSimulator, start_simulator


@pytest.fixture
def simulator(pki: TestPKI) -> Iterator[RunningSimulator]:
    with start_simulator(pki) as sim:
        yield sim


def read_until(
    proc: subprocess.Popen[str], marker: str, timeout: float = 30
) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if marker in line:
            return lines
    raise AssertionError(f"{marker!r} not printed; got {lines}")


def test_up_prints_environment_that_routes_a_real_sdk_call(
    tmp_path: Path, pki: TestPKI, simulator: RunningSimulator
) -> None:
    cmd = [
        sys.executable,
        "-m",
        "spendtap",
        "up",
        "--data-dir",
        str(tmp_path / "data"),
        "--listen",
        "127.0.0.1:0",
        "--engine-listen",
        "127.0.0.1:0",
        "--upstream",
        f"api.anthropic.com=127.0.0.1:{simulator.port}",
        "--upstream-ca",
        str(pki.ca_cert),
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        lines = read_until(proc, "spendtap report")
        exports = dict(re.findall(r"export (\w+)=(\S+)", "\n".join(lines)))
        assert set(exports) >= {"HTTPS_PROXY", "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE"}
        engine_url = re.search(r"engine:\s+(\S+)", "\n".join(lines)).group(1)  # type: ignore[union-attr]

        env = {**os.environ, **exports, "NO_PROXY": "", "no_proxy": ""}
        code = (
            "import anthropic, json; c = anthropic.Anthropic(api_key='k', max_retries=0);"
            "m = c.messages.create(model='claude-haiku-4-5', max_tokens=20,"
            " messages=[{'role': 'user', 'content': 'hi'}]); print(m.usage.output_tokens)"
        )
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        output_tokens = int(done.stdout)

        deadline = time.monotonic() + 5
        while True:
            report = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "spendtap",
                    "report",
                    "--engine",
                    engine_url,
                    "--by",
                    "provider,agent",
                    "--json",
                ],
                capture_output=True,
                text=True,
            )
            data = json.loads(report.stdout)
            if data["totals"]["calls"] == 1 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        [row] = data["rows"]
        assert (row["provider"], row["agent"], row["calls"]) == (
            "anthropic",
            "sdk-python",
            1,
        )
        assert row["output_tokens"] == output_tokens
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)
        assert proc.stdout is not None
        proc.stdout.close()
    assert proc.returncode == 0
