"""An incremental splitter for JSON Lines bodies (batch result files).

Bytes go in as they arrive, in any split; complete lines come out. Memory is bounded:
one pending line is kept, capped, and a line longer than the cap is dropped whole.
Each byte is scanned once.
"""

from __future__ import annotations

#: The longest line kept while waiting for its end; longer lines are dropped.
MAX_LINE_BYTES = 8 * 1024 * 1024


class JsonLinesDecoder:
    """Feed bytes with ``feed``; each call returns the non-blank lines it completed."""

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self._max_line = max_line
        self._pending = bytearray()
        self._overflow = False
        self.dropped = 0

    def feed(self, chunk: bytes) -> list[bytes]:
        lines: list[bytes] = []
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            line = self._complete(chunk[start:end])
            if line:
                lines.append(line)
            start = end + 1
        self._keep(chunk[start:])
        return lines

    def flush(self) -> list[bytes]:
        """At end of body: the last line, when it had no line end."""
        line = None if self._overflow else bytes(self._pending).strip()
        self._pending.clear()
        self._overflow = False
        return [line] if line else []

    def _complete(self, tail: bytes) -> bytes | None:
        if self._overflow:  # the end of an over-long line: drop it
            self._overflow = False
            return None
        if self._pending:
            self._keep(tail)
            if self._overflow:
                self._overflow = False
                return None
            line = bytes(self._pending)
            self._pending.clear()
        elif len(tail) > self._max_line:
            self.dropped += 1
            return None
        else:
            line = tail
        return line.strip()

    def _keep(self, piece: bytes) -> None:
        if self._overflow or not piece:
            return
        if len(self._pending) + len(piece) > self._max_line:
            self._pending.clear()
            self._overflow = True
            self.dropped += 1
            return
        self._pending += piece
