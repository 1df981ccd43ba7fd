"""A large backfill split across processes (Linux, and only from a single thread).

Reading a big log folder is CPU work, so the files, oldest first, are cut into one
run per process, and each run after the first is read by a forked child that
writes its usage events to a temporary file as it goes, with their ids in a
second file. The parent reads the first run itself, then passes the children's
events on, in order, while they are still being written, dropping any it has
already passed on (a resumed session's copy of a call that crossed runs). Its own
run is smaller by what passing on costs it, so that all finish together. A child
that fails (or cannot write its files) costs time, not events: the parent reads
its run again. Whatever ends the import (an error, Ctrl-C, SIGTERM or SIGHUP, a
reader that left the pipe), no child keeps running and no temporary file is left;
the files are private to the user and made by the parent before it forks.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable

import orjson

from spendtap.agentlogs.events import EventBlock, EventLine, ImportedEvent
from spendtap.agentlogs.importer import LogImporter, file_size
from spendtap.agentlogs.stats import ImportStats

log = logging.getLogger(__name__)

#: Below this many bytes of logs, one process is quicker than forking.
PARALLEL_MIN_BYTES = 32 * 1024 * 1024
MAX_WORKERS = 4
#: The parent's time to pass on a child's events, as a share of the time to read
#: them (measured on the benchmark corpus: about 0.08 s against 0.55 s).
PASS_ON_COST = 0.15
#: Seconds between looks at a child's files for more events.
_POLL_S = 0.001

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
    of consecutive files, sized so that all processes finish together: the
    parent's run is smaller by the time it then takes to pass the children's
    events on (``PASS_ON_COST``), the children's are of equal size.

    Consecutive files cover consecutive days, so each process prices the models of
    its own days only; and the earlier shard's copy of a call that crossed shards
    is the one kept, as when one process reads everything in order.
    """
    sizes = [file_size(path) for path in paths]
    total = sum(sizes)
    count = max(1, min(workers, len(paths)))
    # The parent reads a share p and passes on (1 - p) at PASS_ON_COST; each
    # child reads (1 - p) / (count - 1): equal when p is this.
    others = PASS_ON_COST * (count - 1)
    first = (1 - others) / (count - others) if count > 1 else 1.0
    ends = [first + (1 - first) * i / (count - 1) for i in range(1, count)]
    shards: list[list[Path]] = [[] for _ in range(count)]
    done = 0
    for path, size in zip(paths, sizes, strict=True):
        share = done / total if total else 0.0
        index = 0 if share < first else min(count - 1, _shard_of(share, ends))
        shards[index].append(path)
        done += size
    return Plan([shard for shard in shards if shard], total)


def _shard_of(share: float, ends: list[float]) -> int:
    """The child shard (1 on) whose run covers ``share`` of the bytes."""
    for index, end in enumerate(ends, start=1):
        if share < end:
            return index
    return len(ends)


def worth_splitting(total_bytes: int) -> bool:
    """Whether forking pays: enough to read, a CPU to spare, Linux, and only the
    main thread running (it sets the signal handlers the children need)."""
    return (
        total_bytes >= PARALLEL_MIN_BYTES
        and worker_count() > 1
        and sys.platform == "linux"
        and threading.active_count() == 1
        and threading.current_thread() is threading.main_thread()
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
    block of its file at a time to ``emit_block``, less those passed on already.

    However this ends (a reader that left the pipe, Ctrl-C, SIGTERM, an error),
    no child is left running and no temporary file is left behind."""
    sys.stdout.flush()
    sys.stderr.flush()
    children: list[_Child] = []
    with _signals_for_children():
        try:
            for shard in shards[1:]:
                children.append(_fork(importer, shard, read_shard))
            _run(importer, shards, children, read_shard, emit_lines, emit_block)
        finally:
            for child in children:
                child.stop()


def _run(
    importer: LogImporter,
    shards: list[list[Path]],
    children: list[_Child],
    read_shard: ShardReader,
    emit_lines: Callable[[list[EventLine]], None],
    emit_block: Callable[[EventBlock], None],
) -> None:
    seen: set[str] = set()
    fmt = importer.format
    claim = fmt.claim if isinstance(fmt, ClaimsResponses) else None

    def keep(batch: list[ImportedEvent]) -> None:
        lines = [imported.line for imported in batch]
        seen.update([line.event_id for line in lines])
        emit_lines(lines)

    read_shard(shards[0], keep, True)
    for child, shard in zip(children, shards[1:], strict=True):
        passed = _collect(importer.stats, child, seen, claim, emit_block)
        if passed is not None:
            log.error(
                "agentlogs.parallel.child_failed files=%d passed_on=%d rereading=true",
                len(shard),
                passed,
            )
            _reread(importer.stats, shard, read_shard, keep, passed)


@contextmanager
def _signals_for_children() -> Iterator[None]:
    """While children run: SIGCHLD at its default (a launcher may have left it
    ignored, and then children are reaped before they can be waited for), and
    SIGTERM, SIGHUP (the terminal closed) and SIGQUIT raising ``SystemExit``, so
    that the children are stopped and their files removed; one the launcher left
    ignored (``nohup``) stays ignored."""
    chld = signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    ending: dict[signal.Signals, Any] = {}
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        if signal.getsignal(signum) == signal.SIG_DFL:
            ending[signum] = signal.signal(signum, _terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGCHLD, chld)
        for signum, handler in ending.items():
            signal.signal(signum, handler)


def _terminated(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _reread(
    stats: ImportStats,
    shard: Sequence[Path],
    read_shard: ShardReader,
    keep: Callable[[list[ImportedEvent]], None],
    passed: int,
) -> None:
    """Read a failed child's run here. The ``passed`` events it passed on are
    claimed already, so reading them again counts them as copies: they are
    counted as the calls they are instead."""
    before = stats.cross_file_duplicates
    read_shard(shard, keep, True)
    again = min(passed, stats.cross_file_duplicates - before)
    stats.cross_file_duplicates -= again
    stats.calls += again


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
    #: Whether it has been waited for (its exit status taken).
    reaped: bool = False

    @property
    def keys(self) -> Path:
        """(event id, response id, request id, length) of each event, a JSON array
        per batch, one a line, each written once its events are."""
        return self.events.with_name(self.events.name + ".keys")

    @property
    def files(self) -> tuple[Path, Path, Path]:
        return (self.events, self.keys, self.stats)

    def wait(self, *, block: bool) -> int | None:
        """Its exit code once it has exited (None while it runs, unless ``block``)."""
        pid, status = os.waitpid(self.pid, 0 if block else os.WNOHANG)
        if not pid:
            return None
        self.reaped = True
        return os.waitstatus_to_exitcode(status)

    def stop(self) -> None:
        """End it if it still runs, wait for it, and remove its files."""
        if self.pid > 0 and not self.reaped:  # not reaped: its pid is still its own
            with suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            try:
                self.wait(block=True)
            except ChildProcessError:
                self.reaped = True
        for path in self.files:
            path.unlink(missing_ok=True)


def _fork(
    importer: LogImporter, shard: Sequence[Path], read_shard: ShardReader
) -> _Child:
    fd, events = tempfile.mkstemp(prefix="spendtap-import-", suffix=".jsonl")
    os.close(fd)
    files = _Child(0, Path(events), Path(events + ".stats"))
    try:  # all made here, private, before the parent may look at them
        for path in (files.keys, files.stats):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError:
        for path in files.files:
            path.unlink(missing_ok=True)
        raise
    pid = os.fork()
    if pid == 0:  # the child: read, write, and leave without running the parent's exit
        code = 1
        # The parent answers Ctrl-C and the signals that end it, and ends its
        # children itself.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            if signal.getsignal(signum) is _terminated:
                signal.signal(signum, signal.SIG_DFL)
        try:
            _child_main(importer, shard, read_shard, files)
            code = 0
        except BaseException:  # the child's own boundary: report, never return
            log.exception("agentlogs.parallel.child_crashed")
        finally:
            os._exit(code)
    files.pid = pid
    return files


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
    with _existing(files.events) as out, _existing(files.keys) as keys:

        def write(batch: list[ImportedEvent]) -> None:
            # Events first: a batch's ids are read only once its events are there.
            # (Flushing writes every byte or raises: a full disk fails the child.)
            out.write(b"".join([imported.line.data for imported in batch]))
            out.flush()
            ids = [
                (line.event_id, response_id, request_id, len(line.data))
                for line, response_id, request_id in batch
            ]
            keys.write(orjson.dumps(ids, option=orjson.OPT_APPEND_NEWLINE))
            keys.flush()

        read_shard(shard, write, False)
    with _existing(files.stats) as stats:
        stats.write(orjson.dumps(importer.stats.as_dict()))


def _existing(path: Path) -> BinaryIO:
    """``path``, made by the parent, for writing; never made again here (a parent
    that gave up has removed it)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_TRUNC), "wb")


def _collect(
    totals: ImportStats,
    child: _Child,
    seen: set[str],
    claim: Claim | None,
    emit_block: Callable[[EventBlock], None],
) -> int | None:
    """Pass a child's events on as it writes them, until it exits; None when all
    went well, else how many were passed on before it failed (it is then
    stopped)."""
    passed = 0
    try:
        with open(child.keys, "rb") as keys, open(child.events, "rb") as events:
            waiting = b""  # the start of a line of ids not yet complete
            code: int | None = None
            while True:
                more = keys.read()
                if more:
                    waiting += more
                    complete = waiting.rfind(b"\n") + 1
                    for line in waiting[:complete].splitlines():
                        passed += _pass_on(
                            orjson.loads(line), events, seen, claim, emit_block
                        )
                    waiting = waiting[complete:]
                elif code is not None:  # it had exited, and nothing more came
                    break
                else:
                    code = child.wait(block=False)
                    if code is None:
                        time.sleep(_POLL_S)
            if code != 0 or waiting or events.read(1):
                child.stop()
                return passed
        counts = orjson.loads(child.stats.read_bytes())
        dropped = counts["calls"] - passed  # copies of events passed on before
        counts["calls"] = passed
        counts["cross_file_duplicates"] += dropped
        for name, value in counts.items():
            setattr(totals, name, getattr(totals, name) + value)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        log.error("agentlogs.parallel.child_output_unreadable error=%r", exc)
        child.stop()
        return passed
    child.stop()
    return None


def _pass_on(
    ids: list[list[Any]],
    events: BinaryIO,
    seen: set[str],
    claim: Claim | None,
    emit_block: Callable[[EventBlock], None],
) -> int:
    """Pass on one batch of a child's events (less any passed on before); how
    many were."""
    lengths = [key[3] for key in ids]
    data = events.read(sum(lengths))
    if len(data) != sum(lengths):
        raise RuntimeError(f"{events.name} is cut short; run the import again")
    new = [_is_new(key, seen, claim) for key in ids]
    block = EventBlock(data, [key[0] for key in ids], lengths)
    if not all(new):
        kept = [line for line, n in zip(block.lines(), new, strict=True) if n]
        block = EventBlock(
            b"".join(line.data for line in kept),
            [line.event_id for line in kept],
            [len(line.data) for line in kept],
        )
    emit_block(block)
    return len(block.event_ids)


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
