"""How a response body is framed, and the readers that walk each framing.

A wire format brings two pure pieces of its own: a function that reads one whole JSON
body, and a ``StreamParser`` that consumes server-sent events one at a time. This
module picks the one that applies (an HTTP error, an event stream or a JSON document),
feeds it, keeps memory bounded and makes sure nothing it runs raises into the proxy.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from spendtap.event import Api, CallStatus, Usage, UsageSource
from spendtap.providers.base import (
    ParsedCall,
    RequestInfo,
    ResponseHead,
    ResponseReader,
)
from spendtap.providers.guarded import GuardedReader
from spendtap.providers.sse import ServerSentEvent, SSEDecoder

#: The most JSON response body a reader buffers; past it the call keeps no usage.
MAX_JSON_BODY_BYTES = 32 * 1024 * 1024

EVENT_STREAM = "text/event-stream"
JSON = "application/json"

log = logging.getLogger(__name__)


class StreamParser(Protocol):
    """The state a wire format keeps while server-sent events go past."""

    @property
    def content_started(self) -> bool: ...

    def on_event(self, event: ServerSentEvent) -> None: ...

    def result(self, *, complete: bool) -> ParsedCall: ...


#: Reads a whole JSON response body into a call, starting from the call's template.
JsonParser = Callable[[ParsedCall, dict[str, Any]], ParsedCall]


def call_template(
    provider: str,
    api: Api,
    request_body: Mapping[str, Any] | None,
    head: ResponseHead,
    *,
    billable: bool = True,
) -> ParsedCall:
    """What is known before the body arrives: no usage yet, status from the head."""
    body = request_body or {}
    streaming = body.get("stream") is True or head.content_type == EVENT_STREAM
    return ParsedCall(
        provider=provider,
        api=api,
        streaming=streaming,
        status=CallStatus.OK if is_success(head.status) else CallStatus.ERROR,
        usage=Usage(),
        usage_source=UsageSource.ABSENT,
        model_requested=as_text(body.get("model")),
        http_status=head.status,
        billable=billable,
    )


def open_reader(
    head: ResponseHead,
    template: ParsedCall,
    read_json: JsonParser,
    new_stream: Callable[[], StreamParser],
) -> ResponseReader:
    """The reader for this response: an HTTP error body, an event stream or JSON."""
    if not is_success(head.status):
        return JsonBodyReader(template, read_error)
    sse = head.content_type == EVENT_STREAM
    if sse or (template.streaming and head.content_type != JSON):
        return EventStreamReader(template, new_stream())
    return JsonBodyReader(template, read_json)


def open_token_count_reader(
    provider: str, request: RequestInfo, head: ResponseHead
) -> ResponseReader:
    """A token-counting endpoint: free, so recorded without usage and not billable."""
    body = request.json_body()
    template = call_template(provider, Api.COUNT_TOKENS, body, head, billable=False)
    return open_reader(head, template, _keep_template, lambda: NoStream(template))


def _keep_template(template: ParsedCall, body: dict[str, Any]) -> ParsedCall:
    return template  # the count is the request's size, not a call's usage


def path_is(expected: str) -> Callable[[str], bool]:
    """A route's path test: exactly ``expected``, a trailing slash allowed."""
    return lambda path: path.rstrip("/") == expected


def is_success(status: int) -> bool:
    return 200 <= status < 300


def read_error(template: ParsedCall, body: dict[str, Any]) -> ParsedCall:
    """An error body (a non-2xx one, or an error at 200): no usage, its error type."""
    return dataclasses.replace(
        template, status=CallStatus.ERROR, error_type=error_type_of(body)
    )


def error_type_of(body: Mapping[str, Any]) -> str | None:
    """``error.type`` (Anthropic, OpenAI), else ``error.code``, else None."""
    error = body.get("error")
    if not isinstance(error, dict):
        return None
    return as_text(error.get("type")) or as_text(error.get("code"))


def load_json_object(data: str | bytes | bytearray) -> dict[str, Any] | None:
    """An SSE event's data or a whole body as a JSON object; None for anything else."""
    if not data:
        return None
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def as_text(value: object) -> str | None:
    """A non-empty string from JSON, or None."""
    return value if isinstance(value, str) and value else None


def as_object(value: object) -> dict[str, Any]:
    """A JSON object, or an empty one for null and junk."""
    return value if isinstance(value, dict) else {}


def usage_source(usage: Usage) -> UsageSource:
    return UsageSource.ABSENT if usage.is_empty else UsageSource.PROVIDER


class NoStream:
    """The stream parser of an endpoint that never streams: events are ignored."""

    def __init__(self, template: ParsedCall) -> None:
        self._template = template

    @property
    def content_started(self) -> bool:
        return False

    def on_event(self, event: ServerSentEvent) -> None:
        return None

    def result(self, *, complete: bool) -> ParsedCall:
        return self._template


class JsonBodyReader:
    """Buffers one JSON body up to a cap, then reads it whole at ``finish``."""

    def __init__(
        self,
        template: ParsedCall,
        read_json: JsonParser,
        limit: int = MAX_JSON_BODY_BYTES,
    ) -> None:
        self._template = template
        self._read_json = read_json
        self._limit = limit
        self._buffer = bytearray()
        self._over_limit = False
        self._content_started = False

    @property
    def content_started(self) -> bool:
        return self._content_started

    @property
    def buffered_bytes(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        if not data:
            return
        self._content_started = self._template.status is CallStatus.OK
        if self._over_limit:
            return
        if len(self._buffer) + len(data) > self._limit:
            self._buffer = bytearray()
            self._over_limit = True
            log.warning(
                "providers.body.over_limit api=%s limit=%d",
                self._template.api,
                self._limit,
            )
            return
        self._buffer += data

    def finish(self, *, complete: bool) -> ParsedCall:
        body = None if self._over_limit else load_json_object(self._buffer)
        # A JSON object that does not parse was cut short, even if the connection
        # ended cleanly (a close-delimited body): case S04's kind, not a success.
        cut = body is None and bytes(self._buffer[:1]).strip() in (b"{", b"")
        cut = cut and bool(self._buffer)
        self._buffer = bytearray()
        if body is None:
            if cut:
                return self._unreadable(complete=False)
            log.warning("providers.body.unreadable api=%s", self._template.api)
            return self._unreadable(complete)
        try:
            return self._read_json(self._template, body)
        except (
            Exception
        ) as exc:  # boundary: a parser fault costs the usage, not the call
            log.warning(
                "providers.reader.failed api=%s error=%s",
                self._template.api,
                type(exc).__name__,
            )
            return self._unreadable(complete)

    def _unreadable(self, complete: bool) -> ParsedCall:
        if self._template.status is not CallStatus.OK:
            return self._template
        status = CallStatus.OK if complete else CallStatus.TRUNCATED
        return dataclasses.replace(self._template, status=status)


class EventStreamReader(GuardedReader[StreamParser]):
    """Decodes server-sent events as they arrive and hands each to the parser."""

    def __init__(self, template: ParsedCall, parser: StreamParser) -> None:
        super().__init__(template, parser)
        self._decoder = SSEDecoder()

    def _consume(self, data: bytes) -> None:
        for event in self._decoder.feed(data):
            self._parser.on_event(event)

    def _end(self) -> None:
        self._decoder.flush()
