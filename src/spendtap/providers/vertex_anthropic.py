"""Anthropic's Claude on Google Vertex AI.

Routes, on ``aiplatform.googleapis.com`` and ``<region>-aiplatform.googleapis.com``
(paths in ``vertex_paths``, publisher ``anthropic``):

- ``MODEL:rawPredict`` and ``MODEL:streamRawPredict``: an Anthropic Messages body and
  stream, parsed exactly as on api.anthropic.com (``anthropic_messages``), with the
  model named in the URL rather than the request body;
- ``count-tokens:rawPredict`` and ``MODEL:countTokens``: free, recorded, not billable.

The model is the one the response names, else the URL's, normalised to Anthropic's id
(``claude-haiku-4-5@20251001`` becomes ``claude-haiku-4-5-20251001``; ``@default``
and no version give the bare alias). The region is the URL's location.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from spendtap.event import Api, CallStatus
from spendtap.providers.anthropic_messages import MessageStream, read_message_json
from spendtap.providers.base import (
    ParsedCall,
    RequestInfo,
    ResponseHead,
    ResponseReader,
    Route,
)
from spendtap.providers.framing import (
    JsonBodyReader,
    NoStream,
    as_object,
    as_text,
    call_template,
    error_type_of,
    is_success,
    open_reader,
)
from spendtap.providers.sse import ServerSentEvent
from spendtap.providers.vertex_paths import (
    HOST_SUFFIXES,
    HOSTS,
    normalise_vertex_model,
    parse_vertex_path,
    vertex_path_is,
    vertex_region,
)

PROVIDER = "gcp.vertex_ai"
PUBLISHER = "anthropic"
PREDICT, STREAM_PREDICT, COUNT_TOKENS = "rawPredict", "streamRawPredict", "countTokens"
#: The model segment of Vertex's token-counting endpoint for Claude.
COUNT_TOKENS_MODEL = "count-tokens"

Adjust = Callable[[ParsedCall], ParsedCall]


def read_messages(request: RequestInfo, head: ResponseHead) -> ResponseReader:
    target = parse_vertex_path(request.path_only)
    url_model = normalise_vertex_model(target.model) if target else None
    template = call_template(PROVIDER, Api.MESSAGES, request.json_body(), head)
    template = dataclasses.replace(
        template,
        streaming=template.streaming
        or bool(target and target.method == STREAM_PREDICT),
        model_requested=target.model if target else template.model_requested,
        model=url_model,
        region=vertex_region(request.host, target),
    )
    adjust = _adjuster(template)
    if not is_success(head.status):
        return JsonBodyReader(template, read_vertex_error)
    return open_reader(
        head,
        template,
        lambda t, body: adjust(read_message_json(t, body)),
        lambda: AdjustedStream(MessageStream(template), adjust),
    )


def read_count_tokens(request: RequestInfo, head: ResponseHead) -> ResponseReader:
    """Free: recorded with the model asked about (body or URL), never billable."""
    target = parse_vertex_path(request.path_only)
    body = request.json_body()
    template = call_template(PROVIDER, Api.COUNT_TOKENS, body, head, billable=False)
    if target is not None and target.model != COUNT_TOKENS_MODEL:
        template = dataclasses.replace(template, model_requested=target.model)
    template = dataclasses.replace(template, region=vertex_region(request.host, target))
    if not is_success(head.status):
        return JsonBodyReader(template, read_vertex_error)
    return open_reader(head, template, lambda t, _: t, lambda: NoStream(template))


def read_vertex_error(template: ParsedCall, body: dict[str, Any]) -> ParsedCall:
    """An error body in Anthropic's shape, or in Google's (``error.status``)."""
    error_type = error_type_of(body) or as_text(
        as_object(body.get("error")).get("status")
    )
    return dataclasses.replace(template, status=CallStatus.ERROR, error_type=error_type)


def _adjuster(template: ParsedCall) -> Adjust:
    """Vertex's own facts win over the body's: the location, and a model if none."""

    def adjust(call: ParsedCall) -> ParsedCall:
        served = as_text(call.model)
        model = normalise_vertex_model(served) if served else template.model
        return dataclasses.replace(call, model=model, region=template.region)

    return adjust


class AdjustedStream:
    """An Anthropic ``MessageStream`` whose result gets Vertex's model and region."""

    def __init__(self, stream: MessageStream, adjust: Adjust) -> None:
        self._stream = stream
        self._adjust = adjust

    @property
    def content_started(self) -> bool:
        return self._stream.content_started

    def on_event(self, event: ServerSentEvent) -> None:
        self._stream.on_event(event)

    def result(self, *, complete: bool) -> ParsedCall:
        return self._adjust(self._stream.result(complete=complete))


def _is_message_model(model: str) -> bool:
    return model != COUNT_TOKENS_MODEL


def _is_count_tokens(path: str) -> bool:
    target = parse_vertex_path(path)
    if target is None or target.publisher != PUBLISHER:
        return False
    if target.method == COUNT_TOKENS:
        return True
    return target.method == PREDICT and target.model == COUNT_TOKENS_MODEL


ROUTES: list[Route] = [
    Route(
        name="vertex.anthropic.messages",
        provider=PROVIDER,
        api=Api.MESSAGES,
        path=vertex_path_is(PUBLISHER, {PREDICT, STREAM_PREDICT}, _is_message_model),
        reader=read_messages,
        hosts=HOSTS,
        host_suffixes=HOST_SUFFIXES,
    ),
    Route(
        name="vertex.anthropic.count_tokens",
        provider=PROVIDER,
        api=Api.COUNT_TOKENS,
        path=_is_count_tokens,
        reader=read_count_tokens,
        hosts=HOSTS,
        host_suffixes=HOST_SUFFIXES,
    ),
]
