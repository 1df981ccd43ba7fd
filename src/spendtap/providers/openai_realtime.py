"""OpenAI Realtime over WebSocket (``GET /v1/realtime?model=...``, upgraded to a socket).

The capture step frames the server's messages as server-sent events
(``providers.websocket``), so this is an event-stream reader like the others.

One call per WebSocket session, not per response. Every ``response.done`` event
carries the usage of one response; the session's call is their sum. A session is one
upgrade request, serves one model and is priced per token, so the sum prices the same
as the parts, and it is what the proxy can see as one flow. The call is recorded when
the socket closes (sessions last at most about an hour).

Usage per response: ``input_tokens`` includes ``input_token_details.cached_tokens``,
as everywhere in OpenAI's APIs. The text/audio split of the details is not kept: the
usage event has no audio fields yet, so audio is priced as text would be
(known limit, not scheduled: audio is dearer than text, so such a session's cost is
low until the usage event has audio token fields and the pricer their rates).

Status: a response still open when the socket closed makes the session ``truncated``
(its usage never arrived); a session in which nothing completed and an error was
reported is an ``error``; otherwise ``ok``. ``error`` events that the session survives
(a bad client event) do not fail it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from spendtap.event import Api, CallStatus, Usage, UsageSource
from spendtap.providers.base import (
    ParsedCall,
    RequestInfo,
    ResponseHead,
    ResponseReader,
    Route,
)
from spendtap.providers.framing import (
    EventStreamReader,
    JsonBodyReader,
    as_object,
    as_text,
    error_type_of,
    is_success,
    load_json_object,
    path_is,
    read_error,
)
from spendtap.providers.openai_usage import UsageNames, normalise_usage
from spendtap.providers.sse import ServerSentEvent
from spendtap.providers.usage_totals import add_usage
from spendtap.providers.websocket import SWITCHING_PROTOCOLS

PROVIDER = "openai"
HOSTS = frozenset({"api.openai.com"})

#: One usage event per Realtime session, summing its ``response.done`` usages.
REALTIME_API = Api.REALTIME

REALTIME_USAGE = UsageNames(
    "input_tokens", "input_token_details", "output_tokens", "output_token_details"
)
SESSION_EVENTS = ("session.created", "session.updated")
FAILED = "failed"


def read_realtime(request: RequestInfo, head: ResponseHead) -> ResponseReader:
    return realtime_reader(PROVIDER, request, head, query_value(request, "model"))


def realtime_reader(
    provider: str,
    request: RequestInfo,
    head: ResponseHead,
    model_requested: str | None,
) -> ResponseReader:
    """The reader of one Realtime session billed by ``provider``."""
    template = ParsedCall(
        provider=provider,
        api=REALTIME_API,
        streaming=True,
        status=CallStatus.OK,
        usage=Usage(),
        usage_source=UsageSource.ABSENT,
        model_requested=model_requested,
        http_status=head.status,
    )
    if head.status != SWITCHING_PROTOCOLS and not is_success(head.status):
        error = dataclasses.replace(template, status=CallStatus.ERROR, streaming=False)
        return JsonBodyReader(error, read_error)
    return EventStreamReader(template, RealtimeSession(template))


def realtime_usage(raw: Mapping[str, Any]) -> Usage:
    """The ``usage`` of one ``response.done``, normalised."""
    return normalise_usage(raw, REALTIME_USAGE)


class RealtimeSession:
    """The server events of one Realtime session."""

    def __init__(self, template: ParsedCall) -> None:
        self._template = template
        self._usage = Usage()
        self._model: str | None = None
        self._session_id: str | None = None
        self._open_responses = 0
        self._completed = 0
        self._failed = False
        self._error: str | None = None
        self._content_started = False

    @property
    def content_started(self) -> bool:
        return self._content_started

    def on_event(self, event: ServerSentEvent) -> None:
        data = load_json_object(event.data)
        if data is None:
            return
        kind = as_text(data.get("type")) or event.event
        if kind in SESSION_EVENTS:
            self._session(as_object(data.get("session")))
        elif kind == "response.created":
            self._open_responses += 1
        elif kind == "response.done":
            self._done(as_object(data.get("response")))
        elif kind == "error":
            self._error = self._error or _error_type(data)
        elif kind.startswith("response.") and kind.endswith(".delta"):
            self._content_started = True

    def result(self, *, complete: bool) -> ParsedCall:
        empty = self._usage.is_empty
        return dataclasses.replace(
            self._template,
            status=self._status(),
            error_type=self._error,
            usage=self._usage,
            usage_source=UsageSource.ABSENT if empty else UsageSource.PROVIDER,
            model=self._model,
            response_id=self._session_id,
        )

    def _session(self, session: Mapping[str, Any]) -> None:
        self._model = as_text(session.get("model")) or self._model
        self._session_id = as_text(session.get("id")) or self._session_id

    def _done(self, response: Mapping[str, Any]) -> None:
        self._open_responses = max(0, self._open_responses - 1)
        usage = realtime_usage(as_object(response.get("usage")))
        self._usage = add_usage(self._usage, usage)
        if response.get("status") == FAILED:
            self._failed = True
            details = as_object(response.get("status_details"))
            self._error = self._error or error_type_of(details)
        else:
            self._completed += 1

    def _status(self) -> CallStatus:
        if self._open_responses:
            return CallStatus.TRUNCATED
        if not self._completed and (self._failed or self._error):
            return CallStatus.ERROR
        return CallStatus.OK


def _error_type(data: Mapping[str, Any]) -> str | None:
    return error_type_of(data) or as_text(as_object(data.get("error")).get("code"))


def query_value(request: RequestInfo, name: str) -> str | None:
    """One query parameter's value (only model and deployment names are read)."""
    values = parse_qs(request.query).get(name)
    return values[0] if values and values[0] else None


ROUTES: list[Route] = [
    Route(
        name="openai.realtime",
        provider=PROVIDER,
        api=REALTIME_API,
        path=path_is("/v1/realtime"),
        reader=read_realtime,
        hosts=HOSTS,
        methods=frozenset({"GET"}),
    ),
]
