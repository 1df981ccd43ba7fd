"""OpenAI Responses API (``POST /v1/responses`` on api.openai.com).

A stream ends with ``response.completed``, ``response.incomplete`` or
``response.failed``; each carries the whole response object, usage included. An
``error`` event, or ``response.failed``, makes the call an error; a stream without any
of these ends was cut off. ``POST /v1/responses/input_tokens`` counts tokens for free.

Web search is billed per call: ``web_search_requests`` counts the ``web_search_call``
items of the response's output. Usage is normalised in ``openai_usage``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from spendtap.event import Api, CallStatus
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
from spendtap.providers.openai_usage import responses_usage
from spendtap.providers.sse import ServerSentEvent

PROVIDER = "openai"
HOSTS = frozenset({"api.openai.com"})

#: Stream events that end a response, and whether the call succeeded.
TERMINAL_EVENTS = {
    "response.completed": True,
    "response.incomplete": True,
    "response.failed": False,
}
#: Stream events that carry the response object so far.
SNAPSHOT_EVENTS = ("response.created", "response.queued", "response.in_progress")
WEB_SEARCH_CALL = "web_search_call"
FAILED = "failed"


def read_responses(request: RequestInfo, head: ResponseHead) -> ResponseReader:
    template = call_template(PROVIDER, Api.RESPONSES, request.json_body(), head)
    return open_reader(
        head, template, read_response_json, lambda: ResponseStream(template)
    )


def read_input_tokens(request: RequestInfo, head: ResponseHead) -> ResponseReader:
    return open_token_count_reader(PROVIDER, request, head)


def read_response_json(template: ParsedCall, body: dict[str, Any]) -> ParsedCall:
    """A whole response object (a background response may still be queued)."""
    if isinstance(body.get("error"), dict) and body.get("object") != "response":
        return read_error(template, body)
    return _with_response(template, body)


def _with_response(template: ParsedCall, response: Mapping[str, Any]) -> ParsedCall:
    usage = dataclasses.replace(
        responses_usage(as_object(response.get("usage"))),
        web_search_requests=_web_searches(response.get("output")),
    )
    failed = response.get("status") == FAILED
    return dataclasses.replace(
        template,
        status=CallStatus.ERROR if failed else template.status,
        error_type=error_type_of(response) if failed else template.error_type,
        usage=usage,
        usage_source=usage_source(usage),
        model=as_text(response.get("model")) or template.model,
        response_id=as_text(response.get("id")) or template.response_id,
        service_tier=as_text(response.get("service_tier")) or template.service_tier,
    )


def _web_searches(output: object) -> int | None:
    """Web search calls in a response's output; None when there were none."""
    items = output if isinstance(output, list) else []
    count = sum(1 for i in items if isinstance(i, dict) and _is_web_search(i))
    return count or None


def _is_web_search(item: Mapping[str, Any]) -> bool:
    return item.get("type") == WEB_SEARCH_CALL


class ResponseStream:
    """The events of one streamed response."""

    def __init__(self, template: ParsedCall) -> None:
        self._call = template
        self._content_started = False
        self._ended = False
        self._errored = False
        self._error: str | None = None
        self._web_searches = 0

    @property
    def content_started(self) -> bool:
        return self._content_started

    def on_event(self, event: ServerSentEvent) -> None:
        data = load_json_object(event.data)
        if data is None:
            return
        kind = as_text(data.get("type")) or event.event
        if kind in TERMINAL_EVENTS:
            self._end(as_object(data.get("response")), succeeded=TERMINAL_EVENTS[kind])
        elif kind in SNAPSHOT_EVENTS:
            self._snapshot(as_object(data.get("response")))
        elif kind == "error":
            self._errored = True
            self._error = self._error or _stream_error_type(data)
        elif kind == "response.output_item.done":
            self._web_searches += _is_web_search(as_object(data.get("item")))
        elif kind.startswith("response.") and kind.endswith(".delta"):
            self._content_started = True

    def result(self, *, complete: bool) -> ParsedCall:
        call = self._call
        if not self._ended and self._web_searches:
            usage = dataclasses.replace(
                call.usage, web_search_requests=self._web_searches
            )
            call = dataclasses.replace(call, usage=usage)
        return dataclasses.replace(call, status=self._status(), error_type=self._error)

    def _snapshot(self, response: Mapping[str, Any]) -> None:
        self._call = dataclasses.replace(
            self._call,
            model=as_text(response.get("model")) or self._call.model,
            response_id=as_text(response.get("id")) or self._call.response_id,
        )

    def _end(self, response: Mapping[str, Any], *, succeeded: bool) -> None:
        self._ended = True
        self._call = _with_response(self._call, response)
        if not succeeded:
            self._errored = True
            self._error = self._error or error_type_of(response)

    def _status(self) -> CallStatus:
        if self._errored:
            return CallStatus.ERROR
        return CallStatus.OK if self._ended else CallStatus.TRUNCATED


def _stream_error_type(data: Mapping[str, Any]) -> str | None:
    """An ``error`` event names its kind in ``code`` (or in a nested error object)."""
    return error_type_of(data) or as_text(data.get("code"))


ROUTES: list[Route] = [
    Route(
        name="openai.responses",
        provider=PROVIDER,
        api=Api.RESPONSES,
        path=path_is("/v1/responses"),
        reader=read_responses,
        hosts=HOSTS,
    ),
    Route(
        name="openai.responses.input_tokens",
        provider=PROVIDER,
        api=Api.COUNT_TOKENS,
        path=path_is("/v1/responses/input_tokens"),
        reader=read_input_tokens,
        hosts=HOSTS,
    ),
]
