"""`spendtap status` reads a data dir's spool and shipper state, live or not."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from spendtap.cli.main import main
from spendtap.cli.status import render_health
from spendtap.delivery.drops import DropReason, DropRecord
from spendtap.delivery.health import read_health
from spendtap.delivery.lockfile import DataDirLock
from spendtap.delivery.shipper import Shipper
from spendtap.delivery.spool import Spool
from spendtap.delivery.state import STATE_FILE
from tests.support.fake_engine import FakeEngine

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def event(n: int) -> dict[str, object]:
    return {"event_id": f"ev-{n:05d}", "pad": "x" * 80}


def test_status_of_a_data_dir_with_a_backlog_drops_and_dead_letters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spool = Spool(tmp_path / "spool.sqlite3", clock=lambda: T0)
    spool.put_many(event(n) for n in range(2))
    with FakeEngine() as engine:
        shipper = Shipper(spool, engine.url, None, state_path=tmp_path / STATE_FILE)
        shipper.start()
        deadline = time.monotonic() + 5
        while spool.depth() and time.monotonic() < deadline:
            time.sleep(0.02)
        shipper.stop(1)
    spool.put_many(event(n) for n in range(10, 14))
    spool.bury([spool.take(1)[0].seq], "HTTP 422: refused")
    spool.record_drops(
        [
            DropRecord("d1", DropReason.QUEUE_FULL, 2, T0, T0),
            DropRecord("d2", DropReason.SPOOL_MAX_AGE, 5, T0, T0),
        ]
    )
    spool.mark_drops_shipped(["d1"])
    spool.close()

    code = main(["status", "--data-dir", str(tmp_path), "--json"])
    report = json.loads(capsys.readouterr().out)

    assert code == 0
    assert report["collector"] == {"running": False, "pid": None}
    assert report["spool"]["depth"] == 3
    assert report["spool"]["oldest_unsent_at"] == "2026-01-01T00:00:00.000Z"
    assert report["spool"]["dead_letters"] == 1
    assert report["drops"] == {
        "total": 7,
        "by_reason": {"queue_full": 2, "spool_max_age": 5},
        "unshipped_records": 1,
    }
    shipper_state = report["shipper"]
    assert shipper_state["engine_url"] == engine.url
    assert shipper_state["running"] is False
    assert shipper_state["shipped_events"] == 2
    assert shipper_state["last_success_at"] is not None


def test_status_text_names_each_figure(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite3", clock=lambda: T0)
    spool.put_many(event(n) for n in range(12))
    spool.record_drops([DropRecord("d1", DropReason.QUEUE_FULL, 2, T0, T0)])
    spool.close()
    now = datetime.fromtimestamp(T0 + 185, UTC)

    text = render_health(read_health(tmp_path), now)

    lines = dict(line.split(":", 1) for line in text.splitlines())
    assert lines["collector"].strip() == "not running"
    assert lines["spool"].strip().startswith("12 events (")
    assert "oldest spooled 2026-01-01T00:00:00.000Z (3m ago)" in lines["spool"]
    assert lines["last ship"].strip() == "never"
    assert lines["drops"].strip() == "2 calls (queue_full 2); 1 record not yet shipped"
    assert lines["dead letters"].strip() == "0"


def test_status_sees_a_running_collector_and_its_pid(tmp_path: Path) -> None:
    Spool(tmp_path / "spool.sqlite3").close()
    lock = DataDirLock(tmp_path)
    lock.acquire()
    try:
        running = read_health(tmp_path).collector
    finally:
        lock.release()
    stopped = read_health(tmp_path).collector

    assert running.running and running.pid == os.getpid()
    assert not stopped.running


def test_status_without_a_spool_exits_1_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["status", "--data-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1
    assert "no collector has run with this data directory" in out
