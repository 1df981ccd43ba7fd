"""OpenAI Chat Completions (``POST /v1/chat/completions`` on api.openai.com).

A stream carries usage only in a last chunk, and only when the request set
``stream_options.include_usage``; without it the call has no usage (never a guessed
0, case S03). A stream that ends with neither a finish reason nor ``[DONE]`` was cut
off (case S04). Usage is normalised in ``openai_usage``.
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
    Route,
)
from spendtap.providers.framing import (
    as_object,
    as_text,
    call_template,
    error_type_of,
    load_json_object,
    open_reader,
    path_is,
    read_error,
    usage_source,
)
from spendtap.providers.openai_usage import chat_usage
from spendtap.providers.sse import ServerSentEvent

PROVIDER = "openai"
HOSTS = frozenset({"api.openai.com"})
DONE = "[DONE]"

#: Delta fields that hold generated content (text, tool calls, reasoning, audio).
GENERATED_DELTA_FIELDS = (
    "content",
    "tool_calls",
    "function_call",
    "refusal",
    "reasoning_content",
    "reasoning",
    "audio",
)


def read_chat(request: RequestInfo, head: ResponseHead) -> ResponseReader:
    body = request.json_body() or {}
    template = call_template(PROVIDER, Api.CHAT_COMPLETIONS, body, head)
    include_usage = as_object(body.get("stream_options")).get("include_usage") is True
    return open_reader(
        head, template, read_chat_json, lambda: ChatStream(template, include_usage)
    )


def read_chat_json(template: ParsedCall, body: dict[str, Any]) -> ParsedCall:
    """A whole chat completion body."""
    if isinstance(body.get("error"), dict):
        return read_error(template, body)
    usage = chat_usage(as_object(body.get("usage")))
    return dataclasses.replace(
        template,
        usage=usage,
        usage_source=usage_source(usage),
        model=as_text(body.get("model")),
        response_id=as_text(body.get("id")),
        service_tier=as_text(body.get("service_tier")),
    )


class ChatStream:
    """The chunks of one streamed chat completion."""

    def __init__(self, template: ParsedCall, include_usage: bool) -> None:
        self._template = template
        self._include_usage = include_usage
        self._usage = Usage()
        self._model: str | None = None
        self._response_id: str | None = None
        self._service_tier: str | None = None
        self._content_started = False
        self._finished = False
        self._done = False
        self._errored = False
        self._error: str | None = None

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
        if event.event == "error" or isinstance(chunk.get("error"), dict):
            self._errored = True
            self._error = self._error or error_type_of(chunk)
            return
        self._take_chunk(chunk)

    def result(self, *, complete: bool) -> ParsedCall:
        return dataclasses.replace(
            self._template,
            status=self._status(),
            usage=self._usage,
            usage_source=usage_source(self._usage),
            error_type=self._error,
            model=self._model,
            response_id=self._response_id,
            service_tier=self._service_tier,
        )

    def _take_chunk(self, chunk: Mapping[str, Any]) -> None:
        self._model = as_text(chunk.get("model")) or self._model
        self._response_id = as_text(chunk.get("id")) or self._response_id
        self._service_tier = as_text(chunk.get("service_tier")) or self._service_tier
        raw_usage = chunk.get("usage")
        if isinstance(raw_usage, dict):
            usage = chat_usage(raw_usage)
            self._usage = self._usage if usage.is_empty else usage
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else []:
            if isinstance(choice, dict):
                self._take_choice(choice)

    def _take_choice(self, choice: Mapping[str, Any]) -> None:
        if as_text(choice.get("finish_reason")):
            self._finished = True
        delta = as_object(choice.get("delta"))
        if any(delta.get(name) for name in GENERATED_DELTA_FIELDS):
            self._content_started = True

    def _status(self) -> CallStatus:
        if self._errored:
            return CallStatus.ERROR
        if self._done:
            return CallStatus.OK
        # Without [DONE], a finish reason ends the call unless a usage chunk was due.
        usage_due = self._include_usage and self._usage.is_empty
        if self._finished and not usage_due:
            return CallStatus.OK
        return CallStatus.TRUNCATED


ROUTES: list[Route] = [
    Route(
        name="openai.chat_completions",
        provider=PROVIDER,
        api=Api.CHAT_COMPLETIONS,
        path=path_is("/v1/chat/completions"),
        reader=read_chat,
        hosts=HOSTS,
    ),
]
