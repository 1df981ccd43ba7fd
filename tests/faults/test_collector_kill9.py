"""`spendtap collect` killed with SIGKILL under a load of real SDK calls, restarted.

Every call a client saw complete must be in the engine exactly once. The calls are
streamed, as agents make them: the collector holds the end of a streamed response
until its event is committed (collector/durable.py), so "complete at the client"
implies "durable". A call cut by the kill fails at its client and is not counted
(the engine may still hold it when it was spooled before the cut).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

from spendtap.simulator.certs import TestPKI
from spendtap.simulator.ledger import read_ledger
from spendtap.simulator.server import RunningSimulator
from tests.faults.conftest import SdkLoad, at_least, wait_until
from tests.support.processes import CollectorProcess, EngineProcess, free_port

KILLS = 3
CALLS_BETWEEN_KILLS = 15


def test_kill9_mid_load_loses_and_repeats_no_completed_call(
    tmp_path: Path, pki: TestPKI, engine: EngineProcess, simulator: RunningSimulator
) -> None:
    collector = CollectorProcess(
        tmp_path / "data",
        free_port(),
        tmp_path / "collector.log",
        "--engine", engine.url,
        "--upstream", f"api.anthropic.com=127.0.0.1:{simulator.port}",
        "--upstream-ca", str(pki.ca_cert),
    )  # fmt: skip
    collector.start()
    try:
        completed, failures = run_load_with_kills(collector)
        wait_until(
            lambda: set(completed) <= set(engine.response_ids()),
            30,
            "every completed call in the engine",
        )
    finally:
        code = collector.stop()  # SIGTERM: flushes and exits cleanly
    assert code == 0

    stored = engine.response_ids()
    served = {e.response_id for e in read_ledger(tmp_path / "ledger.jsonl")}
    repeated = {rid: n for rid, n in Counter(stored).items() if n > 1}
    assert repeated == {}  # each call stored once
    assert set(completed) <= set(stored)  # no completed call lost
    assert set(stored) <= served  # nothing invented
    assert len(completed) == len(set(completed)) >= (KILLS + 1) * CALLS_BETWEEN_KILLS
    assert failures >= 1  # the kills really cut calls
    assert engine.reported_calls() == len(stored)


def run_load_with_kills(collector: CollectorProcess) -> tuple[list[str], int]:
    """SDK calls through the collector, killed KILLS times; completed ids, failures."""
    load = SdkLoad(collector.proxy_url, collector.ca_cert, threads=4).start()
    rng = random.Random(2026)
    try:
        for kill in range(1, KILLS + 1):
            wanted = kill * CALLS_BETWEEN_KILLS
            wait_until(at_least(load.count, wanted), 60, f"{wanted} completed calls")
            time.sleep(rng.uniform(0, 0.15))  # land anywhere inside a call
            collector.kill9()
            collector.start()
        target = load.count() + CALLS_BETWEEN_KILLS
        wait_until(at_least(load.count, target), 60, "calls after the last restart")
    finally:
        load.stop()
    return list(load.completed), load.failures
