"""The response tee: the client gets every chunk at once, the parser gets a copy."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from spendtap.capture.decoding import StreamDecoder
from spendtap.providers.base import ResponseReader

log = logging.getLogger(__name__)


class ResponseTee:
    """A ``flow.response.stream`` callable that never changes, holds or raises.

    mitmproxy calls it once per network read with the body still content-encoded,
    then once with ``b""``. The chunk goes back to mitmproxy untouched; a decoded copy
    is fed to the parser. The first fault stops the copy and is kept in ``fault``.
    """

    def __init__(
        self,
        reader: ResponseReader,
        decoder: StreamDecoder,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.reader = reader
        self.decoder = decoder
        self.clock = clock
        self.fault: str | None = None
        self.first_content_at: float | None = None
        self.wire_bytes = 0

    def __call__(self, data: bytes) -> bytes:
        self.wire_bytes += len(data)
        if data and self.fault is None:
            self._copy(data)
        return data

    def _copy(self, data: bytes) -> None:
        try:
            self.reader.feed(self.decoder.decode(data))
            if self.first_content_at is None and self.reader.content_started:
                self.first_content_at = self.clock()
        except (
            Exception
        ) as exc:  # boundary: a parser fault costs a record, never a request
            self.fault = f"{type(exc).__name__}: {exc}"[:300]
