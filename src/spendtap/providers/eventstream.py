"""AWS binary event-stream framing (``application/vnd.amazon.eventstream``).

Bedrock streams its answers (InvokeModelWithResponseStream, ConverseStream) as a
sequence of binary messages, each laid out as::

    total length   uint32, big-endian: the whole message, these 4 bytes included
    headers length uint32, big-endian
    prelude CRC    CRC32 of the 8 bytes above
    headers        name length (1 byte), name, value type (1 byte), value; repeated
    payload        total - headers - 16 bytes
    message CRC    CRC32 of everything before it

``EventStreamDecoder`` takes bytes as they arrive, in any split, and returns each
message once it is whole and both its CRCs check out. Memory is bounded: a message
longer than ``max_message`` is refused from its prelude, before any of it is kept.
A bad CRC or an impossible length means the framing is lost, and nothing after it can
be trusted: the decoder stops, keeps nothing more and says why in ``failure``.

``EventStreamMessageReader`` is the response reader for such bodies: it decodes
messages and hands each to a wire format's ``MessageParser``, and, like the readers in
``framing``, never lets a parser fault reach the proxy.
"""

from __future__ import annotations

import enum
import logging
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from spendtap.providers.base import ParsedCall
from spendtap.providers.guarded import GuardedReader

#: AWS caps one message at 16 MiB and its headers at 128 KiB.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
MAX_HEADERS_BYTES = 128 * 1024

CONTENT_TYPE = "application/vnd.amazon.eventstream"

#: Header names Bedrock sets on every message.
EVENT_TYPE = ":event-type"
MESSAGE_TYPE = ":message-type"
EXCEPTION_TYPE = ":exception-type"
ERROR_CODE = ":error-code"

_PRELUDE = struct.Struct(">II")
_PRELUDE_BYTES = 12
_CRC_BYTES = 4
_MIN_MESSAGE_BYTES = _PRELUDE_BYTES + _CRC_BYTES

log = logging.getLogger(__name__)

HeaderValue = bool | int | bytes | str


class FramingFailure(enum.StrEnum):
    """Why a decoder stopped: the stream cannot be read past this point."""

    LENGTH = "length"
    PRELUDE_CRC = "prelude_crc"
    MESSAGE_CRC = "message_crc"
    HEADERS = "headers"


@dataclass(frozen=True, slots=True)
class EventStreamMessage:
    headers: Mapping[str, HeaderValue]
    payload: bytes

    def text_header(self, name: str) -> str | None:
        """A string header's value, or None when it is absent or not a string."""
        value = self.headers.get(name)
        return value if isinstance(value, str) and value else None


class HeadersError(ValueError):
    """The headers block of a message does not parse."""


class EventStreamDecoder:
    """Feed bytes with ``feed``; each call returns the messages it completed."""

    def __init__(self, max_message: int = MAX_MESSAGE_BYTES) -> None:
        self._max_message = max_message
        self._buffer = bytearray()
        self._failure: FramingFailure | None = None

    @property
    def failure(self) -> FramingFailure | None:
        return self._failure

    @property
    def buffered_bytes(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[EventStreamMessage]:
        if self._failure is not None or not data:
            return []
        self._buffer += data
        messages: list[EventStreamMessage] = []
        while (message := self._next_message()) is not None:
            messages.append(message)
        return messages

    def _next_message(self) -> EventStreamMessage | None:
        if len(self._buffer) < _PRELUDE_BYTES:
            return None
        total, headers_length = _PRELUDE.unpack_from(self._buffer)
        problem = self._prelude_problem(total, headers_length)
        if problem is not None:
            self._fail(problem)
            return None
        if len(self._buffer) < total:
            return None

        frame = bytes(self._buffer[:total])
        del self._buffer[:total]
        if zlib.crc32(frame[:-_CRC_BYTES]) != _crc_at(frame, total - _CRC_BYTES):
            self._fail(FramingFailure.MESSAGE_CRC)
            return None
        headers_end = _PRELUDE_BYTES + headers_length
        try:
            headers = decode_headers(frame[_PRELUDE_BYTES:headers_end])
        except HeadersError:
            self._fail(FramingFailure.HEADERS)
            return None
        return EventStreamMessage(headers, frame[headers_end:-_CRC_BYTES])

    def _prelude_problem(
        self, total: int, headers_length: int
    ) -> FramingFailure | None:
        if zlib.crc32(self._buffer[:8]) != _crc_at(self._buffer, 8):
            return FramingFailure.PRELUDE_CRC
        too_long = total > self._max_message or headers_length > MAX_HEADERS_BYTES
        if too_long or total < _MIN_MESSAGE_BYTES + headers_length:
            return FramingFailure.LENGTH
        return None

    def _fail(self, failure: FramingFailure) -> None:
        self._failure = failure
        self._buffer = bytearray()


def decode_headers(block: bytes) -> dict[str, HeaderValue]:
    """The headers of one message; raises ``HeadersError`` on a malformed block."""
    headers: dict[str, HeaderValue] = {}
    at = 0
    while at < len(block):
        name_length = block[at]
        name = _slice(block, at + 1, name_length).decode("utf-8", "replace")
        at += 1 + name_length
        value, at = _header_value(block, at)
        headers[name] = value
    return headers


def _header_value(block: bytes, at: int) -> tuple[HeaderValue, int]:
    kind = _slice(block, at, 1)[0]
    at += 1
    if kind in (0, 1):  # boolean true, false: no value bytes
        return kind == 0, at
    if kind in _INTEGERS:
        layout = _INTEGERS[kind]
        number = int(layout.unpack(_slice(block, at, layout.size))[0])
        return number, at + layout.size
    if kind in (6, 7):  # byte array, string: a uint16 length, then the bytes
        length = int.from_bytes(_slice(block, at, 2), "big")
        raw = _slice(block, at + 2, length)
        text_or_bytes = raw.decode("utf-8", "replace") if kind == 7 else raw
        return text_or_bytes, at + 2 + length
    if kind == 9:  # uuid
        return _slice(block, at, 16), at + 16
    raise HeadersError(f"unknown header value type {kind}")


#: Integer header types: byte, short, integer, long, timestamp (ms since epoch).
_INTEGERS = {
    2: struct.Struct(">b"),
    3: struct.Struct(">h"),
    4: struct.Struct(">i"),
    5: struct.Struct(">q"),
    8: struct.Struct(">q"),
}


def _slice(block: bytes, start: int, length: int) -> bytes:
    if start + length > len(block):
        raise HeadersError("a header runs past the end of the headers block")
    return block[start : start + length]


def _crc_at(data: bytes | bytearray, at: int) -> int:
    return int.from_bytes(data[at : at + _CRC_BYTES], "big")


class MessageParser(Protocol):
    """The state a wire format keeps while event-stream messages go past."""

    @property
    def content_started(self) -> bool: ...

    def on_message(self, message: EventStreamMessage) -> None: ...

    def result(self, *, complete: bool) -> ParsedCall: ...


class EventStreamMessageReader(GuardedReader[MessageParser]):
    """Decodes event-stream messages as they arrive and hands each to the parser."""

    def __init__(
        self,
        template: ParsedCall,
        parser: MessageParser,
        max_message: int = MAX_MESSAGE_BYTES,
    ) -> None:
        super().__init__(template, parser)
        self._decoder = EventStreamDecoder(max_message)
        self._framing_logged = False

    def _consume(self, data: bytes) -> None:
        try:
            for message in self._decoder.feed(data):
                self._parser.on_message(message)
        finally:
            self._log_framing_failure()

    def _log_framing_failure(self) -> None:
        failure = self._decoder.failure
        if failure is not None and not self._framing_logged:
            self._framing_logged = True
            log.warning(
                "providers.eventstream.framing_lost api=%s reason=%s",
                self._template.api,
                failure,
            )
