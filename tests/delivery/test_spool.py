from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from spendtap.delivery.spool import Spool, SpoolLimits
from spendtap.errors import InputError, SpoolError


class Clock:
    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def event(n: int, **extra: object) -> dict[str, object]:
    return {"event_id": f"ev-{n:05d}", "provider": "anthropic", "n": n, **extra}


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    s = Spool.in_dir(tmp_path / "data")
    yield s
    s.close()


def test_put_take_ack_round_trip(spool: Spool) -> None:
    spool.put(event(1))
    spool.put(event(2))

    taken = spool.take(10)

    assert [t.event_id for t in taken] == ["ev-00001", "ev-00002"]
    assert taken[0].event == {"event_id": "ev-00001", "provider": "anthropic", "n": 1}
    assert spool.depth() == 2  # take does not remove
    spool.ack([taken[0].seq])
    assert [t.event_id for t in spool.take(10)] == ["ev-00002"]
    spool.ack([taken[1].seq])
    assert spool.depth() == 0
    assert spool.take(10) == []


def test_spool_file_lives_in_the_data_dir_in_wal_mode(tmp_path: Path) -> None:
    spool = Spool.in_dir(tmp_path / "data")
    spool.put(event(1))
    spool.close()

    path = tmp_path / "data" / "spool.sqlite3"
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 1
    db.close()
    assert path.stat().st_mode & 0o777 == 0o600


def test_put_is_idempotent_on_event_id(spool: Spool) -> None:
    spool.put(event(1))
    spool.put(event(1, provider="openai"))

    assert spool.depth() == 1
    assert spool.take(10)[0].event["provider"] == "anthropic"  # the first copy


def test_put_many_counts_only_new_events(spool: Spool) -> None:
    spool.put(event(1))

    added = spool.put_many([event(1), event(2), event(3), event(2)])

    assert added == 2
    assert spool.depth() == 3


def test_take_returns_oldest_first_and_respects_limit(spool: Spool) -> None:
    for n in [5, 3, 9, 1]:
        spool.put(event(n))

    first = spool.take(2)
    spool.ack(e.seq for e in first)
    rest = spool.take(10)

    assert [e.event["n"] for e in first] == [5, 3]  # put order, not id order
    assert [e.event["n"] for e in rest] == [9, 1]


def test_count_bound_drops_the_oldest_and_counts_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path / "s.sqlite3", limits=SpoolLimits(max_events=3))

    with caplog.at_level(logging.ERROR, logger="spendtap.delivery.spool"):
        for n in range(1, 6):
            spool.put(event(n))

    assert [e.event["n"] for e in spool.take(10)] == [3, 4, 5]
    assert spool.drops() == 2
    assert spool.depth() == 3
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2 and "spool.dropped" in errors[0].getMessage()
    assert "reason=spool_max_events" in errors[0].getMessage()
    spool.close()


def test_size_bound_drops_the_oldest(tmp_path: Path) -> None:
    # each body below is exactly 100 bytes of JSON; room for 3
    pad = "x" * (100 - len('{"event_id":"ev-00001","pad":""}'))
    spool = Spool(tmp_path / "s.sqlite3", limits=SpoolLimits(max_bytes=350))

    for n in range(1, 6):
        spool.put({"event_id": f"ev-{n:05d}", "pad": pad})

    assert [e.event_id for e in spool.take(10)] == ["ev-00003", "ev-00004", "ev-00005"]
    assert spool.stats().bytes == 300
    assert spool.drops() == 2
    spool.close()


def test_age_bound_drops_events_older_than_max_age(tmp_path: Path) -> None:
    clock = Clock()
    spool = Spool(
        tmp_path / "s.sqlite3",
        limits=SpoolLimits(max_age=timedelta(hours=1)),
        clock=clock,
    )
    spool.put(event(1))
    clock.now += 1800
    spool.put(event(2))
    clock.now += 1801  # event 1 is now 3601 s old, event 2 1801 s

    spool.put(event(3))

    assert [e.event["n"] for e in spool.take(10)] == [2, 3]
    assert spool.drops() == 1
    spool.close()


def test_oldest_created_at_is_the_spool_time_of_the_oldest_event(
    tmp_path: Path,
) -> None:
    clock = Clock(1_750_000_000.0)
    spool = Spool(tmp_path / "s.sqlite3", clock=clock)
    assert spool.oldest_created_at() is None

    spool.put(event(1))
    clock.now += 60
    spool.put(event(2))

    assert spool.oldest_created_at() == datetime(2025, 6, 15, 15, 6, 40, tzinfo=UTC)
    spool.close()


def test_drops_and_queue_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    spool = Spool(path, limits=SpoolLimits(max_events=2))
    for n in range(1, 5):
        spool.put(event(n))
    spool.close()

    reopened = Spool(path, limits=SpoolLimits(max_events=2))

    assert reopened.drops() == 2
    assert [e.event["n"] for e in reopened.take(10)] == [3, 4]
    reopened.close()


def test_bury_moves_events_to_the_dead_table_with_the_reason(spool: Spool) -> None:
    for n in range(1, 4):
        spool.put(event(n))
    second = spool.take(10)[1]

    moved = spool.bury([second.seq], "HTTP 422: bad field")

    assert moved == 1
    assert [e.event["n"] for e in spool.take(10)] == [1, 3]
    assert spool.dead_count() == 1
    dead, reason = spool.dead()[0]
    assert dead.event_id == "ev-00002" and dead.event["n"] == 2
    assert reason == "HTTP 422: bad field"
    assert spool.drops() == 0  # dead-lettered, not dropped


def test_encoded_events_are_stored_as_given_and_count_once(spool: Spool) -> None:
    spool.put(event(1))
    lines = [
        ("ev-00001", b'{"event_id":"ev-00001","n":9}\n'),  # already there: kept
        ("ev-00002", b'{"event_id":"ev-00002","model":"caf\xc3\xa9","n":2}\n'),
        ("ev-00003", b'{"event_id":"ev-00003","n":3}'),  # no newline: the same
    ]

    added = spool.put_encoded(lines)

    assert added == 2
    assert [t.event for t in spool.take(10)] == [
        event(1),
        {"event_id": "ev-00002", "model": "café", "n": 2},
        {"event_id": "ev-00003", "n": 3},
    ]
    assert spool.stats().bytes == sum(
        len(body)
        for body in (
            b'{"event_id":"ev-00001","provider":"anthropic","n":1}',
            b'{"event_id":"ev-00002","model":"caf\xc3\xa9","n":2}',
            b'{"event_id":"ev-00003","n":3}',
        )
    )


@pytest.mark.parametrize(
    ("event_id", "data", "named"),
    [
        ("", b'{"event_id":""}', "event_id"),
        ("ev-7", b'{"event_id":"ev-7"}\n{"event_id":"ev-8"}\n', "one object"),
        ("ev-7", b"[1]", "one object"),
        ("ev-7", b'{"event_id":"ev-7","model":"\xff"}', "not UTF-8"),
        ("ev-7", b'{"event_id":"ev-8"}', "starts with that event_id"),
    ],
)
def test_a_bad_encoded_event_is_refused_and_nothing_is_stored(
    spool: Spool, event_id: str, data: bytes, named: str
) -> None:
    good = ("ev-00001", b'{"event_id":"ev-00001"}')

    with pytest.raises(InputError, match=named):
        spool.put_encoded([good, (event_id, data)])

    assert spool.depth() == 0


def test_event_without_an_id_is_refused(spool: Spool) -> None:
    with pytest.raises(InputError, match="event_id"):
        spool.put({"provider": "openai"})


def test_event_that_is_not_json_is_refused(spool: Spool) -> None:
    with pytest.raises(InputError, match="ev-00001"):
        spool.put(event(1, when=datetime.now(UTC)))
    assert spool.depth() == 0


def test_decimal_cost_is_written_as_a_json_number(spool: Spool) -> None:
    spool.put(event(1, cost_usd=Decimal("0.0029")))

    assert '"cost_usd":0.0029' in spool.take(1)[0].body


def test_a_file_that_is_not_a_database_gives_a_spool_error(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)

    with pytest.raises(SpoolError, match=r"spool\.sqlite3.*not a spool file"):
        Spool(path)


def test_an_unusable_directory_gives_a_spool_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")

    with pytest.raises(SpoolError, match=r"file/data.*cannot create"):
        Spool.in_dir(blocker / "data")


def test_concurrent_writer_and_shipper_threads_lose_and_repeat_nothing(
    spool: Spool,
) -> None:
    total = 600
    shipped: list[str] = []
    done = threading.Event()

    def write() -> None:
        for n in range(total):
            spool.put(event(n))
        done.set()

    def ship() -> None:
        while not (done.is_set() and spool.depth() == 0):
            batch = spool.take(50)
            shipped.extend(e.event_id for e in batch)
            spool.ack(e.seq for e in batch)

    threads = [threading.Thread(target=write), threading.Thread(target=ship)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert shipped == [f"ev-{n:05d}" for n in range(total)]
    assert spool.depth() == 0


def test_a_full_disk_gives_a_spool_error_and_the_spool_stays_usable(
    spool: Spool,
) -> None:
    spool.put(event(1))
    db = spool._db  # cap the file's size to play a full disk
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count={pages}")

    with pytest.raises(SpoolError, match=r"spool\.sqlite3.*disk holding it is full"):
        spool.put_many(event(n, pad="x" * 4000) for n in range(2, 40))

    assert spool.depth() == 1  # the failed batch left nothing half-written
    db.execute("PRAGMA max_page_count=1073741823")
    spool.put(event(2))
    assert spool.depth() == 2


def test_events_are_committed_with_synchronous_full(spool: Spool) -> None:
    assert spool._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
