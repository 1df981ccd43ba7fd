"""Where imported usage events go: JSON Lines on a stream, or the collector's spool."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from spendtap.agentlogs import parallel
from spendtap.agentlogs.events import (
    EventBlock,
    EventFactory,
    EventLine,
    ImportedEvent,
)
from spendtap.agentlogs.importer import LogImporter, ProgressCallback
from spendtap.delivery.spool import Spool

log = logging.getLogger(__name__)


#: Events handed to a sink at once (one durable spool commit each; measured on a
#: 62,702-call backfill, 5,000 saves a tenth of the time and costs 70 MB more).
BATCH_SIZE = 500


class EventSink(Protocol):
    def put_lines(self, lines: Sequence[EventLine]) -> None:
        """Take usage events as their ids and JSON lines."""


@runtime_checkable
class BlockSink(Protocol):
    def put_block(self, block: EventBlock) -> None:
        """Take consecutive usage events as one piece of JSON Lines."""


class JsonLinesSink:
    """One usage event per line, in the contract's field names."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.written = 0

    def put_lines(self, lines: Sequence[EventLine]) -> None:
        self._stream.write(b"".join([line.data for line in lines]))
        self._stream.flush()
        self.written += len(lines)

    def put_block(self, block: EventBlock) -> None:
        self._stream.write(block.data)
        self._stream.flush()
        self.written += len(block.event_ids)


class SpoolSink:
    """Queues events durably in the collector's spool; ``added`` counts new ones."""

    def __init__(self, spool: Spool) -> None:
        self._spool = spool
        self.put_count = 0
        self.added = 0

    def put_lines(self, lines: Sequence[EventLine]) -> None:
        self.added += self._spool.put_encoded(lines)
        self.put_count += len(lines)


class _Batcher:
    """Hands events to a sink ``BATCH_SIZE`` at a time, in the order they came."""

    def __init__(self, sink: EventSink, size: int = BATCH_SIZE) -> None:
        self._sink = sink
        self._size = size
        self._lines: list[EventLine] = []

    def add(self, line: EventLine) -> None:
        self._lines.append(line)
        if len(self._lines) >= self._size:
            self.flush()

    def add_lines(self, lines: list[EventLine]) -> None:
        """Many events, after those already added."""
        self._lines.extend(lines)
        if len(self._lines) >= self._size:
            self.flush()

    def add_block(self, block: EventBlock) -> None:
        """Many events as one piece, after those already added."""
        if isinstance(self._sink, BlockSink):
            self.flush()
            self._sink.put_block(block)
        else:
            self.add_lines(block.lines())

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
                importer, layout.shards, reader, batcher.add_lines, batcher.add_block
            )
        else:
            for batch in importer.backfill_events(factory, progress):
                batcher.add_lines([imported.line for imported in batch])
        batcher.flush()
        return

    build = factory.build_line
    for call in importer.backfill(progress, then_follow=True):
        batcher.add(build(call))
    batcher.flush()
    log.info("agentlogs.follow.started format=%s", importer.format.name)
    for call in importer.follow(follow):
        batcher.add(build(call))
        batcher.flush()


def _shard_reader(
    importer: LogImporter, factory: EventFactory, progress: ProgressCallback | None
) -> parallel.ShardReader:
    def read(
        paths: Sequence[Path],
        emit: Callable[[list[ImportedEvent]], None],
        report: bool,
    ) -> None:
        for batch in importer.backfill_events(
            factory, progress if report else None, paths=paths
        ):
            emit(batch)

    return read
