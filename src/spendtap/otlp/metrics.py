"""Running totals of the agents' own token and cost metrics, to check events by.

Claude Code exports ``claude_code.token.usage`` (attribute ``type``: ``input``,
``output``, ``cacheRead``, ``cacheCreation``) and ``claude_code.cost.usage`` (USD)
as sums; Codex exports ``codex.turn.token_usage`` (attribute ``token_type``) as a
histogram. Any sum or histogram whose name ends in ``token.usage`` or
``token_usage`` counts as tokens, and one ending in ``cost.usage`` as dollars.

Sums come as deltas (Claude Code's default) or cumulative values: a delta is
added; a cumulative series (its metric, attributes and start time) keeps its
latest value, and the total is the sum over series.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    Metric,
    NumberDataPoint,
)

from spendtap.otlp.values import attributes

TOKEN_SUFFIXES = ("token.usage", "token_usage")
COST_SUFFIX = "cost.usage"
TYPE_ATTRIBUTES = ("type", "token_type")
CUMULATIVE = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE

#: (service, token type) -> tokens; service -> USD.
TokenTotals = dict[tuple[str, str], int]
CostTotals = dict[str, Decimal]


@dataclass(frozen=True, slots=True)
class MetricSnapshot:
    tokens: TokenTotals
    cost_usd: CostTotals
    points: int


@dataclass(frozen=True, slots=True)
class _Point:
    series: tuple[object, ...]
    service: str
    kind: str  # a token type, or "cost"
    value: Decimal
    cumulative: bool


class MetricTotals:
    """Adds up metric requests; safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deltas: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        self._latest: dict[tuple[object, ...], _Point] = {}
        self._points = 0

    def add(self, request: ExportMetricsServiceRequest) -> int:
        """Take a metrics request; returns how many token or cost points it had."""
        points = list(_points(request))
        with self._lock:
            for point in points:
                if point.cumulative:
                    self._latest[point.series] = point
                else:
                    self._deltas[(point.service, point.kind)] += point.value
            self._points += len(points)
        return len(points)

    def snapshot(self) -> MetricSnapshot:
        with self._lock:
            sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal, self._deltas)
            for point in self._latest.values():
                sums[(point.service, point.kind)] += point.value
            points = self._points
        tokens = {k: int(v) for k, v in sums.items() if k[1] != "cost"}
        cost = {service: v for (service, kind), v in sums.items() if kind == "cost"}
        return MetricSnapshot(tokens, cost, points)


def _points(request: ExportMetricsServiceRequest) -> Iterator[_Point]:
    for resource_metrics in request.resource_metrics:
        resource = attributes(resource_metrics.resource.attributes)
        service = str(resource.get("service.name") or "unknown")
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                yield from _metric_points(metric, service)


def _metric_points(metric: Metric, service: str) -> Iterable[_Point]:
    is_cost = metric.name.endswith(COST_SUFFIX)
    if not (is_cost or metric.name.endswith(TOKEN_SUFFIXES)):
        return []
    kind = metric.WhichOneof("data")
    if kind == "sum":
        temporality, rows = metric.sum.aggregation_temporality, metric.sum.data_points
        values = [(p.attributes, p.start_time_unix_nano, _number(p)) for p in rows]
    elif kind == "histogram":
        temporality = metric.histogram.aggregation_temporality
        rows_h = metric.histogram.data_points
        values = [
            (p.attributes, p.start_time_unix_nano, _decimal(p.sum)) for p in rows_h
        ]
    else:
        return []
    points = []
    for attrs_raw, start, value in values:
        attrs = attributes(attrs_raw)
        label = "cost" if is_cost else _token_type(attrs)
        series = (
            metric.name,
            start,
            tuple(sorted((k, str(v)) for k, v in attrs.items())),
        )
        points.append(_Point(series, service, label, value, temporality == CUMULATIVE))
    return points


def _number(point: NumberDataPoint) -> Decimal:
    if point.WhichOneof("value") == "as_int":
        return Decimal(point.as_int)
    return _decimal(point.as_double)


def _decimal(value: float) -> Decimal:
    return Decimal(repr(value))


def _token_type(attrs: dict[str, object]) -> str:
    for name in TYPE_ATTRIBUTES:
        value = attrs.get(name)
        if isinstance(value, str) and value:
            return value
    return "total"
