"""Where imported usage events go: JSON Lines on a stream, or the collector's spool."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from typing import BinaryIO, Protocol

import orjson

from spendtap.agentlogs.call import AgentCall
from spendtap.agentlogs.events import EventFactory
from spendtap.agentlogs.importer import LogImporter, ProgressCallback
from spendtap.delivery.spool import Spool
from spendtap.event import UsageEvent

log = logging.getLogger(__name__)

#: Events handed to a sink at once (one durable spool commit each).
BATCH_SIZE = 500


class EventSink(Protocol):
    def put(self, events: Sequence[UsageEvent]) -> None: ...


class JsonLinesSink:
    """One usage event per line, in the contract's field names."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.written = 0

    def put(self, events: Sequence[UsageEvent]) -> None:
        self._stream.write(b"".join(_json_line(e) for e in events))
        self._stream.flush()
        self.written += len(events)


class SpoolSink:
    """Queues events durably in the collector's spool; ``added`` counts new ones."""

    def __init__(self, spool: Spool) -> None:
        self._spool = spool
        self.put_count = 0
        self.added = 0

    def put(self, events: Sequence[UsageEvent]) -> None:
        self.added += self._spool.put_many(e.to_json() for e in events)
        self.put_count += len(events)


def run_import(
    importer: LogImporter,
    factory: EventFactory,
    sink: EventSink,
    *,
    progress: ProgressCallback | None = None,
    follow: threading.Event | None = None,
) -> None:
    """Backfill into ``sink``; then, with a ``follow`` stop event, tail until it is set."""
    calls = importer.backfill(progress, then_follow=follow is not None)
    _deliver(calls, factory, sink, flush_each=False)
    if follow is not None:
        log.info("agentlogs.follow.started format=%s", importer.format.name)
        _deliver(importer.follow(follow), factory, sink, flush_each=True)


def _deliver(
    calls: Iterable[AgentCall], factory: EventFactory, sink: EventSink, *, flush_each: bool
) -> None:
    batch: list[UsageEvent] = []
    for call in calls:
        batch.append(factory.build(call))
        if flush_each or len(batch) >= BATCH_SIZE:
            sink.put(batch)
            batch = []
    if batch:
        sink.put(batch)


def _json_line(event: UsageEvent) -> bytes:
    return orjson.dumps(event.to_json()) + b"\n"
