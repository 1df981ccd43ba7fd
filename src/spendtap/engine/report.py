"""The report query: sums per chosen dimensions over a time window, from rollups only.

The window is matched at the rollup's grain, the UTC hour: a bucket counts when it
overlaps ``[since, until)``, so ``since`` is in effect rounded down to its hour.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Engine, Row, func, select

from spendtap.engine.money import nanos_to_usd
from spendtap.engine.rollup import DIMENSIONS, MEASURES, NO_VALUE, Dimension, Measures
from spendtap.engine.tables import rollup_hourly
from spendtap.engine.timestamps import hour_start

#: The token sums a report shows, in order (web searches stay in the rollup only).
REPORTED_TOKENS: tuple[str, ...] = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
)
ALLOWED_BY = ", ".join(DIMENSIONS)


@dataclass(frozen=True, slots=True)
class ReportQuery:
    by: tuple[Dimension, ...]
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class ReportRow:
    values: tuple[str | None, ...]
    """One value per dimension of the query, in its order; None where unknown."""
    measures: Measures


@dataclass(frozen=True, slots=True)
class Report:
    by: tuple[Dimension, ...]
    rows: tuple[ReportRow, ...]
    totals: Measures

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(d.value for d in self.by)

    def to_json(self) -> dict[str, object]:
        """``{"rows": [...], "totals": {...}}`` with costs as exact Decimals."""
        rows = [
            dict(zip(self.names, row.values, strict=True)) | measures_json(row.measures)
            for row in self.rows
        ]
        return {"rows": rows, "totals": measures_json(self.totals)}


def measures_json(measures: Measures) -> dict[str, object]:
    cost = measures.cost_nanos
    out: dict[str, object] = {"calls": measures.calls}
    out.update({name: getattr(measures, name) for name in REPORTED_TOKENS})
    out["cost_usd"] = None if cost is None else nanos_to_usd(cost)
    out["unpriced_calls"] = measures.unpriced_calls
    return out


def parse_dimensions(text: str) -> tuple[Dimension, ...]:
    """``model,provider`` as dimensions, in order, without repeats; else ValueError."""
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    if not names:
        raise ValueError(f"no dimension given; the allowed values are {ALLOWED_BY}")
    unknown = [name for name in names if name not in DIMENSIONS]
    if unknown:
        raise ValueError(
            f"unknown dimension {unknown[0]!r}; the allowed values are {ALLOWED_BY}"
        )
    return tuple(dict.fromkeys(Dimension(name) for name in names))


def run_report(engine: Engine, query: ReportQuery) -> Report:
    """Sums per distinct value of ``query.by`` in the window, biggest cost first."""
    keys = [rollup_hourly.c[d.value] for d in query.by]
    sums = [func.sum(rollup_hourly.c[name]).label(name) for name in MEASURES]
    stmt = select(*keys, *sums).group_by(*keys)
    if query.since is not None:
        stmt = stmt.where(rollup_hourly.c.hour_start >= hour_start(query.since))
    if query.until is not None:
        stmt = stmt.where(
            rollup_hourly.c.hour_start < math.ceil(query.until.timestamp())
        )
    with engine.connect() as conn:
        rows = [_report_row(row, len(keys)) for row in conn.execute(stmt)]
    rows.sort(key=_biggest_first)
    totals = Measures()
    for row in rows:
        totals = totals.plus(row.measures)
    return Report(by=query.by, rows=tuple(rows), totals=totals)


def _report_row(row: Row[tuple[object, ...]], key_count: int) -> ReportRow:
    values = tuple(_dimension_value(v) for v in row[:key_count])
    sums = dict(zip(MEASURES, (_as_int(v) for v in row[key_count:]), strict=True))
    return ReportRow(values=values, measures=Measures.of_sums(sums))


def _dimension_value(value: object) -> str | None:
    return None if value is None or value == NO_VALUE else str(value)


def _as_int(value: object) -> int | None:
    """A SUM as int: SQLite gives int, PostgreSQL gives Decimal for BIGINT sums."""
    if value is None:
        return None
    if isinstance(value, int | Decimal):
        return int(value)
    raise TypeError(f"a rollup sum is {type(value).__name__}, expected an integer")


def _biggest_first(row: ReportRow) -> tuple[bool, int, int, Sequence[tuple[bool, str]]]:
    cost = row.measures.cost_nanos
    order = [(value is None, value or "") for value in row.values]
    return (cost is None, -(cost or 0), -row.measures.calls, order)
