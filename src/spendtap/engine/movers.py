"""Top movers: whose spend changed most between a window and the one before it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Engine

from spendtap.engine.money import nanos_to_usd
from spendtap.engine.query import Bucket, SpendQuery, run_spend
from spendtap.engine.rollup import Dimension, Measures

_RATIO_PLACES = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class Mover:
    values: tuple[str | None, ...]
    current: Measures
    previous: Measures

    @property
    def change_nanos(self) -> int:
        return (self.current.cost_nanos or 0) - (self.previous.cost_nanos or 0)

    @property
    def change_ratio(self) -> Decimal | None:
        """The change as a share of the previous spend; None when that was 0."""
        before = self.previous.cost_nanos or 0
        if before == 0:
            return None
        return (Decimal(self.change_nanos) / before).quantize(_RATIO_PLACES)

    def to_json(self, names: tuple[str, ...]) -> dict[str, object]:
        def usd(nanos: int | None) -> Decimal | None:
            return None if nanos is None else nanos_to_usd(nanos)

        return dict(zip(names, self.values, strict=True)) | {
            "cost_usd": usd(self.current.cost_nanos),
            "previous_cost_usd": usd(self.previous.cost_nanos),
            "change_usd": nanos_to_usd(self.change_nanos),
            "change_ratio": self.change_ratio,
            "calls": self.current.calls,
            "previous_calls": self.previous.calls,
        }


def top_movers(
    engine: Engine,
    by: tuple[Dimension, ...],
    window: tuple[int, int, int],
    filters: tuple[tuple[Dimension, str | None], ...],
    limit: int,
) -> list[Mover]:
    """The ``limit`` groups whose cost changed most from ``[previous, current)`` to
    ``[current, until)`` (``window``, seconds), biggest absolute change first."""
    previous, current, until = window
    now = _sums(engine, SpendQuery(by, Bucket.NONE, current, until, filters))
    before = _sums(engine, SpendQuery(by, Bucket.NONE, previous, current, filters))
    movers = [
        Mover(values, now.get(values, Measures()), before.get(values, Measures()))
        for values in now.keys() | before.keys()
    ]
    movers.sort(
        key=lambda m: (-abs(m.change_nanos), [(v is None, v or "") for v in m.values])
    )
    return [m for m in movers if m.change_nanos != 0][:limit]


def _sums(engine: Engine, query: SpendQuery) -> dict[tuple[str | None, ...], Measures]:
    return {row.values: row.measures for row in run_spend(engine, query)}
