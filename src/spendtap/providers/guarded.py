"""The shell every streaming reader shares: a parser fault costs the usage, not the call.

A ``GuardedReader`` splits the body into frames (SSE events, AWS event-stream messages,
JSON array elements: the subclass's ``_consume``) and hands them to a wire format's
parser. The first exception stops the parsing, is logged, and leaves a call with the
template's model and status: the proxy never sees it.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Protocol

from spendtap.event import CallStatus
from spendtap.providers.base import ParsedCall

log = logging.getLogger(__name__)


class ResultParser(Protocol):
    """What a reader needs of any wire format's stream parser."""

    @property
    def content_started(self) -> bool: ...

    def result(self, *, complete: bool) -> ParsedCall: ...


class GuardedReader[P: ResultParser]:
    def __init__(self, template: ParsedCall, parser: P) -> None:
        self._template = template
        self._parser = parser
        self._failed = False

    @property
    def content_started(self) -> bool:
        return self._parser.content_started

    def feed(self, data: bytes) -> None:
        if self._failed:
            return
        try:
            self._consume(data)
        except Exception as exc:  # boundary: a parser fault costs the usage
            self._fail(exc)

    def finish(self, *, complete: bool) -> ParsedCall:
        self._end()
        if not self._failed:
            try:
                return self._parser.result(complete=complete)
            except Exception as exc:  # boundary, as in feed
                self._fail(exc)
        status = CallStatus.OK if complete else CallStatus.TRUNCATED
        if self._template.status is CallStatus.ERROR:
            status = CallStatus.ERROR
        return dataclasses.replace(self._template, status=status)

    def _consume(self, data: bytes) -> None:
        """Split ``data`` into frames and give each to the parser."""
        raise NotImplementedError

    def _end(self) -> None:
        """The body has ended (before the parser's result is taken)."""

    def _fail(self, exc: Exception) -> None:
        self._failed = True
        log.warning(
            "providers.reader.failed api=%s error=%s",
            self._template.api,
            type(exc).__name__,
        )
