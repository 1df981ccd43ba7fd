"""The dialect-specific SQL in one place: insert-if-new and add-to-rollup upserts.

SQLite and PostgreSQL both spell these ``INSERT ... ON CONFLICT``, and SQLAlchemy has
an ``insert`` construct for each; nothing else in the engine depends on the dialect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Column, ColumnElement, Connection, Table, case
from sqlalchemy.dialects import postgresql, sqlite

from spendtap.engine.rollup import NULLABLE_MEASURES
from spendtap.engine.tables import ROLLUP_KEY_COLUMNS, events, rollup_hourly

Row = Mapping[str, object]


def _insert(conn: Connection, table: Table) -> sqlite.Insert | postgresql.Insert:
    name = conn.dialect.name
    if name == "sqlite":
        return sqlite.insert(table)
    if name == "postgresql":
        return postgresql.insert(table)
    raise NotImplementedError(f"no upsert for the {name!r} database dialect")


def insert_new_events(conn: Connection, rows: Sequence[Row]) -> set[str]:
    """Insert the rows whose ``event_id`` is not stored yet; return those ids."""
    if not rows:
        return set()
    stmt = (
        _insert(conn, events)
        .on_conflict_do_nothing(index_elements=[events.c.event_id])
        .returning(events.c.event_id)
    )
    return set(conn.execute(stmt, list(rows)).scalars())


def add_to_rollup(conn: Connection, rows: Sequence[Row]) -> None:
    """Add each row's measures to its bucket, creating the bucket if it is new.

    Callers pass rows sorted by key, so concurrent writers lock buckets in one order.
    """
    if not rows:
        return
    stmt = _insert(conn, rollup_hourly)
    new = stmt.excluded
    sums = {
        column.name: _null_aware_sum(column, new[column.name])
        if column.name in NULLABLE_MEASURES
        else column + new[column.name]
        for column in rollup_hourly.columns
        if column.name not in ROLLUP_KEY_COLUMNS
    }
    upsert = stmt.on_conflict_do_update(index_elements=ROLLUP_KEY_COLUMNS, set_=sums)
    conn.execute(upsert, list(rows))


def _null_aware_sum(
    current: Column[int], incoming: ColumnElement[int]
) -> ColumnElement[int]:
    """``current + incoming`` where NULL means unknown: NULL only if both are."""
    return case(
        (current.is_(None), incoming),
        (incoming.is_(None), current),
        else_=current + incoming,
    )
