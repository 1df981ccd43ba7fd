"""Chat Completions and Responses readers for OpenAI-compatible hosts.

They read the same bodies and streams as ``openai_chat`` and ``openai_responses`` and
apply a host's ``Dialect`` to the usage. Two stream rules differ from OpenAI's own
chat reader: a host may put usage in a chunk that also reports an error (OpenRouter
bills the tokens of a stream that failed part-way), and Groq streams carry usage
whether or not the client asked for it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from spendtap.event import Api, CallStatus, Usage
from spendtap.providers.base import (
    ParsedCall,
    RequestInfo,
    ResponseHead,
    ResponseReader,
)
from spendtap.providers.framing import (
    StreamParser,
    as_object,
    as_text,
    call_template,
    error_type_of,
    load_json_object,
    open_reader,
    read_error,
    usage_source,
)
from spendtap.providers.openai_chat import DONE, GENERATED_DELTA_FIELDS
from spendtap.providers.openai_dialects import (
    Dialect,
    dialect_usage,
    find_usage,
    reported_cost,
)
from spendtap.providers.openai_responses import (
    TERMINAL_EVENTS,
    ResponseStream,
    read_response_json,
)
from spendtap.providers.openai_usage import RESPONSES
from spendtap.providers.sse import ServerSentEvent


def chat_reader(
    provider: str, dialect: Dialect, request: RequestInfo, head: ResponseHead
) -> ResponseReader:
    """The reader of a chat completion from a compatible host."""
    body = request.json_body() or {}
    template = call_template(provider, Api.CHAT_COMPLETIONS, body, head)
    include_usage = as_object(body.get("stream_options")).get("include_usage") is True
    return open_reader(
        head,
        template,
        lambda t, b: read_chat_json(dialect, t, b),
        lambda: DialectChatStream(template, dialect, include_usage),
    )


def responses_reader(
    provider: str, dialect: Dialect, request: RequestInfo, head: ResponseHead
) -> ResponseReader:
    """The reader of a Responses API call to a compatible host."""
    template = call_template(provider, Api.RESPONSES, request.json_body(), head)
    return open_reader(
        head,
        template,
        lambda t, b: _with_dialect(dialect, read_response_json(t, b), b),
        lambda: DialectResponseStream(template, dialect),
    )


def read_chat_json(
    dialect: Dialect, template: ParsedCall, body: dict[str, Any]
) -> ParsedCall:
    """A whole chat completion body; an error body may still carry billed usage."""
    call = (
        read_error(template, body) if isinstance(body.get("error"), dict) else template
    )
    raw = find_usage(dialect, body) or {}
    usage = dialect_usage(dialect, raw)
    return dataclasses.replace(
        call,
        usage=usage,
        usage_source=usage_source(usage),
        model=as_text(body.get("model")),
        response_id=as_text(body.get("id")),
        service_tier=as_text(body.get("service_tier")),
        reported_cost_usd=reported_cost(dialect, raw),
    )


class DialectChatStream:
    """The chunks of one streamed chat completion from a compatible host."""

    def __init__(
        self, template: ParsedCall, dialect: Dialect, include_usage: bool
    ) -> None:
        self._template = template
        self._dialect = dialect
        self._include_usage = include_usage
        self._raw_usage: dict[str, Any] | None = None
        self._model: str | None = None
        self._response_id: str | None = None
        self._service_tier: str | None = None
        self._content_started = False
        self._finished = False
        self._done = False
        self._error: str | None = None
        self._errored = False

    @property
    def content_started(self) -> bool:
        return self._content_started

    def on_event(self, event: ServerSentEvent) -> None:
        if event.data.strip() == DONE:
            self._done = True
            return
        chunk = load_json_object(event.data)
        if chunk is None:
            return
        self._raw_usage = find_usage(self._dialect, chunk) or self._raw_usage
        if event.event == "error" or isinstance(chunk.get("error"), dict):
            self._errored = True
            self._error = self._error or error_type_of(chunk)
            return
        self._take_chunk(chunk)

    def result(self, *, complete: bool) -> ParsedCall:
        raw = self._raw_usage or {}
        usage = dialect_usage(self._dialect, raw)
        return dataclasses.replace(
            self._template,
            status=self._status(usage),
            usage=usage,
            usage_source=usage_source(usage),
            error_type=self._error,
            model=self._model,
            response_id=self._response_id,
            service_tier=self._service_tier,
            reported_cost_usd=reported_cost(self._dialect, raw),
        )

    def _take_chunk(self, chunk: Mapping[str, Any]) -> None:
        self._model = as_text(chunk.get("model")) or self._model
        self._response_id = as_text(chunk.get("id")) or self._response_id
        self._service_tier = as_text(chunk.get("service_tier")) or self._service_tier
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else []:
            if not isinstance(choice, dict):
                continue
            self._finished |= as_text(choice.get("finish_reason")) is not None
            delta = as_object(choice.get("delta"))
            if any(delta.get(name) for name in GENERATED_DELTA_FIELDS):
                self._content_started = True

    def _status(self, usage: Usage) -> CallStatus:
        if self._errored:
            return CallStatus.ERROR
        if self._done:
            return CallStatus.OK
        usage_due = self._include_usage and usage.is_empty
        return (
            CallStatus.OK if self._finished and not usage_due else CallStatus.TRUNCATED
        )


class DialectResponseStream:
    """A Responses API stream read by ``ResponseStream``, the usage by the dialect."""

    def __init__(self, template: ParsedCall, dialect: Dialect) -> None:
        self._inner: StreamParser = ResponseStream(template)
        self._dialect = dialect
        self._final: dict[str, Any] | None = None

    @property
    def content_started(self) -> bool:
        return self._inner.content_started

    def on_event(self, event: ServerSentEvent) -> None:
        self._inner.on_event(event)
        if not _may_end_response(event):
            return
        data = load_json_object(event.data) or {}
        if (as_text(data.get("type")) or event.event) in TERMINAL_EVENTS:
            self._final = as_object(data.get("response"))

    def result(self, *, complete: bool) -> ParsedCall:
        call = self._inner.result(complete=complete)
        return (
            call
            if self._final is None
            else _with_dialect(self._dialect, call, self._final)
        )


def _may_end_response(event: ServerSentEvent) -> bool:
    """A cheap test that spares decoding every delta a second time."""
    return event.event in TERMINAL_EVENTS or any(
        name in event.data for name in TERMINAL_EVENTS
    )


def _with_dialect(
    dialect: Dialect, call: ParsedCall, response: Mapping[str, Any]
) -> ParsedCall:
    """``call`` with its usage read again under the host's dialect."""
    raw = as_object(response.get("usage"))
    if not raw:
        return call
    usage = dialect_usage(dialect, raw, RESPONSES)
    if usage.web_search_requests is None:  # keep the count of web_search_call items
        usage = dataclasses.replace(
            usage, web_search_requests=call.usage.web_search_requests
        )
    return dataclasses.replace(
        call,
        usage=usage,
        usage_source=usage_source(usage),
        reported_cost_usd=reported_cost(dialect, raw),
    )
