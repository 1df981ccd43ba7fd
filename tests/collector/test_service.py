"""The collector as a whole: one per data dir, metrics, and traffic through a full disk."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from spendtap.capture.routing import UpstreamMap
from spendtap.collector.service import Collector, CollectorConfig
from spendtap.errors import ConfigError
from spendtap.simulator.certs import TestPKI
from tests.collector.test_spool_barrier import PIECES, Fetch, upstream_for


def metrics(collector: Collector) -> dict[str, float]:
    assert collector.metrics is not None
    text = httpx.get(collector.metrics.url, timeout=5).text
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            values[sample.name + (f"{{{labels}}}" if labels else "")] = sample.value
    return values


def test_a_second_collector_on_the_same_data_dir_is_refused(
    tmp_path: Path, pki: TestPKI
) -> None:
    config = CollectorConfig(data_dir=tmp_path / "data", listen_port=0)
    first = Collector(config)
    try:
        with pytest.raises(ConfigError, match=r"another collector \(pid \d+\)"):
            Collector(config)
    finally:
        first.stop()
    Collector(config).stop()  # released by stop()


def test_metrics_show_calls_spool_depth_and_nothing_dropped(
    pki: TestPKI, make_collector: Any
) -> None:
    with upstream_for(pki) as upstream:
        collector = make_collector(
            {"api.anthropic.com": upstream.port}, metrics_listen=("127.0.0.1", 0)
        )
        Fetch(collector).run()
        Fetch(collector).run()

    got = metrics(collector)
    assert got["spendtap_collector_calls_total"] == 2
    assert got["spendtap_collector_spooled_events_total"] == 2
    assert got["spendtap_spool_depth_events"] == 2  # no engine: they wait
    assert got["spendtap_spool_size_bytes"] > 0
    assert got["spendtap_collector_spool_write_errors_total"] == 0
    assert not any(k.startswith("spendtap_collector_dropped_calls_total") for k in got)


def test_a_full_disk_costs_records_not_requests(
    pki: TestPKI, make_collector: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Capping the file at its page count makes SQLite answer "database or disk is
    # full" whenever a write needs a new page (small writes may still fit in free
    # space, so some calls may be kept). tests/faults fills a real disk instead.
    with upstream_for(pki) as upstream:
        collector = make_collector(
            {"api.anthropic.com": upstream.port}, metrics_listen=("127.0.0.1", 0)
        )
        db = collector.spool._db
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count={pages}")

        with caplog.at_level(logging.ERROR, logger="spendtap.collector.pipeline"):
            fetches = [Fetch(collector) for _ in range(5)]
            for fetch in fetches:
                fetch.run()
        during = metrics(collector)
        dropped = collector.pipeline.counters.dropped

        db.execute("PRAGMA max_page_count=1073741823")  # space is back
        after = Fetch(collector)
        after.run()

    assert all(f.body == b"".join(PIECES) for f in fetches)  # traffic unharmed
    assert dropped >= 1
    assert during["spendtap_collector_spool_write_errors_total"] >= 1
    label = "spendtap_collector_dropped_calls_total{reason=spool_unwritable}"
    assert during[label] == dropped
    errors = [r.getMessage() for r in caplog.records]
    assert any(
        "disk holding it is full" in e and "proxy=forwarding" in e for e in errors
    )
    assert after.body == b"".join(PIECES)
    # every call is an event or a counted drop
    assert collector.spool.dropped_by_reason() == {"spool_unwritable": dropped}
    assert collector.spool.depth() + dropped == 6


def test_collector_config_defaults_keep_the_barrier_on(tmp_path: Path) -> None:
    config = CollectorConfig(data_dir=tmp_path, upstreams=UpstreamMap({}))
    assert config.spool_barrier_s == 1.0
    assert config.metrics_listen is None
