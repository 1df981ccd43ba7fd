"""Many collectors shipping to one engine at once: counts must match, and how fast?

    .venv/bin/python benchmarks/delivery/fleet.py --collectors 50 --seconds 20

Starts `spendtap serve` (SQLite, in a temporary directory) as a child process, then
runs N simulated collectors in this process, each a thread with its own spool and
shipper (the real ``Spool`` and ``Shipper``). For ``--seconds`` each collector writes
usage events into its spool at ``--rate`` events per second while its shipper sends
them; then the writers stop and the shippers drain. A share of the collectors
(``--overlap``) also spool copies of another collector's events, as re-sends from a
restored backup would, so the engine must store each ``event_id`` once.

It checks that the engine stored exactly the distinct events sent (rows in its
database and calls in its report) and prints the ingest throughput: distinct events
stored per second from the first post to the last acknowledgement.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from spendtap.delivery.shipper import Shipper
from spendtap.delivery.spool import Spool
from spendtap.event import (
    CallStatus,
    CaptureSource,
    CostStatus,
    UsageEvent,
    UsageSource,
)

NAMESPACE = uuid.UUID("0b7a1c3e-5d2f-4e8a-9c61-3f0d2b7e9a44")
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class FleetResult:
    collectors: int
    seconds: float
    sent: int  # events spooled by all collectors, copies included
    distinct: int  # distinct event ids among them
    stored_rows: int  # rows in the engine's events table
    distinct_stored: int  # distinct event ids among those rows
    reported_calls: int  # calls in the engine's report totals (rollups)
    duplicates_answered: int  # events the engine answered as duplicates
    batches: int
    failures: int
    drain_s: float  # from the first write to the last acknowledgement
    events_per_s: float  # distinct events stored per second over drain_s

    @property
    def exact(self) -> bool:
        return (
            self.stored_rows
            == self.distinct_stored
            == self.distinct
            == (self.reported_calls)
        )


def synthetic_event(collector: int, n: int) -> dict[str, Any]:
    """A valid usage event, unique per (collector, n), with varied tokens."""
    started = T0 + timedelta(milliseconds=collector * 1_000_003 + n * 17)
    return UsageEvent(
        event_id=str(uuid.uuid5(NAMESPACE, f"{collector}:{n}")),
        capture_source=CaptureSource.PROXY,
        provider="anthropic",
        api="messages",
        model_requested="claude-haiku-4-5",
        model="claude-haiku-4-5-20251001",
        region=None,
        streaming=n % 2 == 0,
        status=CallStatus.OK,
        http_status=200,
        error_type=None,
        input_tokens=100 + n % 97,
        cache_read_tokens=n % 5,
        cache_write_5m_tokens=0,
        cache_write_1h_tokens=0,
        output_tokens=20 + n % 31,
        reasoning_tokens=None,
        web_search_requests=None,
        usage_source=UsageSource.PROVIDER,
        cost_usd=Decimal("0.000250"),
        cost_status=CostStatus.PRICED,
        price_ref="benchmark",
        started_at=started.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        ended_at=None,
        ttft_ms=None,
        duration_ms=400 + n % 300,
        request_id=f"req_bench_{collector}_{n}",
        response_id=f"msg_bench_{collector}_{n}",
        user=f"user{collector % 7}@acme.example",
        os_user=f"user{collector % 7}",
        device_id=f"device-{collector:03d}",
        hostname=f"laptop-{collector:03d}",
        agent="sdk-python",
        agent_version=None,
        process="python3",
        pid=1000 + collector,
        repo="github.com/acme/payments",
        branch="main",
        commit=None,
        ticket=None,
        session_id=None,
        auth_kind=None,
        credential_hint=None,
    ).to_json()


class SimulatedCollector(threading.Thread):
    """A spool and a shipper; the thread writes events at ``rate`` per second."""

    def __init__(
        self,
        index: int,
        workdir: Path,
        engine_url: str,
        rate: float,
        copies_of: int | None,
    ) -> None:
        super().__init__(name=f"collector-{index}", daemon=True)
        self.index = index
        self.rate = rate
        self.copies_of = copies_of
        self.spool = Spool(workdir / f"collector-{index:03d}" / "spool.sqlite3")
        self.shipper = Shipper(
            self.spool, engine_url, None, interval=0.1, max_backoff=2.0, timeout=30
        )
        self.sent_ids: set[str] = set()
        self.sent = 0
        self.stop_writing = threading.Event()

    def run(self) -> None:
        n = 0
        started = time.monotonic()
        while not self.stop_writing.is_set():
            due = int((time.monotonic() - started) * self.rate) + 1
            group = [synthetic_event(self.index, i) for i in range(n, due)]
            if self.copies_of is not None:  # every tenth event of another laptop too
                group += [
                    synthetic_event(self.copies_of, i)
                    for i in range(n, due)
                    if i % 10 == 0
                ]
            if group:
                self.spool.put_many(group)
                self.sent += len(group)
                self.sent_ids.update(e["event_id"] for e in group)
            n = due
            self.stop_writing.wait(0.05)


def run_fleet(
    engine_url: str,
    workdir: Path,
    collectors: int,
    seconds: float,
    rate: float,
    overlap: float,
) -> tuple[list[SimulatedCollector], float]:
    """Run the fleet; the collectors and the seconds from first write to drained."""
    copying = int(collectors * overlap)
    fleet = [
        SimulatedCollector(
            i, workdir, engine_url, rate, (i + 1) % collectors if i < copying else None
        )
        for i in range(collectors)
    ]
    started = time.monotonic()
    for member in fleet:
        member.shipper.start()
        member.start()
    time.sleep(seconds)
    for member in fleet:
        member.stop_writing.set()
    for member in fleet:
        member.join(10)
    while any(m.spool.depth() for m in fleet):
        time.sleep(0.05)
    drained = time.monotonic() - started
    for member in fleet:
        member.shipper.stop(5)
        member.spool.close()
    return fleet, drained


def measure(
    engine: EngineChild,
    workdir: Path,
    collectors: int,
    seconds: float,
    rate: float,
    overlap: float,
) -> FleetResult:
    fleet, drained = run_fleet(engine.url, workdir, collectors, seconds, rate, overlap)
    distinct = set().union(*(m.sent_ids for m in fleet))
    rows = engine.event_ids()
    stats = [m.shipper.stats() for m in fleet]
    return FleetResult(
        collectors=collectors,
        seconds=seconds,
        sent=sum(m.sent for m in fleet),
        distinct=len(distinct),
        stored_rows=len(rows),
        distinct_stored=len(set(rows) & distinct),
        reported_calls=engine.reported_calls(),
        duplicates_answered=sum(s.duplicates for s in stats),
        batches=sum(s.batches for s in stats),
        failures=sum(s.failures for s in stats),
        drain_s=round(drained, 2),
        events_per_s=round(len(rows) / drained, 1),
    )


class EngineChild:
    """`spendtap serve` on a free loopback port with a SQLite file in ``workdir``."""

    def __init__(self, workdir: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.db_path = workdir / "engine.sqlite3"
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        self._log = (workdir / "engine.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "spendtap.cli.main", "serve",
             "--listen", f"127.0.0.1:{self.port}", "--db", f"sqlite:///{self.db_path}"],
            stdout=self._log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError(f"the engine did not start; see {workdir / 'engine.log'}")

    def event_ids(self) -> list[str]:
        import sqlite3

        db = sqlite3.connect(f"{self.db_path.as_uri()}?mode=ro", uri=True)
        try:
            return [r[0] for r in db.execute("SELECT event_id FROM events")]
        finally:
            db.close()

    def reported_calls(self) -> int:
        answer = httpx.get(
            f"{self.url}/v1/report",
            params={"by": "provider", "since": "2000-01-01T00:00:00Z"},
            timeout=60,
        )
        answer.raise_for_status()
        return int(answer.json()["totals"]["calls"])

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(20)
        self._log.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--collectors", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=100.0, help="events/s each")
    parser.add_argument("--overlap", type=float, default=0.1)
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="spendtap-fleet-") as tmp:
        workdir = Path(tmp)
        engine = EngineChild(workdir)
        try:
            result = measure(
                engine, workdir, args.collectors, args.seconds, args.rate, args.overlap
            )
        finally:
            engine.stop()
    if args.json:
        print(json.dumps({**asdict(result), "exact": result.exact}))
    else:
        for name, value in asdict(result).items():
            print(f"{name:>20}: {value}")
        print(f"{'exact':>20}: {result.exact}")
    return 0 if result.exact else 1


if __name__ == "__main__":
    raise SystemExit(main())
