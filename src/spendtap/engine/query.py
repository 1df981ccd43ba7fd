"""Spend and tokens by any dimensions over any window and bucket, from rollups only.

A window ``[since, until)`` (minute-aligned) is cut into pieces each rollup grain can
answer exactly: whole days from the daily table, the hours at either end from the
hourly one, the minutes left over from the minute one. The pieces are read with one
``UNION ALL`` (one snapshot) and summed per bucket and dimension values. Queries read
the smallest cube with every dimension they group or filter by, and with the grains
their window needs (rollup.CUBES), so a 30-day report by user reads a row per user
and day, however many calls there were.

Buckets are UTC. A missing dimension value is returned as None.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Engine,
    Select,
    cast,
    func,
    literal,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.exc import DataError

from spendtap.engine.dialect import by_code_point
from spendtap.engine.rollup import (
    CUBES,
    GRAINS,
    MEASURES,
    NO_VALUE,
    Cube,
    Dimension,
    Grain,
    Measures,
)
from spendtap.engine.tables import rollups


class Bucket(enum.StrEnum):
    """The time bucket of a query's rows; NONE sums the whole window."""

    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    NONE = "none"

    @property
    def grain(self) -> Grain | None:
        return None if self is Bucket.NONE else Grain(self.value)


@dataclass(frozen=True, slots=True)
class Piece:
    """A part of the window one grain covers exactly (None: unbounded)."""

    grain: Grain
    start: int | None
    end: int | None


@dataclass(frozen=True, slots=True)
class SpendQuery:
    by: tuple[Dimension, ...]
    bucket: Bucket = Bucket.NONE
    since: int | None = None
    """Start, seconds since the epoch, a whole minute (None: from the beginning)."""
    until: int | None = None
    """End (exclusive), a whole minute (None: everything after since)."""
    filters: tuple[tuple[Dimension, str | None], ...] = ()
    """Dimension values the rows must have (None: the value is missing)."""
    measures: tuple[str, ...] = MEASURES
    """The sums to compute (the others come back None): fewer is faster."""


@dataclass(frozen=True, slots=True)
class SpendRow:
    bucket_start: int | None
    values: tuple[str | None, ...]
    """One value per dimension of the query, in its order; None where unknown."""
    measures: Measures


#: A row's position in the query's order: bucket start (if bucketed), then values.
RowKey = tuple[int | str, ...]


def plan(since: int | None, until: int | None, grains: Sequence[Grain]) -> list[Piece]:
    """Pieces covering ``[since, until)``, coarsest grain first where it fits."""
    if not grains:
        raise ValueError(f"no grain covers [{since}, {until})")
    grain, finer = grains[0], grains[1:]
    size = grain.seconds
    start = None if since is None else -(-since // size) * size
    end = None if until is None else until // size * size
    if start is not None and end is not None and start >= end:
        return plan(since, until, finer) if since != until else []
    pieces = [Piece(grain, start, end)]
    if since is not None and start is not None and since < start:
        pieces += plan(since, start, finer)
    if until is not None and end is not None and end < until:
        pieces += plan(end, until, finer)
    return pieces


def grains_for(bucket: Bucket) -> tuple[Grain, ...]:
    """The grains whose buckets nest in ``bucket``'s, coarsest first."""
    if bucket.grain is None:
        return GRAINS
    return tuple(g for g in GRAINS if g.seconds <= bucket.grain.seconds)


def choose_tables(query: SpendQuery) -> tuple[Cube, list[Piece]]:
    """The smallest cube with the query's dimensions whose grains cover its window,
    and the pieces to read from it (the full cube has every grain)."""
    wanted = [*query.by, *(d for d, _ in query.filters)]
    for cube in CUBES:
        if not cube.covers(wanted):
            continue
        grains = [g for g in grains_for(query.bucket) if g in cube.grains]
        try:
            return cube, plan(query.since, query.until, grains)
        except ValueError:
            continue
    raise ValueError(f"no rollup covers [{query.since}, {query.until}) in minutes")


class Order(enum.Enum):
    KEY = "key"
    """By bucket, then dimension values (pages follow this order)."""
    COST = "cost"
    """Biggest cost first (unpriced last), then most calls, then values by code
    point with a missing value last: the order a report shows, made in SQL."""


def run_spend(
    engine: Engine,
    query: SpendQuery,
    *,
    limit: int | None = None,
    after: RowKey | None = None,
    order: Order = Order.KEY,
) -> list[SpendRow]:
    """Rows in ``order``; at most ``limit`` (cut by the database), after ``after``
    (the key of the last row of the previous page, Order.KEY only)."""
    build = _row_builder(query)
    return [build(row) for row in spend_tuples(engine, query, limit, after, order)]


def spend_tuples(
    engine: Engine,
    query: SpendQuery,
    limit: int | None = None,
    after: RowKey | None = None,
    order: Order = Order.KEY,
) -> Sequence[Sequence[Any]]:
    """``run_spend``'s rows as the database returns them: the bucket start (if
    bucketed), the dimension values ('' where missing), then ``query.measures``.

    Sums come back as BIGINT (PostgreSQL would widen them to NUMERIC, a Decimal
    per value); a sum past 2^63 is asked for again as NUMERIC.
    """
    with engine.connect() as conn:
        try:
            stmt = _spend_statement(engine, query, limit, after, order, as_bigint=True)
            return conn.execute(stmt).all() if stmt is not None else []
        except DataError:  # numeric value out of range: rare, so tried second
            conn.rollback()
            stmt = _spend_statement(engine, query, limit, after, order, as_bigint=False)
            return conn.execute(stmt).all() if stmt is not None else []


def _spend_statement(
    engine: Engine,
    query: SpendQuery,
    limit: int | None,
    after: RowKey | None,
    order: Order,
    *,
    as_bigint: bool,
) -> Select[Any] | None:
    cube, pieces = choose_tables(query)
    inner = [_piece_select(query, cube, piece, after) for piece in pieces]
    if not inner:
        return None
    union = union_all(*inner).subquery()
    keys = _key_names(query)
    sums = [
        (
            cast(func.sum(union.c[m]), BigInteger)
            if as_bigint
            else func.sum(union.c[m])
        ).label(m)
        for m in query.measures
    ]
    stmt = select(*(union.c[k] for k in keys), *sums).group_by(
        *(union.c[k] for k in keys)
    )
    if order is Order.COST:
        cost = sums[query.measures.index("cost_nanos")]
        calls = sums[query.measures.index("calls")]
        stmt = stmt.order_by(cost.desc().nulls_last(), calls.desc())
        for key in keys:  # then values as text, a missing one ('') after the rest
            column = union.c[key]
            if key != "bucket_start":
                text = by_code_point(column, engine.dialect.name)
                stmt = stmt.order_by(column == NO_VALUE, text)
            else:
                stmt = stmt.order_by(column)
    else:
        stmt = stmt.order_by(*(union.c[k] for k in keys))
    if limit is not None:
        stmt = stmt.limit(limit)
    return stmt


def row_key(query: SpendQuery, row: SpendRow) -> RowKey:
    values = tuple(NO_VALUE if v is None else v for v in row.values)
    if query.bucket is Bucket.NONE:
        return values
    assert row.bucket_start is not None
    return (row.bucket_start, *values)


def _key_names(query: SpendQuery) -> list[str]:
    names = [d.value for d in query.by]
    return names if query.bucket is Bucket.NONE else ["bucket_start", *names]


def _piece_select(
    query: SpendQuery, cube: Cube, piece: Piece, after: RowKey | None
) -> Select[*tuple[Any, ...]]:
    table = rollups[cube.table_name(piece.grain)]
    time = table.c[piece.grain.column]
    columns: list[ColumnElement[object]] = []
    grain = query.bucket.grain
    if grain is not None:
        bucket = time if grain is piece.grain else time - time % grain.seconds
        columns.append(bucket.label("bucket_start"))
    columns += [table.c[d.value] for d in query.by]
    columns += [table.c[m] for m in query.measures]
    conditions: list[ColumnElement[bool]] = []
    if piece.start is not None:
        conditions.append(time >= piece.start)
    if piece.end is not None:
        conditions.append(time < piece.end)
    for dim, value in query.filters:
        conditions.append(table.c[dim.value] == (NO_VALUE if value is None else value))
    if after is not None:
        conditions.append(tuple_(*columns[: len(after)]) > tuple_(*map(literal, after)))
    return select(*columns).where(*conditions) if conditions else select(*columns)


def _row_builder(query: SpendQuery) -> Callable[[Sequence[object]], SpendRow]:
    """Turns the query's result rows into ``SpendRow``; one runs per row, so what
    depends only on the query is worked out here, once."""
    offset = 0 if query.bucket is Bucket.NONE else 1
    split = offset + len(query.by)
    positions = [MEASURES.index(m) for m in query.measures]
    empty: list[int | None] = [None] * len(MEASURES)
    calls, unpriced = MEASURES.index("calls"), MEASURES.index("unpriced_calls")

    def build(row: Sequence[object]) -> SpendRow:
        values = tuple(
            [None if v is None or v == NO_VALUE else str(v) for v in row[offset:split]]
        )
        sums = empty.copy()
        for position, value in zip(positions, row[split:], strict=True):
            sums[position] = value if type(value) is int else as_int(value)
        sums[calls] = sums[calls] or 0
        sums[unpriced] = sums[unpriced] or 0
        start = as_int(row[0]) if offset else None
        return SpendRow(start, values, Measures(*sums))  # type: ignore[arg-type]

    return build


def _dimension_value(value: object) -> str | None:
    return None if value is None or value == NO_VALUE else str(value)


def as_int(value: object) -> int | None:
    """A SUM as int: SQLite gives int, PostgreSQL gives Decimal for BIGINT sums."""
    if value is None:
        return None
    if isinstance(value, int | Decimal):
        return int(value)
    raise TypeError(f"a rollup sum is {type(value).__name__}, expected an integer")
