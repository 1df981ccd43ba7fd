"""`spendtap serve` and `spendtap collect` as child processes a test can kill -9.

Both bind fixed loopback ports chosen up front, so a restart comes back at the same
address and clients (and shippers) find it again.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

START_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clean_env() -> dict[str, str]:
    """This environment without proxy variables (children talk to loopback only)."""
    return {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


class Child:
    """A spendtap sub-command run as a child; its output goes to ``log_path``."""

    def __init__(self, args: list[str], log_path: Path) -> None:
        self.args = args
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._offset = 0  # where this run's output starts in the log

    def spawn(self) -> None:
        self._log = self.log_path.open("ab")
        self._offset = self._log.tell()
        env = _clean_env()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "spendtap.cli.main", *self.args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def kill9(self) -> None:
        """SIGKILL, as a crash or an OOM kill would: no clean-up runs."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self._close_log()

    def stop(self) -> int | None:
        """SIGTERM and wait; the exit status (None if it was not running)."""
        if self.process is None or self.process.poll() is not None:
            self._close_log()
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(5)
        self._close_log()
        return code

    def output(self) -> str:
        """Everything every run wrote."""
        return self.log_path.read_text(errors="replace")

    def this_run(self) -> str:
        """What the current run wrote."""
        with self.log_path.open("rb") as log:
            log.seek(self._offset)
            return log.read().decode(errors="replace")

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def _check_alive(self, what: str) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"{what} exited early:\n{self.output()[-3000:]}")


class EngineProcess(Child):
    """`spendtap serve` on ``127.0.0.1:port`` with a SQLite file."""

    def __init__(self, db_path: Path, port: int, log_path: Path) -> None:
        self.db_path = db_path
        self.port = port
        super().__init__(
            ["serve", "--listen", f"127.0.0.1:{port}", "--db", f"sqlite:///{db_path}"],
            log_path,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.spawn()
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            self._check_alive("the engine")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"the engine did not start:\n{self.output()}")
            time.sleep(0.05)

    def event_ids(self) -> list[str]:
        """Every stored event_id (one per stored row), read from the database."""
        return [str(row[0]) for row in self._query("SELECT event_id FROM events")]

    def response_ids(self) -> list[str | None]:
        rows = self._query("SELECT response_id FROM events")
        return [row[0] if isinstance(row[0], str) else None for row in rows]

    def reported_calls(self) -> int:
        """Calls in the report's totals, from the rollups (a separate count)."""
        response = httpx.get(
            f"{self.url}/v1/report",
            params={"by": "provider", "since": "2000-01-01T00:00:00Z"},
            timeout=30,
        )
        response.raise_for_status()
        return int(response.json()["totals"]["calls"])

    def _query(self, sql: str) -> list[tuple[object, ...]]:
        db = sqlite3.connect(f"{self.db_path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()


class CollectorProcess(Child):
    """`spendtap collect` on ``127.0.0.1:port`` with its own data dir."""

    def __init__(self, data_dir: Path, port: int, log_path: Path, *extra: str) -> None:
        self.data_dir = data_dir
        self.port = port
        super().__init__(
            [
                "collect",
                "--listen", f"127.0.0.1:{port}",
                "--data-dir", str(data_dir),
                *extra,
            ],
            log_path,
        )  # fmt: skip

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ca_cert(self) -> Path:
        return self.data_dir / "ca-cert.pem"

    def start(self) -> None:
        self.spawn()
        deadline = time.monotonic() + START_TIMEOUT_S
        while "collector listening on" not in self.this_run():
            self._check_alive("the collector")
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"the collector did not start:\n{self.output()}")
            time.sleep(0.05)
