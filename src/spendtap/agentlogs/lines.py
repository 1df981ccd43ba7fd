"""JSON Lines files read as bytes, a bounded chunk at a time.

Agent logs are append-only JSON Lines files, some of them hundreds of megabytes, that
the agent may still be writing while we read. ``read_lines`` hands out complete
lines a chunk's worth at a time, as a ``Lines`` view of the chunk (most lines are
never looked at, so they are not cut out one by one), and keeps the offset just
past the last line handed out, so a reader can stop and later go on from there. What follows the last
newline is kept apart as the file's *tail*: while an agent writes, it is a line not
yet finished; in a file that is done, it is a truncated last line, or a last line
written without a newline.

Memory is bounded by ``CHUNK_BYTES`` plus the longest line; a line longer than
``MAX_LINE_BYTES`` is skipped (and counted) without being held whole.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

CHUNK_BYTES = 4 * 1024 * 1024
#: Once the size the file had when opened is read, how much more is asked for at a
#: time (an agent may still be writing it). Asking for no more than is there keeps
#: each read from reserving memory it never fills (measured: a third of the time
#: of reading a backfill's files).
MORE_BYTES = 64 * 1024
#: Transcript lines carry tool results and pasted images; a line past this is skipped.
MAX_LINE_BYTES = 256 * 1024 * 1024


@dataclass(slots=True)
class ReadState:
    """Where reading one file got to, and what it found that is not a line."""

    offset: int = 0
    #: Bytes after the last newline (not yet a complete line).
    tail: bytes = b""
    #: Lines skipped for being longer than ``MAX_LINE_BYTES``.
    overlong: int = 0


@dataclass(frozen=True, slots=True)
class Lines:
    """Complete lines: ``data[start:end]``, every one ending with a newline."""

    data: bytes
    start: int
    end: int

    def split(self) -> list[bytes]:
        """The lines, without their newlines."""
        if self.end <= self.start:
            return []
        return self.data[self.start : self.end - 1].split(b"\n")

    @classmethod
    def of(cls, lines: Iterable[bytes]) -> Lines:
        """Lines given one by one (without newlines), as a reader gets them."""
        data = b"".join(line + b"\n" for line in lines)
        return cls(data, 0, len(data))


def read_lines(path: Path, state: ReadState) -> Iterator[Lines]:
    """Complete lines of ``path`` from ``state.offset`` on, in batches (about one
    per chunk read).

    ``state.offset`` moves past each batch as it is handed out, and ``state.tail``
    holds what follows the last newline when the file ends. A file that shrank
    below the offset (rewritten) is read again from the start.
    """
    try:
        handle = open(path, "rb", buffering=0)  # noqa: SIM115 (closed below)
    except OSError as exc:
        log.warning("agentlogs.file.unreadable path=%s error=%s", path, exc.strerror)
        return
    with handle:
        size = os.fstat(handle.fileno()).st_size
        if size < state.offset:
            log.info("agentlogs.file.rewritten path=%s", path)
            state.offset = 0
        handle.seek(state.offset)
        yield from _split(handle, size - state.offset, state, path)


def _split(
    handle: io.FileIO, expected: int, state: ReadState, path: Path
) -> Iterator[Lines]:
    carry = b""  # the start of a line that the last chunk did not finish
    skipping = False  # inside a line that is already too long
    while chunk := handle.read(min(CHUNK_BYTES, max(expected, MORE_BYTES))):
        expected -= len(chunk)
        first = chunk.find(b"\n")
        if first >= 0:
            start = first + 1
            if carry or skipping:  # the line the last chunk began ends here
                state.offset += len(carry) + start
                if not skipping:
                    joined = carry + chunk[:start]
                    yield Lines(joined, 0, len(joined))
                carry, skipping = b"", False
            else:
                start = 0
            end = chunk.rfind(b"\n") + 1
            if end > start:
                state.offset += end - start
                yield Lines(chunk, start, end)
            carry = chunk[end:]
        else:
            carry += chunk
        if len(carry) > MAX_LINE_BYTES:
            state.offset += len(carry)
            carry = b""
            if not skipping:
                state.overlong += 1
                log.warning(
                    "agentlogs.line.overlong path=%s offset=%d", path, state.offset
                )
            skipping = True
    if skipping:  # the file ends inside a line too long to keep
        state.offset += len(carry)
        carry = b""
    state.tail = carry
