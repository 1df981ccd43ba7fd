"""A real full disk under the collector: traffic flows, losses are counted, it recovers.

The collector runs in its own mount namespace with its data dir on a small tmpfs
(``unshare -m``, which needs root or CAP_SYS_ADMIN; the test is skipped without).
The test fills that tmpfs through ``/proc/PID/root`` until the kernel says ENOSPC.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from spendtap.simulator.certs import TestPKI
from tests.collector.test_spool_barrier import PIECES, REQUEST, upstream_for
from tests.faults.conftest import wait_until
from tests.support.fake_engine import FakeEngine
from tests.support.processes import free_port
from tests.support.tls import trusting

TMPFS_SIZE = "16m"


def can_mount_tmpfs(tmp_path: Path) -> bool:
    if shutil.which("unshare") is None or not sys.platform.startswith("linux"):
        return False
    target = tmp_path / "probe"
    target.mkdir()
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=1m tmpfs {target}"],
        capture_output=True,
    )
    return probe.returncode == 0


class NamespacedCollector:
    """`spendtap collect` with its data dir on a private tmpfs."""

    def __init__(self, data: Path, port: int, log: Path, *args: str) -> None:
        data.mkdir()
        command = " ".join(
            [
                f"mount -t tmpfs -o size={TMPFS_SIZE},mode=0700 tmpfs {data} &&",
                f"exec {sys.executable} -m spendtap.cli.main collect",
                f"--listen 127.0.0.1:{port} --data-dir {data}",
                *args,
            ]
        )
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        self.log = log
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            ["unshare", "-m", "sh", "-c", command],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.proxy_url = f"http://127.0.0.1:{port}"
        self.inside = Path(f"/proc/{self.process.pid}/root") / data.relative_to("/")

    def wait_started(self) -> None:
        wait_until(
            lambda: "collector listening on" in self.log.read_text(),
            30,
            "the collector",
        )

    def fill(self) -> Path:
        """Write zeros into the tmpfs until it is full; the filler file."""
        filler = self.inside / "filler"
        with filler.open("wb") as handle:
            block = b"\0" * 65536
            try:
                while True:
                    handle.write(block)
                    handle.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
        return filler

    def stop(self) -> int:
        self.process.terminate()
        code = self.process.wait(20)
        self._log.close()
        return code


@pytest.fixture
def fake_engine() -> Iterator[FakeEngine]:
    with FakeEngine() as engine:
        yield engine


def call(proxy_url: str, ca_cert: Path) -> bytes:
    with httpx.Client(proxy=proxy_url, verify=trusting(ca_cert), timeout=10) as client:
        return client.post(
            "https://api.anthropic.com/v1/messages",
            json=REQUEST,
            headers={"x-api-key": "sk-ant-test"},
        ).content


def test_a_full_disk_keeps_traffic_flowing_and_counts_what_it_cost(
    tmp_path: Path, pki: TestPKI, fake_engine: FakeEngine
) -> None:
    if not can_mount_tmpfs(tmp_path):
        pytest.skip("needs `unshare -m` and tmpfs mounts (root or CAP_SYS_ADMIN)")
    with upstream_for(pki) as upstream:
        collector = NamespacedCollector(
            tmp_path / "data",
            free_port(),
            tmp_path / "collector.log",
            f"--engine {fake_engine.url}",
            f"--upstream api.anthropic.com=127.0.0.1:{upstream.port}",
            f"--upstream-ca {pki.ca_cert}",
        )
        try:
            collector.wait_started()
            ca = tmp_path / "ca-cert.pem"  # a copy outside: the tmpfs fills up
            shutil.copyfile(collector.inside / "ca-cert.pem", ca)
            before = [call(collector.proxy_url, ca) for _ in range(3)]
            wait_until(lambda: len(set(fake_engine.stored_ids())) == 3, 10, "shipping")

            filler = collector.fill()
            during = [call(collector.proxy_url, ca) for _ in range(8)]
            time.sleep(0.5)
            log_while_full = collector.log.read_text()

            filler.unlink()  # space is back
            after = [call(collector.proxy_url, ca) for _ in range(3)]
            wait_until(
                lambda: (
                    sum(d["count"] for d in fake_engine.stored_drops())
                    + len(set(fake_engine.stored_ids()))
                    == 14
                ),
                20,
                "every call as an event or a drop",
            )
        finally:
            code = collector.stop()

    assert all(body == b"".join(PIECES) for body in before + during + after)
    assert "disk holding it is full" in log_while_full
    assert "proxy=forwarding" in log_while_full
    drops = fake_engine.stored_drops()
    assert drops and {d["reason"] for d in drops} == {"spool_unwritable"}
    dropped = sum(d["count"] for d in drops)
    assert 1 <= dropped <= 8
    assert len(set(fake_engine.stored_ids())) == 14 - dropped
    assert code == 0
