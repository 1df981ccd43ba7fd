"""Rollups recomputed from the raw events in SQL, for migrations and audits.

Ingest keeps the rollups current batch by batch; :func:`rebuild_rollups` computes
them again from ``events`` alone (SQL ``SUM`` ignores NULLs and gives NULL when all
are NULL, the same null-aware rule as ingest). After retention has removed raw
events, a rebuild would lose their sums: only run it on complete history.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, text

from spendtap.engine.rollup import (
    CUBES,
    GRAINS,
    MEASURES,
    NULLABLE_MEASURES,
    Cube,
    Grain,
)

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
    return f"SELECT {outer} FROM (SELECT {inner} FROM {source}) s GROUP BY {group}"


def rebuild_rollups(conn: Connection) -> None:
    """Replace every rollup table's rows with sums computed from ``events``."""
    for cube in CUBES:
        for grain in GRAINS:
            table = cube.table_name(grain)
            conn.execute(text(f"DELETE FROM {table}"))
            columns = ", ".join(_q(c) for c in rollup_columns(cube, grain))
            select = rollup_select_sql(cube, grain)
            conn.execute(text(f"INSERT INTO {table} ({columns}) {select}"))
            log.info("engine.rollup.rebuilt table=%s", table)
