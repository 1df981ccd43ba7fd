"""An incremental decoder for server-sent events (text/event-stream).

Bytes go in as they arrive, in any split; complete events come out. Comments,
multi-line ``data:`` fields and CRLF, CR or LF line ends are handled as the HTML
standard says. Memory is bounded: one pending line, and the data of one pending event,
are each capped, so a hostile stream cannot grow memory. Each byte is scanned once, so
a long line arriving in many small reads costs linear, not quadratic, time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: The longest line kept while waiting for its end; longer lines are discarded.
MAX_LINE_BYTES = 8 * 1024 * 1024

#: What one kept ``data:`` line costs beyond its characters (a str object, a slot).
_DATA_LINE_COST = 64

_LINE_END = re.compile(rb"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    event: str
    data: str


class SSEDecoder:
    """Feed bytes with ``feed``; each call returns the events it completed.

    ``max_line`` caps one line, and also the data of one event (each ``data:`` line
    counted with a small overhead); an event whose data outgrows it is dropped whole.
    """

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self._max_line = max_line
        self._pending = bytearray()
        self._overflow = False
        self._after_cr = False
        self._first_line = True
        self._event = ""
        self._data: list[str] = []
        self._data_size = 0
        self._data_overflow = False

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        events: list[ServerSentEvent] = []
        for line in self._split_lines(chunk):
            event = self._take_line(line)
            if event is not None:
                events.append(event)
        return events

    def flush(self) -> list[ServerSentEvent]:
        """At end of stream: an event not closed by a blank line is discarded."""
        self._pending.clear()
        self._overflow = False
        self._reset_event()
        return []

    def _split_lines(self, chunk: bytes) -> list[bytes]:
        if not chunk:  # an empty read must not forget a CR that ended the last one
            return []
        start = 1 if self._after_cr and chunk.startswith(b"\n") else 0
        lines: list[bytes] = []
        for match in _LINE_END.finditer(chunk, start):
            line = self._end_line(chunk[start : match.start()])
            if line is not None:
                lines.append(line)
            start = match.end()
        self._keep(chunk[start:])
        self._after_cr = chunk.endswith(b"\r")
        return lines

    def _end_line(self, tail: bytes) -> bytes | None:
        """The line that ``tail`` completes, or None when it was too long to keep."""
        if not self._pending and not self._overflow:
            return tail if len(tail) <= self._max_line else None
        self._keep(tail)
        if self._overflow:  # the tail of an over-long line: drop it
            self._overflow = False
            return None
        line = bytes(self._pending)
        self._pending.clear()
        return line

    def _keep(self, piece: bytes) -> None:
        if self._overflow or not piece:
            return
        if len(self._pending) + len(piece) > self._max_line:
            self._pending.clear()
            self._overflow = True
            return
        self._pending += piece

    def _take_line(self, line: bytes) -> ServerSentEvent | None:
        if self._first_line:  # one byte order mark may open the stream
            self._first_line = False
            line = line.removeprefix(_BOM)
        if not line:
            return self._dispatch()
        name, _, value = line.partition(b":")
        value = value.removeprefix(b" ")
        if name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"data":
            self._add_data(value.decode("utf-8", "replace"))
        return None

    def _add_data(self, value: str) -> None:
        self._data_size += len(value) + _DATA_LINE_COST
        if self._data_size > self._max_line:
            self._data, self._data_overflow = [], True
        if not self._data_overflow:
            self._data.append(value)

    def _dispatch(self) -> ServerSentEvent | None:
        if not self._data or self._data_overflow:
            self._reset_event()
            return None
        event = ServerSentEvent(self._event or "message", "\n".join(self._data))
        self._reset_event()
        return event

    def _reset_event(self) -> None:
        self._event, self._data = "", []
        self._data_size, self._data_overflow = 0, False
