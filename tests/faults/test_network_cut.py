"""The network between collector and engine drops, stalls and loses replies."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from types import ModuleType

from spendtap.delivery.shipper import Shipper
from spendtap.delivery.spool import Spool
from tests.faults.conftest import wait_until
from tests.support.processes import EngineProcess
from tests.support.tcp_proxy import Mode, TcpProxy

#: (mode, seconds): what the link does, in order, while events keep arriving.
SCHEDULE = [
    (Mode.PASS, 0.8),
    (Mode.DROP, 1.2),  # connections reset, new ones refused
    (Mode.PASS, 0.8),
    (Mode.STALL, 1.5),  # bytes stop both ways; the shipper times out
    (Mode.PASS, 0.8),
    (Mode.BLACKHOLE, 1.5),  # batches reach the engine, the answers never return
    (Mode.PASS, 0.5),
]


def test_drops_stalls_and_lost_replies_lose_and_repeat_nothing(
    tmp_path: Path, engine: EngineProcess, fleet: ModuleType
) -> None:
    spool = Spool(tmp_path / "spool.sqlite3")
    written: list[str] = []
    stop = threading.Event()

    def write() -> None:  # about 400 events a second, as a busy team would
        n = 0
        while not stop.is_set():
            group = [fleet.synthetic_event(11, n + i) for i in range(20)]
            spool.put_many(group)
            written.extend(e["event_id"] for e in group)
            n += 20
            stop.wait(0.05)

    with TcpProxy(("127.0.0.1", engine.port)) as link:
        shipper = Shipper(
            spool,
            f"http://127.0.0.1:{link.port}",
            None,
            interval=0.05,
            batch_size=100,
            max_backoff=0.3,
            timeout=0.8,
        )
        shipper.start()
        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        for mode, seconds in SCHEDULE:
            link.mode = mode
            time.sleep(seconds)
        stop.set()
        writer.join(5)
        wait_until(lambda: spool.depth() == 0, 30, "the backlog shipped")
        shipper.stop(2)
    spool.close()

    rows = engine.event_ids()
    stats = shipper.stats()
    assert Counter(rows) == Counter(written)  # every event, once
    assert engine.reported_calls() == len(written)
    assert stats.failures >= 3  # each fault was felt
    assert stats.duplicates >= 1  # lost replies were re-sent, and deduplicated
    assert link.connections >= 3
