"""Drop records: calls we saw but could not keep, counted so the engine shows the gap.

A drop record says how many calls were lost, why, and between which times:

    {"drop_id": "7c0e...", "device_id": "3f2a...", "count": 12,
     "reason": "queue_full", "first_at": "2026-01-05T09:00:01.120Z",
     "last_at": "2026-01-05T09:00:03.870Z"}

Drops happen in two places. The spool drops the oldest events when a bound forces it
and writes the record in the same transaction. The collector's pipeline drops a call
when its queue is full, a parser failed, or the spool could not be written; those are
tallied in memory (:class:`DropTally`) and written to the spool as records once it
can take them. The shipper sends unshipped records to ``POST /v1/drops``, which is
idempotent by ``drop_id``.
"""

from __future__ import annotations

import enum
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from spendtap.collector.timefmt import rfc3339


class DropReason(enum.StrEnum):
    """Why calls were dropped (the ``reason`` of a drop record)."""

    SPOOL_MAX_AGE = "spool_max_age"  # queued longer than the spool's age bound
    SPOOL_MAX_EVENTS = "spool_max_events"  # the spool held its most events
    SPOOL_MAX_BYTES = "spool_max_bytes"  # the spool reached its size bound
    QUEUE_FULL = "queue_full"  # the collector's pipeline queue was full
    PARSE_FAILED = "parse_failed"  # a parser could not read the call
    SPOOL_UNWRITABLE = "spool_unwritable"  # the spool refused a write (disk full...)
    INTERNAL_ERROR = "internal_error"  # a collector fault building the event


@dataclass(frozen=True, slots=True)
class DropRecord:
    """``count`` calls dropped for ``reason`` between ``first_at`` and ``last_at``.

    Times are Unix epoch seconds.
    """

    drop_id: str
    reason: DropReason
    count: int
    first_at: float
    last_at: float

    def to_json(self, device_id: str | None) -> dict[str, Any]:
        """The record as ``POST /v1/drops`` takes it."""
        return {
            "drop_id": self.drop_id,
            "device_id": device_id,
            "count": self.count,
            "reason": self.reason.value,
            "first_at": rfc3339(self.first_at),
            "last_at": rfc3339(self.last_at),
        }


def new_drop_id() -> str:
    return str(uuid.uuid4())


@dataclass(slots=True)
class _Window:
    count: int
    first_at: float
    last_at: float


class DropTally:
    """Counts drops in memory until they can be written; safe from any thread."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._open: dict[DropReason, _Window] = {}
        self._totals: dict[DropReason, int] = {}

    def add(self, reason: DropReason, count: int = 1) -> None:
        now = self._clock()
        with self._lock:
            self._totals[reason] = self._totals.get(reason, 0) + count
            window = self._open.get(reason)
            if window is None:
                self._open[reason] = _Window(count, now, now)
            else:
                window.count += count
                window.first_at = min(window.first_at, now)
                window.last_at = max(window.last_at, now)

    def pending(self) -> int:
        """Dropped calls not yet handed over as records."""
        with self._lock:
            return sum(w.count for w in self._open.values())

    def pending_by_reason(self) -> dict[DropReason, int]:
        with self._lock:
            return {reason: w.count for reason, w in self._open.items()}

    def totals(self) -> dict[DropReason, int]:
        """Every drop this tally has seen, by reason (for metrics)."""
        with self._lock:
            return dict(self._totals)

    def drain(self) -> list[DropRecord]:
        """The pending drops as records (one per reason); the tally starts afresh."""
        with self._lock:
            windows, self._open = self._open, {}
        return [
            DropRecord(new_drop_id(), reason, w.count, w.first_at, w.last_at)
            for reason, w in windows.items()
        ]

    def restore(self, records: Iterable[DropRecord]) -> None:
        """Take back records that could not be written, to try again later."""
        with self._lock:
            for record in records:
                window = self._open.get(record.reason)
                if window is None:
                    self._open[record.reason] = _Window(
                        record.count, record.first_at, record.last_at
                    )
                else:
                    window.count += record.count
                    window.first_at = min(window.first_at, record.first_at)
                    window.last_at = max(window.last_at, record.last_at)
