"""The engine's Prometheus metrics, one registry per app (``GET /metrics``).

Counters are per process: with several replicas, Prometheus sums them. Names follow
``spendtap_<noun>_<unit>_total``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from spendtap.engine.store import StoreResult

CONTENT_TYPE = CONTENT_TYPE_LATEST


class EngineMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events_accepted = Counter(
            "spendtap_events_accepted_total", "Usage events stored", registry=r
        )
        self.events_duplicate = Counter(
            "spendtap_events_duplicate_total",
            "Usage events not stored again: id already known, or the same call "
            "from another capture source",
            registry=r,
        )
        self.events_cross_source = Counter(
            "spendtap_events_cross_source_duplicate_total",
            "Usage events linked to the same call from another capture source",
            registry=r,
        )
        self.events_clock_skewed = Counter(
            "spendtap_events_clock_skewed_total",
            "Usage events stored from a sender whose clock was off by over 300 s",
            registry=r,
        )
        self.batches = Counter(
            "spendtap_batches_ingested_total", "Batches stored", registry=r
        )
        self.batches_rejected = Counter(
            "spendtap_batches_rejected_total",
            "Batches refused, by error code",
            ["code"],
            registry=r,
        )
        self.store_seconds = Histogram(
            "spendtap_batch_store_seconds",
            "Time to store one batch, lock wait included",
            registry=r,
        )
        self.drops_recorded = Counter(
            "spendtap_drops_recorded_total", "Drop records received", registry=r
        )
        self.events_dropped = Counter(
            "spendtap_events_dropped_total",
            "Usage events collectors reported as dropped (sum of drop records)",
            registry=r,
        )
        self.requests_unauthorized = Counter(
            "spendtap_requests_unauthorized_total",
            "Requests refused with 401, by error code",
            ["code"],
            registry=r,
        )
        self.events_retired = Counter(
            "spendtap_events_retired_total",
            "Raw events removed by the retention policy (rollups keep their sums)",
            registry=r,
        )

    def stored(self, result: StoreResult, seconds: float) -> None:
        self.batches.inc()
        self.store_seconds.observe(seconds)
        self.events_accepted.inc(result.accepted)
        self.events_duplicate.inc(result.duplicates)
        self.events_cross_source.inc(result.cross_source_duplicates)
        self.events_clock_skewed.inc(result.clock_skewed)

    def rejected(self, code: str) -> None:
        self.batches_rejected.labels(code=code).inc()

    def unauthorized(self, code: str) -> None:
        self.requests_unauthorized.labels(code=code).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
