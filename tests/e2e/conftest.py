"""End-to-end fixtures: simulator, engine and collector on loopback, wired together."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from spendtap.cli.commands import client_environment
from spendtap.collector.service import Collector
from spendtap.engine.server import EngineServer
from spendtap.simulator.certs import TestPKI
from spendtap.simulator.server import RunningSimulator, start_simulator

pytestmark = pytest.mark.e2e


@pytest.fixture
def simulator(pki: TestPKI, tmp_path: Path) -> Iterator[RunningSimulator]:
    with start_simulator(pki, ledger=tmp_path / "ledger.jsonl") as sim:
        yield sim


@dataclass
class Engine:
    server: EngineServer
    db_path: Path

    @property
    def url(self) -> str:
        return self.server.url

    def report(self, by: str) -> dict[str, Any]:
        since = "2000-01-01T00:00:00Z"
        response = httpx.get(f"{self.url}/v1/report", params={"by": by, "since": since})
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def rows(self, where: str = "1=1") -> list[dict[str, Any]]:
        with sqlite3.connect(self.db_path) as db:
            db.row_factory = sqlite3.Row
            return [dict(r) for r in db.execute(f"SELECT * FROM events WHERE {where}")]

    def wait_for_calls(self, count: int, timeout: float) -> float:
        """Seconds until the report shows ``count`` calls; fails after ``timeout``."""
        start = time.monotonic()
        while (calls := self.report("provider")["totals"]["calls"]) < count:
            if time.monotonic() - start > timeout:
                raise AssertionError(
                    f"{calls} of {count} calls visible after {timeout}s"
                )
            time.sleep(0.05)
        return time.monotonic() - start


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    db_path = tmp_path / "engine.sqlite3"
    server = EngineServer(f"sqlite:///{db_path}", "127.0.0.1", 0)
    server.start_in_thread()
    yield Engine(server, db_path)
    server.stop()


@pytest.fixture
def wired(
    simulator: RunningSimulator, engine: Engine, make_collector: Any
) -> tuple[Collector, Engine, dict[str, str]]:
    """A collector routing both provider hosts to the simulator, shipping to the engine."""
    collector = make_collector(
        {"api.anthropic.com": simulator.port, "api.openai.com": simulator.port},
        engine_url=engine.url,
    )
    env = {
        **os.environ,
        **client_environment(collector),
        "NO_PROXY": "",
        "no_proxy": "",
    }
    return collector, engine, env
