"""Bounds drop the oldest events and leave a drop record; records wait to be shipped."""

from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from spendtap.delivery.drops import DropReason, DropRecord, DropTally
from spendtap.delivery.spool import Spool, SpoolLimits
from spendtap.errors import SpoolError


class Clock:
    def __init__(self, now: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00Z
        self.now = now

    def __call__(self) -> float:
        return self.now


def event(n: int) -> dict[str, object]:
    return {"event_id": f"ev-{n:05d}", "n": n}


def test_count_bound_writes_one_record_spanning_the_dropped_events(
    tmp_path: Path,
) -> None:
    clock = Clock()
    spool = Spool(tmp_path / "s.sqlite3", limits=SpoolLimits(max_events=3), clock=clock)
    for n in range(3):
        spool.put(event(n))
        clock.now += 10
    spool.put_many([event(3), event(4)])  # 5 queued, bound 3: drops ev 0 and 1

    (record,) = spool.unshipped_drops(10)
    assert record.reason is DropReason.SPOOL_MAX_EVENTS
    assert record.count == 2
    assert (record.first_at, record.last_at) == (1_767_225_600.0, 1_767_225_610.0)
    assert [e.event_id for e in spool.take(10)] == ["ev-00002", "ev-00003", "ev-00004"]
    spool.close()


def test_days_offline_keep_everything_younger_than_the_age_bound(
    tmp_path: Path,
) -> None:
    clock = Clock()
    limits = SpoolLimits(max_age=timedelta(days=7))
    spool = Spool(tmp_path / "s.sqlite3", limits=limits, clock=clock)
    for day in range(10):  # one event an hour for ten days, no engine
        for hour in range(24):
            spool.put(event(day * 24 + hour))
            clock.now += 3600

    spool.enforce_limits()  # now = start + 240 h: before start + 72 h is too old

    assert spool.depth() == 240 - 72
    assert spool.take(1)[0].event_id == "ev-00072"
    assert spool.dropped_by_reason() == {"spool_max_age": 72}
    records = spool.unshipped_drops(100)
    assert sum(r.count for r in records) == 72
    assert all(r.reason is DropReason.SPOOL_MAX_AGE for r in records)
    spool.close()


def test_marking_records_shipped_keeps_them_for_the_totals(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite3")
    spool.record_drops(
        [
            DropRecord("d1", DropReason.QUEUE_FULL, 4, 10.0, 12.0),
            DropRecord("d2", DropReason.PARSE_FAILED, 1, 11.0, 11.0),
        ]
    )

    spool.mark_drops_shipped(["d1"])

    assert [r.drop_id for r in spool.unshipped_drops(10)] == ["d2"]
    assert spool.unshipped_drop_count() == 1
    assert spool.dropped_by_reason() == {"queue_full": 4, "parse_failed": 1}
    assert spool.stats().unshipped_drop_records == 1
    spool.close()


def test_recording_the_same_drop_id_twice_keeps_one(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite3")
    record = DropRecord("d1", DropReason.QUEUE_FULL, 4, 10.0, 12.0)
    spool.record_drops([record])
    spool.record_drops([record])
    assert spool.dropped_by_reason() == {"queue_full": 4}
    spool.close()


def test_a_version_1_spool_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    spool = Spool(path)
    spool.put(event(1))
    spool.close()
    db = sqlite3.connect(path)  # make it look like a schema 1 file
    db.execute("DROP TABLE drop_records")
    db.execute("PRAGMA user_version=1")
    db.close()

    upgraded = Spool(path)

    assert upgraded.depth() == 1
    assert upgraded.dropped_by_reason() == {}
    upgraded.close()


def test_read_only_view_sees_a_live_writer_and_cannot_write(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    writer = Spool(path)
    writer.put_many(event(n) for n in range(3))
    writer.record_drops([DropRecord("d1", DropReason.QUEUE_FULL, 2, 1.0, 2.0)])

    reader = Spool.open_readonly(path)
    stats = reader.stats()
    writer.put(event(3))

    assert (stats.depth, stats.dropped_by_reason) == (3, {"queue_full": 2})
    assert reader.depth() == 4
    with pytest.raises(SpoolError, match="readonly"):
        reader.put(event(9))
    reader.close()
    writer.close()


def test_read_only_view_of_a_missing_spool_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(SpoolError, match="no collector has run with this data"):
        Spool.open_readonly(tmp_path / "none.sqlite3")


def test_tally_sums_by_reason_and_survives_a_failed_hand_over() -> None:
    clock = Clock(100.0)
    tally = DropTally(clock)
    tally.add(DropReason.QUEUE_FULL)
    clock.now = 105.0
    tally.add(DropReason.QUEUE_FULL, 3)
    tally.add(DropReason.PARSE_FAILED)

    records = {r.reason: r for r in tally.drain()}
    assert tally.pending() == 0
    tally.restore(records.values())  # the spool refused them
    clock.now = 90.0
    tally.add(DropReason.QUEUE_FULL)

    again = {r.reason: r for r in tally.drain()}
    full = again[DropReason.QUEUE_FULL]
    assert (full.count, full.first_at, full.last_at) == (5, 90.0, 105.0)
    assert again[DropReason.PARSE_FAILED].count == 1
    assert tally.totals() == {DropReason.QUEUE_FULL: 5, DropReason.PARSE_FAILED: 1}


def test_tally_is_safe_from_many_threads() -> None:
    tally = DropTally()

    def hammer() -> None:
        for _ in range(1000):
            tally.add(DropReason.QUEUE_FULL)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    drained = 0
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        drained += sum(r.count for r in tally.drain())
    drained += sum(r.count for r in tally.drain())
    assert drained == 8000


def test_drop_record_json_is_the_contract_shape() -> None:
    record = DropRecord(
        "d-1", DropReason.SPOOL_MAX_BYTES, 7, 1_767_225_600.0, 1_767_225_601.5
    )
    assert record.to_json("dev-9") == {
        "drop_id": "d-1",
        "device_id": "dev-9",
        "count": 7,
        "reason": "spool_max_bytes",
        "first_at": "2026-01-01T00:00:00.000Z",
        "last_at": "2026-01-01T00:00:01.500Z",
    }
