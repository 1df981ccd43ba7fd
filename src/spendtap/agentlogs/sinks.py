"""Where imported usage events go: JSON Lines on a stream, or the collector's spool."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO, Protocol

import orjson

from spendtap.agentlogs import parallel
from spendtap.agentlogs.call import AgentCall
from spendtap.agentlogs.events import EventFactory, EventLine
from spendtap.agentlogs.importer import LogImporter, ProgressCallback
from spendtap.delivery.spool import Spool

log = logging.getLogger(__name__)

#: Events handed to a sink at once (one durable spool commit each).
BATCH_SIZE = 500


class EventSink(Protocol):
    def put_lines(self, lines: Sequence[bytes]) -> None:
        """Take usage events as JSON text, one event a line (newline included)."""


class JsonLinesSink:
    """One usage event per line, in the contract's field names."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.written = 0

    def put_lines(self, lines: Sequence[bytes]) -> None:
        self._stream.write(b"".join(lines))
        self._stream.flush()
        self.written += len(lines)


class SpoolSink:
    """Queues events durably in the collector's spool; ``added`` counts new ones."""

    def __init__(self, spool: Spool) -> None:
        self._spool = spool
        self.put_count = 0
        self.added = 0

    def put_lines(self, lines: Sequence[bytes]) -> None:
        self.added += self._spool.put_many([orjson.loads(line) for line in lines])
        self.put_count += len(lines)


class _Batcher:
    """Hands event lines to a sink ``BATCH_SIZE`` at a time, in the order they came."""

    def __init__(self, sink: EventSink, size: int = BATCH_SIZE) -> None:
        self._sink = sink
        self._size = size
        self._lines: list[bytes] = []

    def add(self, line: bytes) -> None:
        self._lines.append(line)
        if len(self._lines) >= self._size:
            self.flush()

    def add_lines(self, lines: list[bytes]) -> None:
        """Many event lines, after those already added."""
        self.flush()
        self._sink.put_lines(lines)

    def flush(self) -> None:
        if self._lines:
            self._sink.put_lines(self._lines)
            self._lines = []


def run_import(
    importer: LogImporter,
    factory: EventFactory,
    sink: EventSink,
    *,
    progress: ProgressCallback | None = None,
    follow: threading.Event | None = None,
    workers: int | None = None,
) -> None:
    """Backfill into ``sink``; then, with a ``follow`` stop event, tail until it is set.

    A large backfill without ``follow`` is read by several processes (see
    ``parallel``); ``workers=1`` keeps it in this one.
    """
    batcher = _Batcher(sink)
    if follow is None:
        layout = parallel.plan(importer.discover(), workers or parallel.worker_count())
        if len(layout.shards) > 1 and parallel.worth_splitting(layout.total_bytes):
            log.info("agentlogs.backfill.split shards=%d", len(layout.shards))
            reader = _shard_reader(importer, factory, progress)
            parallel.run_sharded(
                importer, layout.shards, reader, batcher.add, batcher.add_lines
            )
            batcher.flush()
            return

    build = factory.build_line
    for call in importer.backfill(progress, then_follow=follow is not None):
        batcher.add(build(call).data)
    batcher.flush()
    if follow is not None:
        log.info("agentlogs.follow.started format=%s", importer.format.name)
        for call in importer.follow(follow):
            batcher.add(build(call).data)
            batcher.flush()


def _shard_reader(
    importer: LogImporter, factory: EventFactory, progress: ProgressCallback | None
) -> parallel.ShardReader:
    def read(
        paths: Sequence[Path],
        emit: Callable[[AgentCall, EventLine], None],
        report: bool,
    ) -> None:
        build = factory.build_line
        for call in importer.backfill(progress if report else None, paths=paths):
            emit(call, build(call))

    return read
