"""Storing a batch: new events appended, duplicates linked or skipped, rollups added.

One transaction per batch, holding the ingest lock (database.lock_for_ingest):

1. ids already in the ``event_index`` ledger (or repeated in the batch) are
   duplicates: counted, not stored;
2. a new event that is the same call as a known one from another capture source
   (dedup.py) is linked to it in ``event_links`` and may fill its null context
   fields; it is not stored as a second call;
3. the rest get the next sequence numbers and go into the ledger and ``events`` in
   bulk; then every rollup table gets their sums added, grouped in SQL over that
   seq range (rollup_sql.py; upserts that add, so replicas keep them exact).

If anything fails, nothing of the batch is stored; deadlocks and a partition dropped
under our feet are retried.
"""

from __future__ import annotations

import enum
import logging
import operator
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, bindparam, select, text
from sqlalchemy.exc import DBAPIError

from spendtap.engine.database import lock_for_ingest, write_transaction
from spendtap.engine.dedup import (
    FILLABLE,
    CallKeys,
    Candidate,
    Match,
    TwinFinder,
    known_candidates,
)
from spendtap.engine.dedup import fingerprint as call_fingerprint
from spendtap.engine.dialect import add_to_rollup, bulk_insert, member_of
from spendtap.engine.money import usd_to_nanos
from spendtap.engine.partitions import Month, PartitionCache
from spendtap.engine.rollup import (
    CUBES,
    DIMENSIONS,
    MEASURES,
    NO_VALUE,
    RollupDeltas,
    add_nullable,
)
from spendtap.engine.rollup_sql import add_events
from spendtap.engine.tables import (
    EVENT_COLUMNS,
    EVENT_SEQ,
    INDEX_COLUMNS,
    event_index,
    events,
)
from spendtap.engine.timestamps import format_rfc3339, rfc3339_to_ms
from spendtap.event import EVENT_FIELDS, UsageEvent

log = logging.getLogger(__name__)

#: |receive time - send time| above which a batch's clock is flagged as skewed.
CLOCK_SKEW_LIMIT_S = 300
#: The stored skew is clamped to what the column holds (a clock decades off).
_MAX_SKEW_S = 2**31 - 1
_ATTEMPTS = 3
_RETRY_SQLSTATES = frozenset({"40P01", "40001", "23514"})
_LINK_COLUMNS = (
    "event_id",
    "duplicate_of",
    "capture_source",
    "matched_by",
    "filled",
    "linked_at",
)
#: The event fields stored as they are (the costs become nano-USD columns).
_PLAIN_FIELDS = tuple(
    f for f in EVENT_FIELDS if f not in ("cost_usd", "agent_cost_usd")
)
#: The order ingest writes ``events`` columns in (every column, once).
INSERT_COLUMNS: tuple[str, ...] = (
    "seq",
    "started_ms",
    *_PLAIN_FIELDS,
    "cost_nanos",
    "agent_cost_nanos",
    "received_at",
    "clock_skew_s",
    "shipped_by",
)
assert sorted(INSERT_COLUMNS) == sorted(EVENT_COLUMNS)
_COLUMN_INDEX = {name: i for i, name in enumerate(INSERT_COLUMNS)}
_read_plain = operator.attrgetter(*_PLAIN_FIELDS)
_ENUM_AT = tuple(
    2 + i
    for i, name in enumerate(_PLAIN_FIELDS)
    if name in ("capture_source", "status", "usage_source", "cost_status", "auth_kind")
)
_AGENT_COST = MEASURES.index("agent_cost_nanos")
_partition_caches: weakref.WeakKeyDictionary[Engine, PartitionCache] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True, slots=True)
class StoreResult:
    """What became of a batch.

    ``accepted + duplicates`` is the number of events sent; ``cross_source_duplicates``
    is the part of ``duplicates`` that was linked to a call from another source.
    """

    accepted: int
    duplicates: int
    cross_source_duplicates: int = 0
    clock_skewed: int = 0


@dataclass(frozen=True, slots=True)
class _Prepared:
    """One event made ready for storage (computed once, outside the lock)."""

    row: tuple[object, ...]
    """The ``events`` row in INSERT_COLUMNS order, seq still None."""
    keys: CallKeys

    @property
    def event_id(self) -> str:
        return self.keys.event_id


def clock_skew_s(received_at: datetime, sent_at: datetime | None) -> int | None:
    """Seconds the sender's clock is behind ours, when over the limit; else None."""
    if sent_at is None:
        return None
    skew = round((received_at - sent_at).total_seconds())
    if abs(skew) <= CLOCK_SKEW_LIMIT_S:
        return None
    return max(-_MAX_SKEW_S, min(_MAX_SKEW_S, skew))


def partition_cache(engine: Engine) -> PartitionCache:
    cache = _partition_caches.get(engine)
    if cache is None:
        cache = _partition_caches[engine] = PartitionCache()
    return cache


def store_batch(
    engine: Engine,
    events: Sequence[UsageEvent],
    received_at: datetime,
    *,
    sent_at: datetime | None = None,
    shipped_by: str | None = None,
) -> StoreResult:
    """Store ``events`` (received at ``received_at``) exactly once each."""
    skew = clock_skew_s(received_at, sent_at)
    received = format_rfc3339(received_at)
    batch = [
        _prepare(event, received, skew, shipped_by) for event in _first_of_each(events)
    ]
    partitions = partition_cache(engine)
    partitions.ensure(engine, {Month.of_ms(p.keys.started_ms) for p in batch})
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with write_transaction(engine) as conn:
                lock_for_ingest(conn)
                stored, linked = _store(conn, batch, received)
        except DBAPIError as exc:
            state = getattr(exc.orig, "sqlstate", None)
            if attempt == _ATTEMPTS or state not in _RETRY_SQLSTATES:
                raise
            log.warning("engine.store.retried attempt=%d sqlstate=%s", attempt, state)
            partitions.forget()
            partitions.ensure(engine, {Month.of_ms(p.keys.started_ms) for p in batch})
            continue
        return StoreResult(
            accepted=stored,
            duplicates=len(events) - stored,
            cross_source_duplicates=linked,
            clock_skewed=stored if skew is not None else 0,
        )
    raise AssertionError("unreachable: the last attempt returns or raises")


def _first_of_each(events: Iterable[UsageEvent]) -> list[UsageEvent]:
    first: dict[str, UsageEvent] = {}
    for event in events:
        first.setdefault(event.event_id, event)
    return list(first.values())


def _prepare(
    event: UsageEvent, received: str, skew: int | None, shipped_by: str | None
) -> _Prepared:
    started_ms = rfc3339_to_ms(event.started_at)
    cost = None if event.cost_usd is None else usd_to_nanos(event.cost_usd)
    agent = None if event.agent_cost_usd is None else usd_to_nanos(event.agent_cost_usd)
    row = [
        None,
        started_ms,
        *_read_plain(event),
        cost,
        agent,
        received,
        skew,
        shipped_by,
    ]
    for index in _ENUM_AT:
        value = row[index]
        if isinstance(value, enum.Enum):
            row[index] = value.value
    cache_write = add_nullable(event.cache_write_5m_tokens, event.cache_write_1h_tokens)
    keys = CallKeys(
        event_id=event.event_id,
        capture_source=event.capture_source.value,
        provider=event.provider,
        response_id=event.response_id or None,
        request_id=event.request_id or None,
        fingerprint=call_fingerprint(
            event.model,
            event.input_tokens,
            event.output_tokens,
            event.cache_read_tokens,
            cache_write,
        ),
        started_ms=started_ms,
    )
    return _Prepared(row=tuple(row), keys=keys)


def _store(conn: Connection, batch: list[_Prepared], received: str) -> tuple[int, int]:
    """Store ``batch`` in this locked transaction; return (stored, linked)."""
    known = _known_ids(conn, [p.event_id for p in batch])
    fresh = [p for p in batch if p.event_id not in known]
    if not fresh:
        return 0, 0
    finder = TwinFinder(known_candidates(conn, [p.keys for p in fresh]))
    stored: list[_Prepared] = []
    links: list[tuple[_Prepared, Match]] = []
    for prepared in fresh:
        match = finder.match(prepared.keys)
        if match is None:
            stored.append(prepared)
            finder.add(Candidate(prepared.keys))
        else:
            links.append((prepared, match))
    rows = {p.event_id: list(p.row) for p in stored}
    corrections = RollupDeltas()
    link_rows = _link(conn, links, rows, corrections, received)
    first = _take_seqs(conn, len(stored))
    seqs = {p.event_id: first + offset for offset, p in enumerate(stored)}
    for event_id, seq in seqs.items():
        rows[event_id][0] = seq
    ledger = [_ledger_row(p.keys, seqs[p.event_id], None) for p in stored]
    ledger += [_ledger_row(p.keys, None, m.stored_id) for p, m in links]
    bulk_insert(conn, "event_index", INDEX_COLUMNS, ledger)
    bulk_insert(
        conn, "events", INSERT_COLUMNS, [tuple(rows[p.event_id]) for p in stored]
    )
    bulk_insert(conn, "event_links", _LINK_COLUMNS, link_rows)
    if stored:
        add_events(conn, first, first + len(stored) - 1)
    _add_corrections(conn, corrections)
    return len(stored), len(links)


def _known_ids(conn: Connection, ids: Sequence[str]) -> set[str]:
    known: set[str] = set()
    for condition in member_of(conn, event_index.c.event_id, ids):
        stmt = select(event_index.c.event_id).where(condition)
        known.update(conn.execute(stmt).scalars())
    return known


def _take_seqs(conn: Connection, count: int) -> int:
    """The first of ``count`` new sequence numbers (taken under the ingest lock)."""
    if count == 0:
        return 0
    last = conn.execute(
        text(
            "UPDATE engine_counters SET value = value + :n WHERE name = :name "
            "RETURNING value"
        ),
        {"n": count, "name": EVENT_SEQ},
    ).scalar_one()
    return int(last) - count + 1


def _ledger_row(
    keys: CallKeys, seq: int | None, duplicate_of: str | None
) -> tuple[object, ...]:
    return (
        keys.event_id,
        seq,
        keys.started_ms,
        keys.capture_source,
        keys.provider,
        keys.response_id,
        keys.request_id,
        keys.fingerprint,
        duplicate_of,
    )


def _link(
    conn: Connection,
    links: list[tuple[_Prepared, Match]],
    rows: dict[str, list[object]],
    corrections: RollupDeltas,
    linked_at: str,
) -> list[tuple[object, ...]]:
    """The event_links rows of ``links``, after filling the stored events' nulls.

    A stored event of this batch is filled in ``rows`` before it is written (its
    sums then go to the rollups with it); one stored earlier is updated in place,
    and an agent cost it gains is added to its rollup buckets as a correction.
    """
    stored_before = _fill_targets(
        conn, {m.stored_id for _, m in links if m.stored_id not in rows}
    )
    out: list[tuple[object, ...]] = []
    for prepared, match in links:
        target = rows.get(match.stored_id) or stored_before.get(match.stored_id)
        filled = _fill(target, prepared.row) if target is not None else []
        if filled and target is not None and match.stored_id not in rows:
            _update_stored(conn, target, filled, corrections)
        out.append(
            (
                prepared.event_id,
                match.stored_id,
                prepared.keys.capture_source,
                match.matched_by.value,
                ",".join(_contract_name(name) for name in filled) or None,
                linked_at,
            )
        )
    return out


def _contract_name(column: str) -> str:
    return "agent_cost_usd" if column == "agent_cost_nanos" else column


def _fill(target: list[object], row: tuple[object, ...]) -> list[str]:
    """Copy FILLABLE fields that ``target`` lacks from ``row``; return their names."""
    filled = []
    for name in FILLABLE:
        index = _COLUMN_INDEX[name]
        if target[index] is None and row[index] is not None:
            target[index] = row[index]
            filled.append(name)
    return filled


def _agent_cost(row: list[object]) -> int | None:
    value = row[_COLUMN_INDEX["agent_cost_nanos"]]
    assert value is None or isinstance(value, int)
    return value


def _fill_targets(conn: Connection, ids: set[str]) -> dict[str, list[object]]:
    """The stored rows (in INSERT_COLUMNS order) of the events ``ids``, if kept."""
    if not ids:
        return {}
    stmt = (
        select(events)
        .join(
            event_index,
            (event_index.c.seq == events.c.seq)
            & (event_index.c.started_ms == events.c.started_ms),
        )
        .where(event_index.c.event_id.in_(sorted(ids)))  # a few: the links
    )
    found: dict[str, list[object]] = {}
    for row in conn.execute(stmt).mappings():
        found[row["event_id"]] = [row[name] for name in INSERT_COLUMNS]
    return found


def _update_stored(
    conn: Connection, target: list[object], filled: list[str], deltas: RollupDeltas
) -> None:
    assignments = ", ".join(f"{name} = :{name}" for name in filled)
    params = {name: target[_COLUMN_INDEX[name]] for name in filled}
    seq, started_ms = target[0], target[1]
    conn.execute(
        text(
            f"UPDATE events SET {assignments} "
            "WHERE seq = :seq_key AND started_ms = :started_key"
        ).bindparams(*(bindparam(name) for name in filled)),
        {**params, "seq_key": seq, "started_key": started_ms},
    )
    if "agent_cost_nanos" in filled:
        correction: list[int | None] = [None] * len(MEASURES)
        correction[0] = 0
        correction[-1] = 0
        correction[_AGENT_COST] = _agent_cost(target)
        assert isinstance(started_ms, int)
        dims = tuple(
            str(target[_COLUMN_INDEX[d.value]] or NO_VALUE) for d in DIMENSIONS
        )
        deltas.add(started_ms // 1000, dims, tuple(correction))


def _add_corrections(conn: Connection, corrections: RollupDeltas) -> None:
    if not corrections:
        return
    tables = dict(corrections.tables())
    for cube in CUBES:
        for grain in cube.grains:
            name = cube.table_name(grain)
            keys = [grain.column, *(d.value for d in cube.dims)]
            add_to_rollup(conn, name, keys, tables[name])
