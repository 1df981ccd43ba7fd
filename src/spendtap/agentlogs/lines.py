"""JSON Lines files read as bytes, a bounded chunk at a time.

Agent logs are append-only JSON Lines files, some of them hundreds of megabytes, that
the agent may still be writing while we read. ``read_lines`` hands out complete
lines a chunk's worth at a time, and keeps the offset just past the last line
handed out, so a reader can stop and later go on from there. What follows the last
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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

CHUNK_BYTES = 4 * 1024 * 1024
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


def read_lines(path: Path, state: ReadState) -> Iterator[list[bytes]]:
    """Complete lines of ``path`` from ``state.offset`` on, without their newline,
    in batches (one per chunk read).

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
        if os.fstat(handle.fileno()).st_size < state.offset:
            log.info("agentlogs.file.rewritten path=%s", path)
            state.offset = 0
        handle.seek(state.offset)
        yield from _split(handle, state, path)


def _split(handle: io.FileIO, state: ReadState, path: Path) -> Iterator[list[bytes]]:
    carry = b""  # the start of a line that the last chunk did not finish
    skipping = False  # inside a line that is already too long
    while chunk := handle.read(CHUNK_BYTES):
        lines = chunk.split(b"\n")
        last = lines.pop()
        if lines:
            state.offset += len(chunk) - len(last) + len(carry)
            if carry:
                lines[0] = carry + lines[0]
                carry = b""
            if skipping:
                del lines[0]
                skipping = False
            yield lines
        carry += last
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
