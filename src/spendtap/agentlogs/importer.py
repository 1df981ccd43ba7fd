"""Backfill and follow: read an agent's log files and hand out the calls in them.

A *log format* (Claude Code, Codex, Gemini CLI) knows where its files are and how
to read one; ``LogImporter`` drives it: every file once from the start (backfill),
then, when following, new lines and new files as they appear. Each call comes out
once, in the order its file was read.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from spendtap.agentlogs.call import AgentCall
from spendtap.agentlogs.lines import Lines, ReadState, read_lines
from spendtap.agentlogs.stats import ImportStats
from spendtap.event import CaptureSource

if TYPE_CHECKING:
    from spendtap.agentlogs.events import EventFactory, ImportedEvent

log = logging.getLogger(__name__)

#: Seconds between looks for new lines and new files when following.
FOLLOW_INTERVAL_S = 1.0
#: Events a backfill hands on at a time.
EVENT_BATCH = 64


class LogFile(Protocol):
    """One log file being read; its calls come out when they are finished."""

    def feed(self, lines: Lines) -> None:
        """Take complete lines. Never raises."""

    def feed_tail(self, tail: bytes) -> bool:
        """Take an unterminated last line; False (and counted) when cut short."""

    def settle(self, *, final: bool) -> list[AgentCall]:
        """Calls now finished; all of them when ``final``."""


class LogFormat(Protocol):
    name: str
    source: CaptureSource
    stats: ImportStats

    def discover(self, root: Path) -> list[Path]:
        """The files under ``root`` to read, in the order to read them."""

    def open(self, path: Path) -> LogFile: ...


class EventReader(Protocol):
    """Reads whole files of a backfill straight into usage events (a compiled
    reader); a file's events come out as ``LogFile`` and ``build_line`` give them,
    a few at a time."""

    def read_file(self, path: Path) -> Iterator[list[ImportedEvent]]: ...


@runtime_checkable
class ReadsEvents(Protocol):
    """A format with an ``EventReader`` of its own (where it is built)."""

    def event_reader(self, factory: EventFactory) -> EventReader | None: ...


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a backfill has got, in bytes of the files it found."""

    done_bytes: int
    total_bytes: int
    files_done: int
    files_total: int


ProgressCallback = Callable[[Progress], None]


class LogImporter:
    """Reads ``roots`` in ``fmt``. Not thread-safe: one thread drives it."""

    def __init__(self, fmt: LogFormat, roots: Sequence[Path]) -> None:
        self.format = fmt
        self.roots = list(roots)
        self._states: dict[Path, ReadState] = {}
        self._files: dict[Path, LogFile] = {}

    @property
    def stats(self) -> ImportStats:
        return self.format.stats

    def discover(self) -> list[Path]:
        """The files a backfill reads now, in the order it reads them: a root that
        is a file is read as it is, a folder as the format finds files in it."""
        seen: dict[str, Path] = {}  # one file however it is named (links, ..)
        for root in self.roots:
            found = [root] if root.is_file() else self.format.discover(root)
            for path in found:
                seen.setdefault(os.path.realpath(path), path)
        return list(seen.values())

    def backfill(
        self,
        progress: ProgressCallback | None = None,
        *,
        then_follow: bool = False,
        paths: Sequence[Path] | None = None,
    ) -> Iterator[AgentCall]:
        """Every call in every file found now (or in ``paths``), each file read to
        its end.

        A file's unterminated last line is read as a line (or counted as truncated)
        unless ``then_follow``: then it is left for ``follow``, as the agent is
        probably still writing it.
        """
        paths = self.discover() if paths is None else list(paths)
        sizes = [file_size(p) for p in paths]
        total = sum(sizes)
        done = 0
        for index, (path, size) in enumerate(zip(paths, sizes, strict=True)):
            yield from self._read(path, final=True, tails=not then_follow)
            done += size
            if progress is not None:
                progress(Progress(done, total, index + 1, len(paths)))
        log.debug(  # the command prints the totals of all its processes
            "agentlogs.backfill.finished format=%s %s",
            self.format.name,
            self.stats.summary(),
        )

    def backfill_events(
        self,
        factory: EventFactory,
        progress: ProgressCallback | None = None,
        *,
        paths: Sequence[Path] | None = None,
    ) -> Iterator[list[ImportedEvent]]:
        """``backfill`` (not followed) as usage events made by ``factory``, a few
        at a time: read by the format's own ``EventReader`` where it has one, else
        call by call."""
        fmt = self.format
        reader = fmt.event_reader(factory) if isinstance(fmt, ReadsEvents) else None
        if reader is None:
            batch: list[ImportedEvent] = []
            for call in self.backfill(progress, paths=paths):
                batch.append(factory.imported(call))
                if len(batch) >= EVENT_BATCH:
                    yield batch
                    batch = []
            if batch:
                yield batch
            return
        paths = self.discover() if paths is None else list(paths)
        sizes = [file_size(p) for p in paths]
        total = sum(sizes)
        done = 0
        for index, (path, size) in enumerate(zip(paths, sizes, strict=True)):
            self.stats.files += 1
            yield from reader.read_file(path)
            done += size
            if progress is not None:
                progress(Progress(done, total, index + 1, len(paths)))

    def follow(
        self, stop: threading.Event, interval: float = FOLLOW_INTERVAL_S
    ) -> Iterator[AgentCall]:
        """New lines and new files as they are written, until ``stop`` is set.

        A file's unterminated last line is left for the next look: the agent is
        probably still writing it.
        """
        while not stop.wait(interval):
            for path in self.discover():
                yield from self._read(path, final=False, tails=False)
            for path in list(self._files):
                yield from self._files[path].settle(final=False)
        for path in list(self._files):
            yield from self._files[path].settle(final=True)

    def _read(self, path: Path, *, final: bool, tails: bool) -> Iterator[AgentCall]:
        state = self._states.get(path)
        if state is None:
            state = self._states[path] = ReadState()
            self._files[path] = self.format.open(path)
            self.stats.files += 1
        elif file_size(path) == state.offset + len(state.tail):
            return  # nothing new
        log_file = self._files[path]
        overlong = state.overlong
        for lines in read_lines(path, state):
            log_file.feed(lines)
        self.stats.overlong_lines += state.overlong - overlong
        if tails and state.tail:
            log_file.feed_tail(state.tail)
            state.offset += len(state.tail)
            state.tail = b""
        yield from log_file.settle(final=final)


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
