"""Prometheus metrics of a running collector, on ``--metrics-listen HOST:PORT``.

Values are read when scraped, from the pipeline's counters, the spool and the
shipper; nothing is counted twice. Counters (``_total``):

    spendtap_collector_calls_total              AI calls the proxy captured
    spendtap_collector_spooled_events_total     usage events written to the spool
    spendtap_collector_dropped_calls_total      dropped calls, by ``reason`` (every
                                                drop on record in this spool)
    spendtap_collector_spool_write_errors_total spool writes that failed
    spendtap_collector_barrier_timeouts_total   responses released before their
                                                event was confirmed spooled
    spendtap_shipper_shipped_events_total       events the engine acknowledged
    spendtap_shipper_batches_total              batches the engine acknowledged
    spendtap_shipper_failures_total             posts that failed
    spendtap_shipper_duplicate_events_total     re-sent events the engine already had

Gauges: ``spendtap_spool_depth_events``, ``spendtap_spool_size_bytes``,
``spendtap_spool_oldest_event_age_seconds``, ``spendtap_spool_dead_events``,
``spendtap_shipper_last_success_timestamp_seconds``,
``spendtap_shipper_consecutive_failures``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from spendtap.collector.pipeline import Pipeline
from spendtap.delivery.shipper import Shipper
from spendtap.delivery.spool import Spool
from spendtap.errors import ConfigError, SpoolError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MetricSources:
    pipeline: Pipeline
    spool: Spool
    shipper: Shipper | None
    barrier_timeouts: Callable[[], int]


class CollectorMetrics(Collector):
    """A prometheus_client collector that reads the sources at each scrape."""

    def __init__(self, sources: MetricSources) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        yield from self._pipeline()
        yield from self._spool()
        yield from self._shipper()

    def _pipeline(self) -> Iterator[Metric]:
        counters = self.sources.pipeline.counters
        yield _counter("collector_calls", "AI calls the proxy captured", counters.calls)
        yield _counter(
            "collector_spooled_events",
            "usage events written to the spool",
            counters.spooled,
        )
        yield _counter(
            "collector_spool_write_errors",
            "spool writes that failed (full disk, I/O error)",
            counters.spool_errors,
        )
        yield _counter(
            "collector_barrier_timeouts",
            "responses released before their event was confirmed spooled",
            self.sources.barrier_timeouts(),
        )

    def _spool(self) -> Iterator[Metric]:
        try:
            stats = self.sources.spool.stats()
        except SpoolError as exc:
            log.warning("collector.metrics.spool_unreadable error=%s", exc)
            return
        dropped = CounterMetricFamily(
            "spendtap_collector_dropped_calls",
            "calls dropped, by reason",
            labels=["reason"],
        )
        by_reason = dict(stats.dropped_by_reason)
        for pending, count in self.sources.pipeline.drops.pending_by_reason().items():
            by_reason[pending.value] = by_reason.get(pending.value, 0) + count
        for reason, count in sorted(by_reason.items()):
            dropped.add_metric([reason], count)
        yield dropped
        yield _gauge("spool_depth_events", "events waiting to be shipped", stats.depth)
        yield _gauge("spool_size_bytes", "bytes of events waiting", stats.bytes)
        yield _gauge("spool_dead_events", "events the engine refused", stats.dead)
        oldest = stats.oldest_created_at
        age = time.time() - oldest.timestamp() if oldest else 0.0
        yield _gauge(
            "spool_oldest_event_age_seconds", "age of the oldest unsent event", age
        )

    def _shipper(self) -> Iterator[Metric]:
        if self.sources.shipper is None:
            return
        stats = self.sources.shipper.stats()
        yield _counter(
            "shipper_shipped_events", "events the engine acknowledged", stats.shipped
        )
        yield _counter(
            "shipper_batches", "batches the engine acknowledged", stats.batches
        )
        yield _counter("shipper_failures", "posts that failed", stats.failures)
        yield _counter(
            "shipper_duplicate_events",
            "events sent again that the engine already had",
            stats.duplicates,
        )
        last = stats.last_success_at.timestamp() if stats.last_success_at else 0.0
        yield _gauge(
            "shipper_last_success_timestamp_seconds",
            "when the engine last acknowledged a batch (0: never)",
            last,
        )
        yield _gauge(
            "shipper_consecutive_failures",
            "failed posts since the last success",
            stats.consecutive_failures,
        )


class MetricsServer:
    """Serves ``/metrics`` on ``host:port`` (port 0: a free one) until ``stop()``."""

    def __init__(self, host: str, port: int, sources: MetricSources) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(CollectorMetrics(sources))
        self._host = host
        self._port = port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        port = self._server.server_port if self._server else self._port
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{port}/metrics"

    def start(self) -> None:
        try:
            self._server, self._thread = start_http_server(
                self._port, self._host, registry=self.registry
            )
        except OSError as exc:
            raise ConfigError(
                f"--metrics-listen {self._host}:{self._port}: cannot listen there "
                f"({exc.strerror}); pick another address or port"
            ) from exc
        log.info("collector.metrics.listening url=%s", self.url)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(f"spendtap_{name}", documentation, value=value)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"spendtap_{name}", documentation, value=value)
