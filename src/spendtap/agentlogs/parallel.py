"""A large backfill split across processes (Linux, and only from a single thread).

Reading a big log folder is CPU work in Python, so the files, oldest first, are cut
into runs of about equal size, and each run after the first is read by a forked
child that writes its usage events to a temporary file. The parent reads the first
run itself, then passes the children's events on, in order, dropping any event id
it has already passed on (a resumed session's copy of a call that crossed runs).
A child that fails costs time, not events: the parent reads its shard again.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import orjson

from spendtap.agentlogs.events import EventBlock, EventLine, ImportedEvent
from spendtap.agentlogs.importer import LogImporter, file_size
from spendtap.agentlogs.stats import ImportStats

log = logging.getLogger(__name__)

#: Below this many bytes of logs, one process is quicker than forking.
PARALLEL_MIN_BYTES = 32 * 1024 * 1024
MAX_WORKERS = 4
#: A child's events are passed on this many at a time.
_COLLECT_EVENTS = 2000

#: Reads a list of files and hands each event to the callback; the flag says
#: whether to report progress (only the parent draws on the terminal).
ShardReader = Callable[
    [Sequence[Path], Callable[[list[ImportedEvent]], None], bool], None
]


@dataclass(frozen=True, slots=True)
class Plan:
    shards: list[list[Path]]
    total_bytes: int


def plan(paths: Sequence[Path], workers: int) -> Plan:
    """Split ``paths`` (in reading order, oldest first) into up to ``workers`` runs
    of consecutive files of about equal size.

    Consecutive files cover consecutive days, so each process prices the models of
    its own days only; and the earlier shard's copy of a call that crossed shards
    is the one kept, as when one process reads everything in order.
    """
    sizes = [file_size(path) for path in paths]
    total = sum(sizes)
    count = max(1, min(workers, len(paths)))
    shards: list[list[Path]] = [[] for _ in range(count)]
    done = 0
    for path, size in zip(paths, sizes, strict=True):
        index = min(count - 1, done * count // total) if total else 0
        shards[index].append(path)
        done += size
    return Plan([shard for shard in shards if shard], total)


def worth_splitting(total_bytes: int) -> bool:
    """Whether forking pays: enough to read, a CPU to spare, Linux, one thread."""
    return (
        total_bytes >= PARALLEL_MIN_BYTES
        and worker_count() > 1
        and sys.platform == "linux"
        and threading.active_count() == 1
    )


def worker_count() -> int:
    """One reader per CPU, at most ``MAX_WORKERS``. (Even on a loaded machine a
    second reader gets some of a second CPU: measured, it still pays.)"""
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS))


def run_sharded(
    importer: LogImporter,
    shards: list[list[Path]],
    read_shard: ShardReader,
    emit_lines: Callable[[list[EventLine]], None],
    emit_block: Callable[[EventBlock], None],
) -> None:
    """Read ``shards[1:]`` in children and ``shards[0]`` here; every event is
    passed on once: the parent's a few at a time to ``emit_lines``, a child's a
    block of its file at a time to ``emit_block``, less those passed on already."""
    sys.stdout.flush()
    sys.stderr.flush()
    children = [_fork(importer, shard, read_shard) for shard in shards[1:]]
    seen: set[str] = set()
    fmt = importer.format
    claim = fmt.claim if isinstance(fmt, ClaimsResponses) else None

    def keep(batch: list[ImportedEvent]) -> None:
        lines = [imported.line for imported in batch]
        seen.update([line.event_id for line in lines])
        emit_lines(lines)

    read_shard(shards[0], keep, True)
    for child, shard in zip(children, shards[1:], strict=True):
        if not _collect(importer.stats, child, seen, claim, emit_block):
            log.error(
                "agentlogs.parallel.child_failed files=%d rereading=true", len(shard)
            )
            read_shard(shard, keep, True)


@runtime_checkable
class ClaimsResponses(Protocol):
    """A format that counts a response once by its own rule (Claude Code: message
    id plus request id, or the message id alone when either lacks the request id).

    The rule depends on every response read before, so a child cannot apply it to
    its own: a copy the child took first may be one the parent drops, and what the
    child dropped for it is then lost. Children claim nothing (``defer_claims``)
    and the parent applies the rule to their calls in reading order, as one
    process would."""

    def claim(self, message_id: str, request_id: str | None) -> bool: ...

    def defer_claims(self) -> None:
        """From now on take every response: the parent claims them."""


Claim = Callable[[str, str | None], bool]


@dataclass(slots=True)
class _Child:
    pid: int
    events: Path
    stats: Path

    @property
    def keys(self) -> Path:
        """(event id, response id, request id, length) of each event: one JSON
        array."""
        return self.events.with_name(self.events.name + ".keys")


def _fork(
    importer: LogImporter, shard: Sequence[Path], read_shard: ShardReader
) -> _Child:
    fd, events = tempfile.mkstemp(prefix="spendtap-import-", suffix=".jsonl")
    os.close(fd)
    stats = Path(events + ".stats")
    pid = os.fork()
    if pid == 0:  # the child: read, write, and leave without running the parent's exit
        code = 1
        try:
            _child_main(importer, shard, read_shard, _Child(0, Path(events), stats))
            code = 0
        except BaseException:  # the child's own boundary: report, never return
            log.exception("agentlogs.parallel.child_crashed")
        finally:
            os._exit(code)
    return _Child(pid, Path(events), stats)


def _child_main(
    importer: LogImporter,
    shard: Sequence[Path],
    read_shard: ShardReader,
    files: _Child,
) -> None:
    for field in fields(ImportStats):  # the child reports only its own counts
        setattr(importer.stats, field.name, 0)
    if isinstance(importer.format, ClaimsResponses):
        importer.format.defer_claims()
    keys: list[tuple[str, str | None, str | None, int]] = []
    with open(files.events, "wb", buffering=1024 * 1024) as out:

        def write(batch: list[ImportedEvent]) -> None:
            out.write(b"".join([imported.line.data for imported in batch]))
            keys.extend(
                [
                    (line.event_id, response_id, request_id, len(line.data))
                    for line, response_id, request_id in batch
                ]
            )

        read_shard(shard, write, False)
    files.keys.write_bytes(orjson.dumps(keys))
    files.stats.write_bytes(orjson.dumps(importer.stats.as_dict()))


def _collect(
    totals: ImportStats,
    child: _Child,
    seen: set[str],
    claim: Claim | None,
    emit_block: Callable[[EventBlock], None],
) -> bool:
    try:
        _, status = os.waitpid(child.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            return False
        counts = orjson.loads(child.stats.read_bytes())
        keys = orjson.loads(child.keys.read_bytes())
        with open(child.events, "rb") as events:
            for first in range(0, len(keys), _COLLECT_EVENTS):
                chunk = keys[first : first + _COLLECT_EVENTS]
                lengths = [key[3] for key in chunk]
                data = events.read(sum(lengths))
                if len(data) != sum(lengths):
                    raise RuntimeError(f"{child.events} is cut short; import again")
                new = [_is_new(key, seen, claim) for key in chunk]
                block = EventBlock(data, [key[0] for key in chunk], lengths)
                if not all(new):
                    kept = [
                        line for line, n in zip(block.lines(), new, strict=True) if n
                    ]
                    block = EventBlock(
                        b"".join(line.data for line in kept),
                        [line.event_id for line in kept],
                        [len(line.data) for line in kept],
                    )
                    counts["calls"] -= len(chunk) - len(kept)
                    counts["cross_file_duplicates"] += len(chunk) - len(kept)
                emit_block(block)
            if events.read(1):
                raise RuntimeError(f"{child.events} has more events than ids")
        for name, value in counts.items():
            setattr(totals, name, getattr(totals, name) + value)
        return True
    finally:
        for path in (child.events, child.keys, child.stats):
            path.unlink(missing_ok=True)


def _is_new(key: list[Any], seen: set[str], claim: Claim | None) -> bool:
    """Whether a child's event is none passed on before; passing it on is assumed."""
    event_id, response_id, request_id, _length = key
    assert event_id is not None
    if event_id in seen:
        return False
    claimed = claim is None or response_id is None or claim(response_id, request_id)
    if not claimed:
        return False
    seen.add(event_id)
    return True
