"""The dialect-specific SQL in one place: bulk inserts and add-to-rollup upserts.

PostgreSQL gets ``COPY`` for raw rows and ``INSERT ... SELECT FROM unnest(...) ON
CONFLICT DO UPDATE`` for rollup corrections; SQLite gets ``executemany`` of the same
statements. Rows are tuples in column order; nothing else in the engine depends on
the dialect (apart from partitions and the ingest lock).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Connection, Text, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY

from spendtap.engine.rollup import MEASURES
from spendtap.engine.rollup_sql import add_sql

RowTuple = tuple[object, ...]
#: Most values in one SQLite ``IN (...)`` (PostgreSQL takes one array instead).
IN_CHUNK = 500


def quote(name: str) -> str:
    """A column or table name quoted for both dialects (``user`` is reserved)."""
    return f'"{name}"'


def by_code_point(column: ColumnElement[str], dialect: str) -> ColumnElement[str]:
    """``column`` to sort by as Python sorts text (by code point): PostgreSQL's
    database collation would follow the locale; SQLite's default already does."""
    return column.collate("C") if dialect == "postgresql" else column


def member_of(
    conn: Connection, column: ColumnElement[str], values: Sequence[str]
) -> list[ColumnElement[bool]]:
    """Conditions ``column IN values``, one per query to run: a single ``= ANY``
    over an array on PostgreSQL (one plan, one parameter), chunks on SQLite."""
    if not values:
        return []
    if conn.dialect.name == "postgresql":
        array = bindparam(None, list(values), type_=ARRAY(Text))
        return [column == any_(array)]
    return [
        column.in_(values[start : start + IN_CHUNK])
        for start in range(0, len(values), IN_CHUNK)
    ]


def bulk_insert(
    conn: Connection, table: str, columns: Sequence[str], rows: Sequence[RowTuple]
) -> None:
    """Append ``rows`` to ``table`` (no conflict handling: the caller checked)."""
    if not rows:
        return
    names = ", ".join(quote(c) for c in columns)
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        assert raw is not None
        sql = f"COPY {quote(table)} ({names}) FROM STDIN"
        with raw.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in columns)
    conn.exec_driver_sql(
        f"INSERT INTO {quote(table)} ({names}) VALUES ({marks})", list(rows)
    )


def add_to_rollup(
    conn: Connection, table: str, key_columns: Sequence[str], rows: Sequence[RowTuple]
) -> None:
    """Add each row's measures to its bucket, creating the bucket if it is new.

    A row is the key columns then MEASURES. Callers pass rows sorted by key, so
    concurrent writers lock buckets in one order.
    """
    if not rows:
        return
    columns = [*key_columns, *MEASURES]
    names = ", ".join(quote(c) for c in columns)
    update = ", ".join(f"{quote(m)} = {add_sql(table, m)}" for m in MEASURES)
    keys = ", ".join(quote(c) for c in key_columns)
    conflict = f"ON CONFLICT ({keys}) DO UPDATE SET {update}"
    if conn.dialect.name == "postgresql":
        arrays = ", ".join(
            f"%s::{'text' if i < len(key_columns) and i > 0 else 'bigint'}[]"
            for i in range(len(columns))
        )
        sql = (
            f"INSERT INTO {quote(table)} ({names}) "
            f"SELECT * FROM unnest({arrays}) {conflict}"
        )
        params = [list(column) for column in zip(*rows, strict=True)]
        conn.exec_driver_sql(sql, tuple(params))
        return
    marks = ", ".join("?" for _ in columns)
    sql = f"INSERT INTO {quote(table)} ({names}) VALUES ({marks}) {conflict}"
    conn.exec_driver_sql(sql, list(rows))
