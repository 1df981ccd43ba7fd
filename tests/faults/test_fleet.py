"""50 collectors ship to one engine at once: it stores exactly what they sent.

The same code as benchmarks/delivery/fleet.py (which measures BENCHMARKS.md's
throughput), at a test's size.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from tests.support.processes import EngineProcess

COLLECTORS = 50


def test_fifty_collectors_at_once_store_exactly_the_distinct_events_sent(
    tmp_path: Path, engine: EngineProcess, fleet: ModuleType
) -> None:
    result = fleet.measure(
        engine, tmp_path, collectors=COLLECTORS, seconds=4.0, rate=40.0, overlap=0.1
    )

    assert result.collectors == COLLECTORS
    assert result.distinct >= COLLECTORS * 4 * 40 * 0.9  # the load really ran
    assert result.sent > result.distinct  # copies between collectors were sent
    assert result.stored_rows == result.distinct_stored == result.distinct
    assert result.reported_calls == result.distinct
    assert result.duplicates_answered >= result.sent - result.distinct
    assert result.exact
