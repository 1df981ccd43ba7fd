"""`spendtap collect` as a process: ships with the enrolled device token by itself."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from spendtap.delivery.credentials import DeviceCredentials, save_credentials
from spendtap.simulator.certs import TestPKI
from tests.collector.test_spool_barrier import PIECES, REQUEST, upstream_for
from tests.support.fake_engine import FakeEngine
from tests.support.tls import trusting


def start_collect(args: list[str]) -> tuple[subprocess.Popen[str], str, str]:
    """Start `spendtap collect`; its proxy URL and metrics URL once it listens."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    child = subprocess.Popen(
        [sys.executable, "-m", "spendtap.cli.main", "collect", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    first = child.stdout.readline()
    second = child.stdout.readline()
    proxy = re.search(r"listening on (\S+);", first)
    metrics = re.search(r"metrics at (\S+)", second)
    assert proxy and metrics, (first, second)
    return child, proxy.group(1), metrics.group(1)


def test_collect_without_engine_flags_ships_to_the_enrolled_engine(
    tmp_path: Path, pki: TestPKI
) -> None:
    data = tmp_path / "data"
    with FakeEngine(admin_token="admin") as engine, upstream_for(pki) as upstream:
        engine._enroll({"code": engine.issue(), "hostname": "h", "os_user": "u"})
        (device,) = engine.devices.values()
        save_credentials(
            data,
            DeviceCredentials(engine.url, device.device_id, device.token, None, ""),
        )
        child, proxy, metrics_url = start_collect(
            [
                "--data-dir", str(data),
                "--listen", "127.0.0.1:0",
                "--metrics-listen", "127.0.0.1:0",
                "--upstream", f"api.anthropic.com=127.0.0.1:{upstream.port}",
                "--upstream-ca", str(pki.ca_cert),
            ]
        )  # fmt: skip
        try:
            with httpx.Client(
                proxy=proxy, verify=trusting(data / "ca-cert.pem")
            ) as client:
                answer = client.post(
                    "https://api.anthropic.com/v1/messages",
                    json=REQUEST,
                    headers={"x-api-key": "sk-ant-test"},
                )
            deadline = time.monotonic() + 5
            while not engine.stored_ids() and time.monotonic() < deadline:
                time.sleep(0.05)
            scraped = httpx.get(metrics_url, timeout=5).text
        finally:
            child.send_signal(signal.SIGTERM)
            returncode = child.wait(15)
            assert child.stdout is not None
            child.stdout.close()

    assert answer.content == b"".join(PIECES)
    (post,) = [p for p in engine.posts if p.status == 200]
    assert post.headers["authorization"] == f"Bearer {device.token}"
    assert "spendtap_collector_calls_total 1.0" in scraped
    assert returncode == 0
    # The bundle the README points SSL_CERT_FILE at: public roots plus our CA.
    bundle = (data / "ca-bundle.pem").read_text()
    assert (data / "ca-cert.pem").read_text().strip() in bundle
    assert bundle.count("BEGIN CERTIFICATE") > 1
