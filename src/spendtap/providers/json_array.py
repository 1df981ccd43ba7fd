"""An incremental splitter for a JSON array streamed element by element.

Without ``alt=sse``, Gemini's ``streamGenerateContent`` answers with one JSON array
whose elements arrive over time, in whatever pieces the network makes:
``[{...}\\r\\n,\\r\\n{...}]``. ``JsonArraySplitter`` returns the raw bytes of each
top-level element as soon as its closing bracket arrives. It tracks only the nesting
depth and whether it is inside a string, jumping from one bracket or quote to the next,
so each byte is looked at once whatever the split. A body that is one object instead
of an array gives that object as its only element. ``JsonArrayReader`` is the
response reader for such bodies.

Memory is bounded: only the element being read is kept, up to ``max_element`` bytes;
an element that outgrows it is skipped whole.
"""

from __future__ import annotations

import enum
import logging
import re
from typing import Any, Protocol

from spendtap.providers.base import ParsedCall
from spendtap.providers.framing import load_json_object
from spendtap.providers.guarded import GuardedReader

#: The largest element kept; a larger one is skipped.
MAX_ELEMENT_BYTES = 8 * 1024 * 1024

_STRUCTURE = re.compile(rb'[\[\]{}"]')
_IN_STRING = re.compile(rb'["\\]')

log = logging.getLogger(__name__)


class _Shape(enum.Enum):
    ARRAY = "array"
    OBJECT = "object"


class JsonArraySplitter:
    """Feed bytes with ``feed``; each call returns the elements it completed."""

    def __init__(self, max_element: int = MAX_ELEMENT_BYTES) -> None:
        self._max_element = max_element
        self._shape: _Shape | None = None
        self._depth = 0
        self._in_string = False
        self._escaped = False
        self._capturing = False
        self._element = bytearray()
        self._overflow = False
        self._closed = False

    @property
    def closed(self) -> bool:
        """True once the top-level array (or object) has ended."""
        return self._closed

    def feed(self, chunk: bytes) -> list[bytes]:
        if self._closed or not chunk:
            return []
        elements: list[bytes] = []
        start = 0 if self._capturing else None
        at = 0
        while at < len(chunk) and not self._closed:
            if self._in_string:
                at = self._skip_string(chunk, at)
                continue
            match = _STRUCTURE.search(chunk, at)
            if match is None:
                break
            at = match.end()
            token = match.group()
            if token == b'"':
                self._in_string = True
            elif token in (b"[", b"{"):
                if self._open(token):
                    start = match.start()
            elif self._close() and start is not None:
                self._keep(chunk[start:at])
                elements.extend(self._take())
                start = None
        if start is not None and self._capturing:
            self._keep(chunk[start:])
        return elements

    def _skip_string(self, chunk: bytes, at: int) -> int:
        """Move past string content; the position to continue from."""
        if self._escaped:
            self._escaped = False
            return at + 1
        match = _IN_STRING.search(chunk, at)
        if match is None:
            return len(chunk)
        if match.group() == b'"':
            self._in_string = False
        else:
            self._escaped = True
        return match.end()

    def _open(self, token: bytes) -> bool:
        """Count an opening bracket; True when it starts an element."""
        if self._shape is None:
            self._shape = _Shape.ARRAY if token == b"[" else _Shape.OBJECT
        self._depth += 1
        element_depth = 2 if self._shape is _Shape.ARRAY else 1
        if self._depth == element_depth:
            self._capturing = True
            return True
        return False

    def _close(self) -> bool:
        """Count a closing bracket; True when it ends an element."""
        if self._depth == 0:
            return False
        self._depth -= 1
        if self._depth == 0:
            self._closed = True
        element_depth = 1 if self._shape is _Shape.ARRAY else 0
        return self._capturing and self._depth == element_depth

    def _keep(self, piece: bytes) -> None:
        if self._overflow:
            return
        if len(self._element) + len(piece) > self._max_element:
            self._element = bytearray()
            self._overflow = True
            return
        self._element += piece

    def _take(self) -> list[bytes]:
        element = [] if self._overflow else [bytes(self._element)]
        self._element = bytearray()
        self._capturing = False
        self._overflow = False
        return element


class ElementParser(Protocol):
    """The state a wire format keeps while the elements of a streamed array go past."""

    @property
    def content_started(self) -> bool: ...

    def on_element(self, element: dict[str, Any]) -> None: ...

    def on_close(self) -> None:
        """The array ended: the stream is complete."""

    def result(self, *, complete: bool) -> ParsedCall: ...


class JsonArrayReader(GuardedReader[ElementParser]):
    """Splits a streamed JSON array as it arrives and hands each object to the parser.

    Elements that are not JSON objects are skipped. Like the readers in ``framing``,
    it never lets a parser fault reach the proxy.
    """

    def __init__(
        self,
        template: ParsedCall,
        parser: ElementParser,
        max_element: int = MAX_ELEMENT_BYTES,
    ) -> None:
        super().__init__(template, parser)
        self._splitter = JsonArraySplitter(max_element)
        self._closed = False

    def _consume(self, data: bytes) -> None:
        for raw in self._splitter.feed(data):
            element = load_json_object(raw)
            if element is not None:
                self._parser.on_element(element)
        if self._splitter.closed and not self._closed:
            self._closed = True
            self._parser.on_close()
