"""The spool: a durable local queue of usage events waiting to be shipped.

One SQLite file, ``<data_dir>/spool.sqlite3``, in WAL mode. ``put`` commits with
``synchronous=FULL`` before it returns, so an event the collector has handed over
survives ``kill -9`` and power loss. Events leave the queue only when the shipper
acknowledges them (the engine stored them), or when a bound forces a drop, or into
the ``dead`` table when the engine rejects them. A bound drops the oldest events first,
logs it at ERROR and writes a drop record in the same transaction, so a drop is never
lost even if the process dies right after.

Tables: ``events`` (the queue, ``seq`` ascending is oldest first), ``dead`` (events
the engine refused, kept with the reason), ``drop_records`` (every drop, kept after it
was shipped so ``spendtap status`` can total them), ``totals`` (row and byte counts
kept by triggers, and the bound-drop counter; they survive restarts).

One ``Spool`` object may be shared by threads. One collector process per data
directory owns the file.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from spendtap.delivery.drops import DropReason, DropRecord, new_drop_id
from spendtap.errors import InputError, SpoolError

log = logging.getLogger(__name__)

SPOOL_FILENAME = "spool.sqlite3"
SCHEMA_VERSION = 2  # 2: drop_records
_CHUNK = 500  # rows per statement when deleting by seq

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    size INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dead (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    dead_at REAL NOT NULL,
    reason TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS drop_records (
    drop_id TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    count INTEGER NOT NULL,
    first_at REAL NOT NULL,
    last_at REAL NOT NULL,
    shipped_at REAL
);
CREATE INDEX IF NOT EXISTS drop_records_unshipped ON drop_records (shipped_at);
CREATE TABLE IF NOT EXISTS totals (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO totals (name, value)
    VALUES ('events', 0), ('bytes', 0), ('drops', 0);
CREATE TRIGGER IF NOT EXISTS events_counted_in AFTER INSERT ON events BEGIN
    UPDATE totals SET value = value + 1 WHERE name = 'events';
    UPDATE totals SET value = value + NEW.size WHERE name = 'bytes';
END;
CREATE TRIGGER IF NOT EXISTS events_counted_out AFTER DELETE ON events BEGIN
    UPDATE totals SET value = value - 1 WHERE name = 'events';
    UPDATE totals SET value = value - OLD.size WHERE name = 'bytes';
END;
"""


@dataclass(frozen=True, slots=True)
class SpoolLimits:
    """Bounds on the spool; past one, the oldest events are dropped (and counted)."""

    max_events: int = 1_000_000
    max_bytes: int = 1024 * 1024 * 1024
    max_age: timedelta = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class SpooledEvent:
    """One queued event. ``body`` is the event's JSON text, as it will be shipped."""

    seq: int
    event_id: str
    created_at: datetime
    body: str

    @property
    def event(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value


@dataclass(frozen=True, slots=True)
class SpoolStats:
    depth: int
    bytes: int
    oldest_created_at: datetime | None
    drops: int  # events dropped by a bound, ever
    dead: int
    dropped_by_reason: Mapping[str, int]  # every drop record, by reason
    unshipped_drop_records: int


class Spool:
    """The durable queue in ``path`` (created with its folder when missing)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        limits: SpoolLimits | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.limits = limits or SpoolLimits()
        self._clock = clock
        self._lock = threading.Lock()
        self._db = self._open()

    @classmethod
    def open_readonly(cls, path: str | os.PathLike[str]) -> Spool:
        """An existing spool opened to read only, safe while a collector writes it.

        For ``spendtap status``. SpoolError when the file is missing or was written
        by another schema version.
        """
        spool = cls.__new__(cls)
        spool.path = Path(path)
        spool.limits = SpoolLimits()
        spool._clock = time.time
        spool._lock = threading.Lock()
        spool._db = _open_readonly(spool.path)
        return spool

    @classmethod
    def in_dir(cls, data_dir: str | os.PathLike[str], **kwargs: Any) -> Spool:
        """The spool of a data directory: ``<data_dir>/spool.sqlite3``."""
        return cls(Path(data_dir) / SPOOL_FILENAME, **kwargs)

    def put(self, event_json: Mapping[str, Any]) -> None:
        """Queue one event durably; putting the same ``event_id`` again is a no-op."""
        self.put_many([event_json])

    def put_many(self, events: Iterable[Mapping[str, Any]]) -> int:
        """Queue several events in one durable commit; returns how many were new."""
        return self._insert([_row(event, self._clock()) for event in events])

    def put_encoded(self, events: Iterable[tuple[str, bytes]]) -> int:
        """``put_many`` for events already written as JSON: (event id, the event's
        JSON object as UTF-8, a trailing newline allowed), as an import makes them
        (``EventFactory.build_line``); they are stored as they are."""
        now = self._clock()
        rows = [_encoded_row(event_id, data, now) for event_id, data in events]
        return self._insert(rows)

    def _insert(self, rows: list[tuple[str, float, int, str]]) -> int:
        if not rows:
            return 0
        with self._transaction("queue events") as db:
            cursor = db.executemany(
                "INSERT OR IGNORE INTO events (event_id, created_at, size, body)"
                " VALUES (?, ?, ?, ?)",
                rows,
            )
            added = cursor.rowcount
            drops = self._enforce_limits(db)
        self._log_drops(drops)
        return added

    def ack(self, seqs: Iterable[int]) -> None:
        """Remove events the engine has stored."""
        with self._transaction("remove shipped events") as db:
            for chunk in _chunks(list(seqs)):
                marks = ",".join("?" * len(chunk))
                db.execute(f"DELETE FROM events WHERE seq IN ({marks})", chunk)

    def bury(self, seqs: Iterable[int], reason: str) -> int:
        """Move events the engine refused to the ``dead`` table; returns the count."""
        moved = 0
        with self._transaction("move refused events to the dead table") as db:
            for chunk in _chunks(list(seqs)):
                marks = ",".join("?" * len(chunk))
                moved += db.execute(
                    "INSERT OR REPLACE INTO dead"
                    " (seq, event_id, created_at, dead_at, reason, body)"
                    " SELECT seq, event_id, created_at, ?, ?, body FROM events"
                    f" WHERE seq IN ({marks})",
                    (self._clock(), reason, *chunk),
                ).rowcount
                db.execute(f"DELETE FROM events WHERE seq IN ({marks})", chunk)
        return moved

    def enforce_limits(self) -> int:
        """Apply the bounds now (``put`` does it too); returns how many were dropped."""
        with self._transaction("apply the spool limits") as db:
            drops = self._enforce_limits(db)
        self._log_drops(drops)
        return sum(span.count for span in drops.values())

    def record_drops(self, records: Sequence[DropRecord]) -> None:
        """Keep drop records (from the collector's pipeline) until they are shipped."""
        if not records:
            return
        with self._transaction("record dropped calls") as db:
            _insert_drop_records(db, records)

    def unshipped_drops(self, limit: int) -> list[DropRecord]:
        """The oldest drop records the engine has not acknowledged yet."""
        rows = self._read(
            "read drop records",
            "SELECT drop_id, reason, count, first_at, last_at FROM drop_records"
            " WHERE shipped_at IS NULL ORDER BY first_at, drop_id LIMIT ?",
            (limit,),
        )
        return [DropRecord(d, DropReason(r), c, f, la) for d, r, c, f, la in rows]

    def mark_drops_shipped(self, drop_ids: Iterable[str]) -> None:
        """Note that the engine stored these drop records."""
        now = self._clock()
        with self._transaction("mark drop records shipped") as db:
            for chunk in _chunks(list(drop_ids)):
                marks = ",".join("?" * len(chunk))
                db.execute(
                    "UPDATE drop_records SET shipped_at = ?"
                    f" WHERE drop_id IN ({marks})",
                    (now, *chunk),
                )

    def dropped_by_reason(self) -> dict[str, int]:
        """Every dropped call on record (shipped or not), by reason."""
        rows = self._read(
            "total drop records",
            "SELECT reason, sum(count) FROM drop_records GROUP BY reason",
            (),
        )
        return {reason: int(total) for reason, total in rows}

    def unshipped_drop_count(self) -> int:
        """How many drop records wait to be shipped."""
        rows = self._read(
            "count drop records",
            "SELECT count(*) FROM drop_records WHERE shipped_at IS NULL",
            (),
        )
        return int(rows[0][0])

    def take(self, limit: int) -> list[SpooledEvent]:
        """The oldest ``limit`` events, oldest first. They stay queued until acked."""
        rows = self._read(
            "read queued events",
            "SELECT seq, event_id, created_at, body FROM events ORDER BY seq LIMIT ?",
            (limit,),
        )
        return [
            SpooledEvent(seq=s, event_id=e, created_at=_utc(c), body=b)
            for s, e, c, b in rows
        ]

    def depth(self) -> int:
        """How many events wait to be shipped."""
        return self._total("events")

    def drops(self) -> int:
        """How many events a bound has dropped, ever (for this file)."""
        return self._total("drops")

    def dead_count(self) -> int:
        """How many events sit in the dead table."""
        rows = self._read("count dead events", "SELECT count(*) FROM dead", ())
        return int(rows[0][0])

    def dead(self, limit: int = 100) -> list[tuple[SpooledEvent, str]]:
        """The oldest dead events with the reason each was refused."""
        rows = self._read(
            "read dead events",
            "SELECT seq, event_id, created_at, body, reason FROM dead"
            " ORDER BY seq LIMIT ?",
            (limit,),
        )
        return [
            (SpooledEvent(seq=s, event_id=e, created_at=_utc(c), body=b), r)
            for s, e, c, b, r in rows
        ]

    def oldest_created_at(self) -> datetime | None:
        """When the oldest queued event was spooled, or None when the queue is empty."""
        rows = self._read(
            "read the oldest event",
            "SELECT created_at FROM events ORDER BY seq LIMIT 1",
            (),
        )
        return _utc(rows[0][0]) if rows else None

    def stats(self) -> SpoolStats:
        return SpoolStats(
            depth=self.depth(),
            bytes=self._total("bytes"),
            oldest_created_at=self.oldest_created_at(),
            drops=self.drops(),
            dead=self.dead_count(),
            dropped_by_reason=self.dropped_by_reason(),
            unshipped_drop_records=self.unshipped_drop_count(),
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
            os.close(fd)
        except OSError as exc:
            raise SpoolError(
                f"spool {self.path}: cannot create it: {exc.strerror}; check that "
                "the data directory exists and this user may write to it"
            ) from exc
        try:
            db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=10
            )
        except sqlite3.Error as exc:
            raise _spool_error(self.path, "open it", exc) from exc
        try:
            _prepare(db, self.path)
        except sqlite3.Error as exc:
            db.close()
            raise _spool_error(self.path, "open it", exc) from exc
        except SpoolError:
            db.close()
            raise
        return db

    @contextmanager
    def _transaction(self, action: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise _spool_error(self.path, action, exc) from exc

    def _read(self, action: str, sql: str, params: Sequence[object]) -> list[Any]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise _spool_error(self.path, action, exc) from exc

    def _total(self, name: str) -> int:
        rows = self._read(
            "read counters", "SELECT value FROM totals WHERE name = ?", (name,)
        )
        return int(rows[0][0])

    def _enforce_limits(self, db: sqlite3.Connection) -> dict[DropReason, _Span]:
        """Drop the oldest events past any bound, inside the caller's transaction.

        Each bound that dropped events gets a drop record in the same transaction.
        Returns what each bound dropped.
        """
        spans = {
            DropReason.SPOOL_MAX_AGE: self._drop_expired(db),
            DropReason.SPOOL_MAX_EVENTS: self._drop_over_count(db),
            DropReason.SPOOL_MAX_BYTES: self._drop_over_bytes(db),
        }
        dropped = {reason: span for reason, span in spans.items() if span.count}
        total = sum(span.count for span in dropped.values())
        if total:
            db.execute(
                "UPDATE totals SET value = value + ? WHERE name = 'drops'", (total,)
            )
            _insert_drop_records(
                db,
                [
                    DropRecord(new_drop_id(), reason, s.count, s.first_at, s.last_at)
                    for reason, s in dropped.items()
                ],
            )
        return dropped

    def _log_drops(self, drops: Mapping[DropReason, _Span]) -> None:
        for reason, span in drops.items():
            log.error(
                "spool.dropped events=%d reason=%s oldest_first=true path=%s",
                span.count,
                reason.value,
                self.path,
            )

    def _drop_expired(self, db: sqlite3.Connection) -> _Span:
        cutoff = self._clock() - self.limits.max_age.total_seconds()
        oldest = db.execute("SELECT created_at FROM events ORDER BY seq LIMIT 1")
        row = oldest.fetchone()
        dropped = _Span()
        if row is None or row[0] >= cutoff:
            return dropped
        while True:  # oldest first, up to the first event still young enough
            rows = db.execute(
                "SELECT seq, created_at FROM events ORDER BY seq LIMIT ?", (_CHUNK,)
            ).fetchall()
            young = next(
                (i for i, (_, created) in enumerate(rows) if created >= cutoff),
                len(rows),
            )
            if young == 0:
                return dropped
            dropped = dropped.merge(_delete_through(db, rows[young - 1][0]))
            if young < len(rows):
                return dropped

    def _drop_over_count(self, db: sqlite3.Connection) -> _Span:
        over = _total_in(db, "events") - self.limits.max_events
        if over <= 0:
            return _Span()
        last = db.execute(
            "SELECT seq FROM events ORDER BY seq LIMIT 1 OFFSET ?", (over - 1,)
        ).fetchone()[0]
        return _delete_through(db, last)

    def _drop_over_bytes(self, db: sqlite3.Connection) -> _Span:
        over = _total_in(db, "bytes") - self.limits.max_bytes
        dropped = _Span()
        while over > 0:
            rows = db.execute(
                "SELECT seq, size FROM events ORDER BY seq LIMIT ?", (_CHUNK,)
            ).fetchall()
            if not rows:
                break
            last = rows[-1][0]
            for seq, size in rows:
                over -= size
                if over <= 0:
                    last = seq
                    break
            dropped = dropped.merge(_delete_through(db, last))
        return dropped


@dataclass(frozen=True, slots=True)
class _Span:
    """How many events one step dropped, and the spool times of the first and last."""

    count: int = 0
    first_at: float = 0.0
    last_at: float = 0.0

    def merge(self, other: _Span) -> _Span:
        if not self.count:
            return other
        if not other.count:
            return self
        return _Span(
            self.count + other.count,
            min(self.first_at, other.first_at),
            max(self.last_at, other.last_at),
        )


def _insert_drop_records(db: sqlite3.Connection, records: Sequence[DropRecord]) -> None:
    db.executemany(
        "INSERT OR IGNORE INTO drop_records"
        " (drop_id, reason, count, first_at, last_at) VALUES (?, ?, ?, ?, ?)",
        [(r.drop_id, r.reason.value, r.count, r.first_at, r.last_at) for r in records],
    )


def _open_readonly(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise SpoolError(
            f"spool {path}: no such file; no collector has run with this data "
            "directory yet (give the right one with --data-dir)"
        )
    try:
        db = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
            timeout=10,
        )
        version = db.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as exc:
        raise _spool_error(path, "open it to read", exc) from exc
    if version != SCHEMA_VERSION:
        db.close()
        raise SpoolError(
            f"spool {path}: schema {version}, this spendtap reads {SCHEMA_VERSION}; "
            "start the collector of this version once to upgrade it"
        )
    return db


def _prepare(db: sqlite3.Connection, path: Path) -> None:
    mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise SpoolError(
            f"spool {path}: SQLite refused WAL mode (got {mode!r}); put the data "
            "directory on a local disk (network file systems cannot hold the spool)"
        )
    db.execute("PRAGMA synchronous=FULL")
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise SpoolError(
            f"spool {path}: written by a newer spendtap (schema {version}, this "
            f"one reads {SCHEMA_VERSION}); upgrade spendtap or use another data dir"
        )
    db.executescript(
        f"BEGIN IMMEDIATE;{_SCHEMA}PRAGMA user_version={SCHEMA_VERSION};COMMIT;"
    )


def _row(event: Mapping[str, Any], now: float) -> tuple[str, float, int, str]:
    event_id = event.get("event_id")
    if not isinstance(event_id, str) or not event_id:
        raise InputError(
            f"cannot spool an event without a string event_id (got {event_id!r}); "
            "build events with UsageEvent.to_json()"
        )
    try:
        body = json.dumps(
            event,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
            default=_json_default,
        )
        size = len(body.encode())
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise InputError(
            f"cannot spool event {event_id}: it is not plain JSON ({exc}); "
            "build events with UsageEvent.to_json()"
        ) from exc
    return event_id, now, size, body


def _encoded_row(event_id: str, data: bytes, now: float) -> tuple[str, float, int, str]:
    if not isinstance(event_id, str) or not event_id:
        raise InputError(
            f"cannot spool an event without a string event_id (got {event_id!r}); "
            "build event lines with EventFactory.build_line"
        )
    body = data[:-1] if data.endswith(b"\n") else data
    head = b'{"event_id":"' + event_id.encode() + b'"'
    if not body.startswith(head) or not body.endswith(b"}") or b"\n" in body:
        raise InputError(
            f"cannot spool event {event_id}: its JSON is not one object on one line "
            "that starts with that event_id; build event lines with "
            "EventFactory.build_line"
        )
    try:
        text = body.decode()
    except UnicodeDecodeError as exc:
        raise InputError(
            f"cannot spool event {event_id}: its JSON is not UTF-8 ({exc}); "
            "build event lines with EventFactory.build_line"
        ) from exc
    return event_id, now, len(body), text


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _delete_through(db: sqlite3.Connection, last_seq: int) -> _Span:
    count, first, last = db.execute(
        "SELECT count(*), min(created_at), max(created_at) FROM events WHERE seq <= ?",
        (last_seq,),
    ).fetchone()
    if not count:
        return _Span()
    db.execute("DELETE FROM events WHERE seq <= ?", (last_seq,))
    return _Span(int(count), float(first), float(last))


def _total_in(db: sqlite3.Connection, name: str) -> int:
    return int(
        db.execute("SELECT value FROM totals WHERE name = ?", (name,)).fetchone()[0]
    )


def _chunks[T](items: list[T]) -> Iterator[list[T]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


_HINTS = {
    "SQLITE_FULL": "the disk holding it is full: free space there; events "
    "arriving meanwhile are not recorded",
    "SQLITE_READONLY": "it is read-only: check its permissions and its folder's",
    "SQLITE_CANTOPEN": "check that its folder exists and this user may write to it",
    "SQLITE_PERM": "check that this user may write to it",
    "SQLITE_IOERR": "the disk reported an I/O error: check the disk",
    "SQLITE_CORRUPT": "the file is damaged: stop spendtap, move the file aside "
    "(its unshipped events are lost) and start again",
    "SQLITE_NOTADB": "it is not a spool file: move it aside or choose another "
    "data directory",
    "SQLITE_BUSY": "another process holds it locked: run one collector per data "
    "directory",
    "SQLITE_LOCKED": "another process holds it locked: run one collector per data "
    "directory",
}


def _spool_error(path: Path, action: str, exc: sqlite3.Error) -> SpoolError:
    name = getattr(exc, "sqlite_errorname", "") or ""
    base = name.split("_")[0:2]
    hint = _HINTS.get(name) or _HINTS.get("_".join(base)) or "see the SQLite error"
    return SpoolError(f"spool {path}: cannot {action}: {exc} ({hint})")
