"""The report: sums per chosen dimensions over a time window, biggest cost first.

The window is matched at the hour, as the first engine did: ``since`` is rounded
down and ``until`` up to a whole UTC hour. The sums come from the rollups
(:mod:`spendtap.engine.query`); the totals also say how many events collectors
reported as dropped in the window (drop records).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from spendtap.engine.drops import dropped_in_window
from spendtap.engine.money import nanos_to_usd
from spendtap.engine.query import (
    Bucket,
    Order,
    SpendQuery,
    as_int,
    run_spend,
    spend_tuples,
)
from spendtap.engine.rollup import (
    DIMENSIONS,
    MEASURES,
    NO_VALUE,
    Dimension,
    Measures,
)

#: The token sums a report shows, in order (web searches stay in the rollup only).
REPORTED_TOKENS: tuple[str, ...] = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
)
#: The sums a report needs (web searches and agent cost are in /v1/spend only).
REPORT_MEASURES: tuple[str, ...] = (
    "calls",
    *REPORTED_TOKENS,
    "cost_nanos",
    "unpriced_calls",
)
#: The JSON name of each REPORT_MEASURES sum (cost is renamed and converted after).
_JSON_NAMES = tuple("cost_usd" if m == "cost_nanos" else m for m in REPORT_MEASURES)
ALLOWED_BY = ", ".join(DIMENSIONS)
_ONE = "(" + "|".join(DIMENSIONS) + ")"
#: A comma-separated list of dimensions, as a regular expression (for the spec).
BY_PATTERN = f"^{_ONE}(,{_ONE})*$"
_HOUR = 3600


@dataclass(frozen=True, slots=True)
class ReportQuery:
    by: tuple[Dimension, ...]
    since: datetime | None = None
    until: datetime | None = None


#: A report row: the dimensions by name, then the fields of ``measures_json``.
ReportRow = dict[str, object]


@dataclass(frozen=True, slots=True)
class Report:
    by: tuple[Dimension, ...]
    rows: tuple[ReportRow, ...]
    totals: Measures
    dropped_events: int = 0

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(d.value for d in self.by)

    def to_json(self) -> dict[str, object]:
        """``{"rows": [...], "totals": {...}}`` with costs as exact Decimals."""
        totals = measures_json(self.totals) | {"dropped_events": self.dropped_events}
        return {"rows": list(self.rows), "totals": totals}


def measures_json(measures: Measures) -> dict[str, object]:
    """The report's fields of ``measures``, in the order rows have them."""
    cost = measures.cost_nanos
    out: dict[str, object] = {"calls": measures.calls}
    out.update({name: getattr(measures, name) for name in REPORTED_TOKENS})
    out["cost_usd"] = None if cost is None else nanos_to_usd(cost)
    out["unpriced_calls"] = measures.unpriced_calls
    return out


def parse_dimensions(text: str, *, allow_none: bool = False) -> tuple[Dimension, ...]:
    """``model,provider`` as dimensions, in order, without repeats; else ValueError."""
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    if not names and not allow_none:
        raise ValueError(f"no dimension given; the allowed values are {ALLOWED_BY}")
    unknown = [name for name in names if name not in DIMENSIONS]
    if unknown:
        raise ValueError(
            f"unknown dimension {unknown[0]!r}; the allowed values are {ALLOWED_BY}"
        )
    return tuple(dict.fromkeys(Dimension(name) for name in names))


def hour_window(
    since: datetime | None, until: datetime | None
) -> tuple[int | None, int | None]:
    """``[since, until)`` widened to whole UTC hours, in seconds since the epoch."""
    start = None if since is None else int(since.timestamp()) // _HOUR * _HOUR
    end = None if until is None else -(-until.timestamp() // _HOUR) * _HOUR
    return start, None if end is None else int(end)


def run_report(engine: Engine, query: ReportQuery, limit: int | None = None) -> Report:
    """Sums per distinct value of ``query.by`` in the window, biggest cost first.

    With ``limit``, the database sorts and returns only the first rows, and the
    totals come from a second, ungrouped sum (so they still cover every row).
    Rows can number tens of thousands, so they go from the database's tuples
    straight to their JSON objects.
    """
    since, until = hour_window(query.since, query.until)
    spend = SpendQuery(query.by, Bucket.NONE, since, until, measures=REPORT_MEASURES)
    found = spend_tuples(engine, spend, limit=limit, order=Order.COST)
    names = tuple(d.value for d in query.by)
    rows = tuple(_report_row(names, row) for row in found)  # in the report's order
    if limit is None:
        totals = _column_sums(found, len(names))
    else:
        everything = SpendQuery((), Bucket.NONE, since, until, measures=REPORT_MEASURES)
        whole = run_spend(engine, everything)
        totals = whole[0].measures if whole else Measures()
    dropped = dropped_in_window(engine, since, until)
    return Report(by=query.by, rows=rows, totals=totals, dropped_events=dropped)


#: Where each REPORT_MEASURES sum goes in MEASURES.
_POSITIONS = tuple(MEASURES.index(m) for m in REPORT_MEASURES)
_COST_AT = REPORT_MEASURES.index("cost_nanos")


def _report_row(names: tuple[str, ...], row: Sequence[object]) -> ReportRow:
    count = len(names)
    out: ReportRow = {
        name: None if value is None or value == NO_VALUE else str(value)
        for name, value in zip(names, row[:count], strict=True)
    }
    sums = [v if type(v) is int or v is None else as_int(v) for v in row[count:]]
    cost = sums[_COST_AT]
    out.update(zip(_JSON_NAMES, sums, strict=True))
    out["calls"] = out["calls"] or 0
    out["unpriced_calls"] = out["unpriced_calls"] or 0
    out["cost_usd"] = None if cost is None else nanos_to_usd(cost)
    return out


def _column_sums(rows: Sequence[Sequence[object]], skip: int) -> Measures:
    """The null-aware sum of every row's measures (those after ``skip`` values):
    null only where every row's is."""
    if not rows:
        return Measures()
    total: list[int | None] = [None] * len(MEASURES)
    columns = list(zip(*rows, strict=True))[skip:]
    for position, column in zip(_POSITIONS, columns, strict=True):
        known = [as_int(v) for v in column if v is not None]
        total[position] = sum(known) if known else None  # type: ignore[arg-type]
    return Measures.of_sums(dict(zip(MEASURES, total, strict=True)))
