"""The engine is away: down for a whole load, or killed and restarted mid-ingest."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

from spendtap.collector.service import ShipperSettings
from spendtap.delivery.shipper import Shipper
from spendtap.delivery.spool import Spool
from spendtap.simulator.server import RunningSimulator
from tests.faults.conftest import SdkLoad, at_most, wait_until
from tests.support.processes import EngineProcess, free_port

CALLS = 40
BACKLOG = 15_000


def test_engine_down_for_the_whole_load_then_everything_arrives_once(
    tmp_path: Path, simulator: RunningSimulator, make_collector: Any
) -> None:
    engine = EngineProcess(tmp_path / "engine.sqlite3", free_port(), tmp_path / "e.log")
    collector = make_collector(
        {"api.anthropic.com": simulator.port},
        engine_url=engine.url,  # nothing listens there yet
        shipper=ShipperSettings(max_backoff=1.0),
    )
    loads = [
        SdkLoad(collector.proxy_url, collector.ca_cert, threads=2, streaming=True),
        SdkLoad(collector.proxy_url, collector.ca_cert, threads=2, streaming=False),
    ]
    for load in loads:
        load.start()
    wait_until(lambda: sum(x.count() for x in loads) >= CALLS, 60, f"{CALLS} calls")
    for load in loads:
        load.stop()
    completed = [i for load in loads for i in load.completed]
    wait_until(lambda: collector.spool.depth() == len(completed), 10, "all spooled")
    assert collector.shipper.stats().shipped == 0

    engine.start()
    try:
        wait_until(lambda: collector.spool.depth() == 0, 30, "the backlog shipped")
        stored = engine.response_ids()
        reported = engine.reported_calls()
    finally:
        engine.stop()

    assert Counter(stored) == Counter(completed)  # all of them, each once
    assert reported == len(completed)
    assert collector.shipper.stats().failures >= 1


def test_engine_killed_and_restarted_mid_ingest_stores_each_event_once(
    tmp_path: Path, engine: EngineProcess, fleet: ModuleType
) -> None:
    spool = Spool(tmp_path / "spool.sqlite3")
    sent = [fleet.synthetic_event(7, n) for n in range(BACKLOG)]
    spool.put_many(sent)
    shipper = Shipper(
        spool, engine.url, None, interval=0.01, batch_size=250, max_backoff=0.3
    )
    shipper.start()
    try:
        for fraction in (0.2, 0.5):  # kill twice, each time while batches flow
            left = BACKLOG * (1 - fraction)
            wait_until(at_most(spool.depth, left), 60, f"{fraction:.0%} shipped")
            engine.kill9()
            time.sleep(0.5)  # batches fail meanwhile
            engine.start()
        wait_until(lambda: spool.depth() == 0, 90, "the backlog shipped")
    finally:
        shipper.stop(2)
        spool.close()

    rows = engine.event_ids()
    assert len(rows) == len(set(rows)) == BACKLOG
    assert set(rows) == {e["event_id"] for e in sent}
    assert engine.reported_calls() == BACKLOG  # rollups counted each once too
    assert shipper.stats().failures >= 2


def test_engine_restarted_while_new_events_keep_coming(
    tmp_path: Path, engine: EngineProcess, fleet: ModuleType
) -> None:
    spool = Spool(tmp_path / "spool.sqlite3")
    shipper = Shipper(spool, engine.url, None, interval=0.02, max_backoff=0.3)
    shipper.start()
    written: list[str] = []
    stop = threading.Event()

    def write() -> None:
        n = 0
        while not stop.is_set():
            group = [fleet.synthetic_event(3, n + i) for i in range(20)]
            spool.put_many(group)
            written.extend(e["event_id"] for e in group)
            n += 20
            stop.wait(0.02)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    time.sleep(1.0)
    engine.stop()  # a deploy: SIGTERM, then the new version starts
    time.sleep(1.0)
    engine.start()
    time.sleep(1.0)
    stop.set()
    writer.join(5)
    wait_until(lambda: spool.depth() == 0, 30, "the backlog shipped")
    shipper.stop(2)
    spool.close()

    rows = engine.event_ids()
    assert Counter(rows) == Counter(written)
