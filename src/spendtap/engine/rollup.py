"""Rollup arithmetic: which buckets an event falls in and the sums kept per bucket.

A rollup table holds, per time bucket (grain: minute, hour or day, UTC) and values of
a cube's dimensions, the sums of the measures. Four cubes are kept:

    core    model, provider, agent          minute, hour, day   (small whatever the
                                                                  head count)
    people  user, agent                     hour, day
    work    repo, ticket                    hour, day
    full    all six dimensions              minute, hour, day

A query reads the smallest cube that has the dimensions it needs and the grains its
window needs, so a 30-day report by user reads users x 30 daily rows, not one row
per call.

Sums are null-aware: a token total over calls that all reported null stays null (the
wire never said), while one known count makes the total a number. Cost follows the
same rule, and ``unpriced_calls`` counts the calls whose cost is null.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields

from spendtap.event import TOKEN_FIELDS


class Dimension(enum.StrEnum):
    """What a report can group by; each is a usage event field of the same name."""

    MODEL = "model"
    PROVIDER = "provider"
    AGENT = "agent"
    USER = "user"
    REPO = "repo"
    TICKET = "ticket"


DIMENSIONS: tuple[Dimension, ...] = tuple(Dimension)
#: How a missing (null or empty) dimension value is keyed in the rollup tables.
NO_VALUE = ""
NULLABLE_MEASURES: tuple[str, ...] = (*TOKEN_FIELDS, "cost_nanos", "agent_cost_nanos")
MEASURES: tuple[str, ...] = ("calls", *NULLABLE_MEASURES, "unpriced_calls")
#: One event's (or one bucket's) measures, in the order of MEASURES.
MeasureValues = tuple[int | None, ...]


class Grain(enum.StrEnum):
    """The time bucket of a rollup table."""

    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"

    @property
    def seconds(self) -> int:
        return _GRAIN_SECONDS[self]

    @property
    def column(self) -> str:
        """The table's bucket column: seconds since the epoch at the bucket start."""
        return f"{self.value}_start"


_GRAIN_SECONDS = {Grain.MINUTE: 60, Grain.HOUR: 3600, Grain.DAY: 86400}
#: Coarsest first: the order a query planner tries them in.
GRAINS: tuple[Grain, ...] = (Grain.DAY, Grain.HOUR, Grain.MINUTE)


@dataclass(frozen=True, slots=True)
class Cube:
    """A set of dimensions kept together in one rollup table per grain."""

    name: str
    dims: tuple[Dimension, ...]
    grains: tuple[Grain, ...] = GRAINS

    def table_name(self, grain: Grain) -> str:
        if grain not in self.grains:
            raise ValueError(f"the {self.name} cube has no {grain.value} table")
        if self.name == "full":  # the first engine's names, kept
            return {"minute": "rollup_minute", "hour": "rollup_hourly"}.get(
                grain.value, "rollup_daily"
            )
        suffix = {"minute": "minute", "hour": "hourly", "day": "daily"}[grain.value]
        return f"rollup_{self.name}_{suffix}"

    def covers(self, wanted: Iterable[Dimension]) -> bool:
        return set(wanted) <= set(self.dims)


_COARSE = (Grain.DAY, Grain.HOUR)
CORE = Cube("core", (Dimension.MODEL, Dimension.PROVIDER, Dimension.AGENT))
PEOPLE = Cube("people", (Dimension.USER, Dimension.AGENT), _COARSE)
WORK = Cube("work", (Dimension.REPO, Dimension.TICKET), _COARSE)
FULL = Cube("full", DIMENSIONS)
#: Smallest first: a query reads the first cube that covers what it needs.
CUBES: tuple[Cube, ...] = (CORE, PEOPLE, WORK, FULL)


def add_nullable(a: int | None, b: int | None) -> int | None:
    """``a + b`` where null means unknown: null only when both are."""
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def merge_into(total: list[int | None], more: Sequence[int | None]) -> None:
    """Add ``more`` to ``total`` in place, null-aware (the hot path of ingest)."""
    for index, value in enumerate(more):
        if value is not None:
            current = total[index]
            total[index] = value if current is None else current + value


@dataclass(frozen=True, slots=True)
class Measures:
    """The sums kept per rollup bucket (and returned per report row)."""

    calls: int = 0
    input_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_5m_tokens: int | None = None
    cache_write_1h_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    web_search_requests: int | None = None
    cost_nanos: int | None = None
    agent_cost_nanos: int | None = None
    unpriced_calls: int = 0

    @classmethod
    def of_sums(cls, sums: Mapping[str, int | None]) -> Measures:
        """Measures from a mapping with every name in MEASURES (a rollup row)."""
        values = {name: sums[name] for name in MEASURES}
        values["calls"] = values["calls"] or 0
        values["unpriced_calls"] = values["unpriced_calls"] or 0
        return cls(**values)  # type: ignore[arg-type]

    def plus(self, other: Measures) -> Measures:
        total = list(self.as_values())
        merge_into(total, other.as_values())
        return Measures.of_sums(dict(zip(MEASURES, total, strict=True)))

    def as_values(self) -> MeasureValues:
        """The sums in the order of MEASURES (also the fields' order)."""
        return (
            self.calls,
            self.input_tokens,
            self.cache_read_tokens,
            self.cache_write_5m_tokens,
            self.cache_write_1h_tokens,
            self.output_tokens,
            self.reasoning_tokens,
            self.web_search_requests,
            self.cost_nanos,
            self.agent_cost_nanos,
            self.unpriced_calls,
        )

    def as_row(self) -> dict[str, int | None]:
        return dict(zip(MEASURES, self.as_values(), strict=True))


if tuple(f.name for f in fields(Measures)) != MEASURES:  # pragma: no cover
    raise ImportError("Measures' fields must be MEASURES, in order (rows build on it)")

#: A rollup row as a tuple: bucket start, the cube's dimension values, MEASURES.
RollupRow = tuple[int | str | None, ...]
_DIM_INDEX = {d: i for i, d in enumerate(DIMENSIONS)}


class RollupDeltas:
    """Corrections to add to the rollup tables, built up change by change.

    Ingest adds new events to the rollups in SQL (rollup_sql.py); this is for the
    rest, such as an agent cost filled in on an event stored earlier. Changes go into
    the full cube by minute; the other buckets and cubes are derived from those.
    """

    def __init__(self) -> None:
        self._minutes: dict[tuple[int | str, ...], list[int | None]] = {}

    def add(self, started_s: int, dims: Sequence[str], values: MeasureValues) -> None:
        """Add one event (or a correction) at ``started_s`` with all six ``dims``."""
        key: tuple[int | str, ...] = (started_s - started_s % 60, *dims)
        total = self._minutes.get(key)
        if total is None:
            self._minutes[key] = list(values)
        else:
            merge_into(total, values)

    def __bool__(self) -> bool:
        return bool(self._minutes)

    def tables(self) -> list[tuple[str, list[RollupRow]]]:
        """(table name, rows sorted by key) for every rollup table, in one order.

        Writers lock rows in this order, so concurrent batches cannot deadlock.
        """
        out: list[tuple[str, list[RollupRow]]] = []
        for cube in CUBES:
            indexes = [1 + _DIM_INDEX[d] for d in cube.dims]
            for grain in cube.grains:
                rows = _regroup(self._minutes, grain.seconds, indexes)
                out.append((cube.table_name(grain), rows))
        return out


def _regroup(
    minutes: Mapping[tuple[int | str, ...], list[int | None]],
    seconds: int,
    indexes: Sequence[int],
) -> list[RollupRow]:
    groups: dict[tuple[int | str, ...], list[int | None]] = {}
    for key, values in minutes.items():
        start = key[0]
        assert isinstance(start, int)
        new_key = (start - start % seconds, *(key[i] for i in indexes))
        total = groups.get(new_key)
        if total is None:
            groups[new_key] = list(values)
        else:
            merge_into(total, values)
    return [(*key, *values) for key, values in sorted(groups.items())]


def dimension_values(fields: Mapping[str, object]) -> tuple[str, ...]:
    """The six dimension values of an event row, NO_VALUE where missing."""
    return tuple(str(fields[d.value] or NO_VALUE) for d in DIMENSIONS)
