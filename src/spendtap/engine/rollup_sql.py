"""Rollup sums computed in SQL from raw events: at ingest, and to rebuild or audit.

Ingest stores a batch's new events with consecutive ``seq`` numbers, then adds them
to every rollup table with one ``INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO
UPDATE`` per table over that seq range (:func:`add_events_sql`): the database does
the grouping, and an existing bucket gets the new sums added, so replicas keep the
rollups exact. SQL ``SUM`` ignores NULLs and is NULL when all are, the null-aware
rule of rollup.py.

:func:`rebuild_rollups` computes every rollup table again from ``events`` alone.
After retention has removed raw events a rebuild would lose their sums: only run it
on complete history.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, text

from spendtap.engine.rollup import CUBES, MEASURES, NULLABLE_MEASURES, Cube, Grain

log = logging.getLogger(__name__)


def _q(name: str) -> str:
    return f'"{name}"'


def rollup_columns(cube: Cube, grain: Grain) -> list[str]:
    """A rollup table's columns: bucket start, the cube's dimensions, MEASURES."""
    return [grain.column, *(d.value for d in cube.dims), *MEASURES]


def rollup_select_sql(cube: Cube, grain: Grain, source: str = "events") -> str:
    """SELECT of a rollup table's rows, in :func:`rollup_columns` order."""
    size = grain.seconds
    dims = [d.value for d in cube.dims]
    bucket = f"(started_ms / 1000) - (started_ms / 1000) % {size}"
    inner = ", ".join(
        [f"{bucket} AS bucket"]
        + [f"COALESCE({_q(d)}, '') AS {_q(d)}" for d in dims]
        + [_q(m) for m in NULLABLE_MEASURES]
    )
    outer = ", ".join(
        ["bucket", *(_q(d) for d in dims), "COUNT(*)"]
        + [f"SUM({_q(m)})" for m in NULLABLE_MEASURES]
        + ["SUM(CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END)"]
    )
    group = ", ".join(["bucket", *(_q(d) for d in dims)])
    return (
        f"SELECT {outer} FROM (SELECT {inner} FROM {source}) s "
        f"WHERE true GROUP BY {group}"
    )


def add_events_sql(cube: Cube, grain: Grain) -> str:
    """Add the events with ``:first <= seq <= :last`` to the cube's grain table."""
    table = cube.table_name(grain)
    columns = rollup_columns(cube, grain)
    keys = ", ".join(_q(c) for c in columns[: 1 + len(cube.dims)])
    source = "(SELECT * FROM events WHERE seq BETWEEN :first AND :last) fresh"
    update = ", ".join(f"{_q(m)} = {add_sql(table, m)}" for m in MEASURES)
    return (
        f"INSERT INTO {table} ({', '.join(_q(c) for c in columns)}) "
        f"{rollup_select_sql(cube, grain, source)} "
        f"ON CONFLICT ({keys}) DO UPDATE SET {update}"
    )


def add_sql(table: str, measure: str) -> str:
    """``current + incoming`` for an upsert; for the nullable measures NULL means
    unknown, so the sum is NULL only when both are."""
    current, incoming = f"{_q(table)}.{_q(measure)}", f"excluded.{_q(measure)}"
    if measure not in NULLABLE_MEASURES:
        return f"{current} + {incoming}"
    return f"COALESCE({current} + {incoming}, {current}, {incoming})"


def add_events(conn: Connection, first: int, last: int) -> None:
    """Add the events stored with seq ``first`` to ``last`` to every rollup table."""
    for cube in CUBES:
        for grain in cube.grains:
            conn.execute(
                text(add_events_sql(cube, grain)), {"first": first, "last": last}
            )


def rebuild_rollups(conn: Connection) -> None:
    """Replace every rollup table's rows with sums computed from ``events``."""
    tables = []
    for cube in CUBES:
        for grain in cube.grains:
            table = cube.table_name(grain)
            conn.execute(text(f"DELETE FROM {table}"))
            columns = ", ".join(_q(c) for c in rollup_columns(cube, grain))
            select = rollup_select_sql(cube, grain)
            conn.execute(text(f"INSERT INTO {table} ({columns}) {select}"))
            log.debug("engine.rollup.rebuilt table=%s", table)
            tables.append(table)
    log.info("engine.rollup.rebuilt tables=%d", len(tables))
