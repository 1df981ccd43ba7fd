"""Anthropic Messages API on api.anthropic.com, with token counting and legacy Complete.

Routes: ``POST /v1/messages`` (Claude Code adds ``?beta=true``), ``POST
/v1/messages/count_tokens`` (free: no usage, not billable) and the legacy ``POST
/v1/complete`` (no usage on the wire at all). Usage is normalised in
``anthropic_usage``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from spendtap.event import Api, CallStatus, Usage, UsageSource
from spendtap.providers.anthropic_usage import (
    RunningUsage,
    anthropic_usage,
    usage_region,
)
from spendtap.providers.base import (
    ParsedCall,
    RequestInfo,
    ResponseHead,
    ResponseReader,
    Route,
)
from spendtap.providers.framing import (
    as_object,
    as_text,
    call_template,
    error_type_of,
    load_json_object,
    open_reader,
    open_token_count_reader,
    path_is,
    read_error,
    usage_source,
)
from spendtap.providers.sse import ServerSentEvent

PROVIDER = "anthropic"
HOSTS = frozenset({"api.anthropic.com"})


def read_messages(request: RequestInfo, head: ResponseHead) -> ResponseReader:
    template = call_template(PROVIDER, Api.MESSAGES, request.json_body(), head)
    return open_reader(
        head, template, read_message_json, lambda: MessageStream(template)
    )


def read_count_tokens(request: RequestInfo, head: ResponseHead) -> ResponseReader:
    return open_token_count_reader(PROVIDER, request, head)


def read_complete(request: RequestInfo, head: ResponseHead) -> ResponseReader:
    template = call_template(PROVIDER, Api.COMPLETE, request.json_body(), head)
    return open_reader(
        head, template, _read_completion_json, lambda: CompletionStream(template)
    )


def read_message_json(template: ParsedCall, body: dict[str, Any]) -> ParsedCall:
    """A whole Messages API response body."""
    if body.get("type") == "error":
        return read_error(template, body)
    raw_usage = as_object(body.get("usage"))
    usage = anthropic_usage(raw_usage)
    return dataclasses.replace(
        template,
        usage=usage,
        usage_source=usage_source(usage),
        model=as_text(body.get("model")),
        response_id=as_text(body.get("id")),
        service_tier=as_text(raw_usage.get("service_tier")),
        region=usage_region(raw_usage),
    )


class MessageStream:
    """The events of one streamed message.

    ``message_start`` gives the id, model and first usage; ``message_delta`` revises the
    usage (the last value of each field wins); ``message_stop`` ends the stream. An
    ``error`` event makes the call an error; a stream that ends without both
    ``message_delta`` and ``message_stop`` is truncated.
    """

    def __init__(self, template: ParsedCall) -> None:
        self._template = template
        self._usage = RunningUsage()
        self._model: str | None = None
        self._response_id: str | None = None
        self._content_started = False
        self._delta_seen = False
        self._stopped = False
        self._error: str | None = None
        self._errored = False

    @property
    def content_started(self) -> bool:
        return self._content_started

    def on_event(self, event: ServerSentEvent) -> None:
        data = load_json_object(event.data)
        if data is None:
            return
        match as_text(data.get("type")) or event.event:
            case "message_start":
                self._start(as_object(data.get("message")))
            case "content_block_delta":
                self._content_started = True
            case "message_delta":
                self._delta_seen = True
                self._usage.update(as_object(data.get("usage")))
            case "message_stop":
                self._stopped = True
            case "error":
                self._errored = True
                self._error = self._error or error_type_of(data)

    def result(self, *, complete: bool) -> ParsedCall:
        usage = self._usage.usage()
        return dataclasses.replace(
            self._template,
            status=self._status(),
            usage=usage,
            usage_source=self._usage_source(usage),
            error_type=self._error,
            model=self._model,
            response_id=self._response_id,
            service_tier=self._usage.service_tier,
            region=self._usage.region,
        )

    def _start(self, message: dict[str, Any]) -> None:
        self._model = as_text(message.get("model")) or self._model
        self._response_id = as_text(message.get("id")) or self._response_id
        self._usage.update(as_object(message.get("usage")))

    def _status(self) -> CallStatus:
        if self._errored:
            return CallStatus.ERROR
        if self._stopped and self._delta_seen:
            return CallStatus.OK
        return CallStatus.TRUNCATED

    def _usage_source(self, usage: Usage) -> UsageSource:
        if usage.is_empty:
            return UsageSource.ABSENT
        if self._delta_seen:  # message_delta holds the final totals
            return UsageSource.PROVIDER
        return UsageSource.ESTIMATED  # message_start only: output is a placeholder


def _read_completion_json(template: ParsedCall, body: dict[str, Any]) -> ParsedCall:
    """A legacy Complete body carries no usage at all (case S05)."""
    if body.get("type") == "error":
        return read_error(template, body)
    return dataclasses.replace(
        template,
        model=as_text(body.get("model")),
        response_id=as_text(body.get("id")) or as_text(body.get("log_id")),
    )


class CompletionStream:
    """A streamed legacy completion: ``completion`` events until a stop reason."""

    def __init__(self, template: ParsedCall) -> None:
        self._template = template
        self._model: str | None = None
        self._response_id: str | None = None
        self._content_started = False
        self._stopped = False
        self._error: str | None = None
        self._errored = False

    @property
    def content_started(self) -> bool:
        return self._content_started

    def on_event(self, event: ServerSentEvent) -> None:
        data = load_json_object(event.data)
        if data is None:
            return
        match as_text(data.get("type")) or event.event:
            case "completion":
                self._model = as_text(data.get("model")) or self._model
                self._response_id = as_text(data.get("id")) or self._response_id
                self._content_started |= bool(as_text(data.get("completion")))
                self._stopped |= as_text(data.get("stop_reason")) is not None
            case "error":
                self._errored = True
                self._error = self._error or error_type_of(data)

    def result(self, *, complete: bool) -> ParsedCall:
        if self._errored:
            status = CallStatus.ERROR
        else:
            status = CallStatus.OK if self._stopped else CallStatus.TRUNCATED
        return dataclasses.replace(
            self._template,
            status=status,
            error_type=self._error,
            model=self._model,
            response_id=self._response_id,
        )


ROUTES: list[Route] = [
    Route(
        name="anthropic.messages",
        provider=PROVIDER,
        api=Api.MESSAGES,
        path=path_is("/v1/messages"),
        reader=read_messages,
        hosts=HOSTS,
    ),
    Route(
        name="anthropic.count_tokens",
        provider=PROVIDER,
        api=Api.COUNT_TOKENS,
        path=path_is("/v1/messages/count_tokens"),
        reader=read_count_tokens,
        hosts=HOSTS,
    ),
    Route(
        name="anthropic.complete",
        provider=PROVIDER,
        api=Api.COMPLETE,
        path=path_is("/v1/complete"),
        reader=read_complete,
        hosts=HOSTS,
    ),
]
