"""Gemini through the Gemini API and on Vertex AI.

Routes:

- ``generativelanguage.googleapis.com`` (provider ``gcp.gemini``):
  ``/{v1,v1beta,v1alpha}/models/MODEL:generateContent`` and ``:streamGenerateContent``
  (``tunedModels/`` too), ``:countTokens`` (free, not billable), ``:embedContent`` and
  ``:batchEmbedContents``.
- ``aiplatform.googleapis.com`` and regional hosts, publisher ``google`` (provider
  ``gcp.vertex_ai``, paths in ``vertex_paths``): the same methods, and ``:predict``
  of an embedding model.

A stream arrives as server-sent events (``alt=sse``) or, by default, as one JSON array
whose elements come over time (``json_array``). Each element, like a whole
``generateContent`` body, is a ``GenerateContentResponse``: usage in
``usageMetadata`` (normalised in ``gemini_usage``; streams repeat cumulative
snapshots), the served model in ``modelVersion``. A stream is complete once a
candidate has a ``finishReason``, the prompt was blocked, or the array closed.

The model is ``modelVersion``, else the URL's, without a ``models/`` prefix or a
``-00N`` revision on versioned family names (``gemini-2.0-flash-001`` is
``gemini-2.0-flash``). The Gemini API key may travel in the ``key=`` query parameter:
nothing here reads the query or keeps the path.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from spendtap.event import Api, CallStatus, Usage, UsageSource
from spendtap.providers.base import (
    ParsedCall,
    ReaderFactory,
    RequestInfo,
    ResponseHead,
    ResponseReader,
    Route,
    as_count,
)
from spendtap.providers.framing import (
    EVENT_STREAM,
    EventStreamReader,
    JsonBodyReader,
    as_object,
    as_text,
    is_success,
    load_json_object,
    usage_source,
)
from spendtap.providers.gemini_usage import (
    RunningUsageMetadata,
    gemini_usage,
)
from spendtap.providers.json_array import JsonArrayReader
from spendtap.providers.sse import ServerSentEvent
from spendtap.providers.vertex_paths import (
    HOST_SUFFIXES as VERTEX_HOST_SUFFIXES,
)
from spendtap.providers.vertex_paths import (
    HOSTS as VERTEX_HOSTS,
)
from spendtap.providers.vertex_paths import (
    normalise_vertex_model,
    parse_vertex_path,
    vertex_path_is,
    vertex_region,
)

GEMINI_PROVIDER = "gcp.gemini"
VERTEX_PROVIDER = "gcp.vertex_ai"
GEMINI_HOSTS = frozenset({"generativelanguage.googleapis.com"})
PUBLISHER = "google"

GENERATE, STREAM = "generateContent", "streamGenerateContent"
COUNT_TOKENS = "countTokens"
EMBED, BATCH_EMBED, PREDICT = "embedContent", "batchEmbedContents", "predict"
GENERATE_METHODS = frozenset({GENERATE, STREAM})
EMBED_METHODS = frozenset({EMBED, BATCH_EMBED})

_API_PATH = re.compile(
    r"^/(?:v1|v1beta|v1alpha)/(?:models|tunedModels)/"
    r"(?P<model>[^/:]+):(?P<method>[A-Za-z]+)$"
)
_REVISION = re.compile(r"^(gemini-\d.*)-0\d\d$")


@dataclass(frozen=True, slots=True)
class GeminiTarget:
    """What the URL says: the model as sent, the method, the region."""

    model: str | None
    method: str | None
    region: str | None


def read_generate(request: RequestInfo, head: ResponseHead) -> ResponseReader:
    template = gemini_template(request, head, Api.GENERATE_CONTENT)
    if not is_success(head.status):
        return _error_reader(template)
    if head.content_type == EVENT_STREAM:
        return EventStreamReader(template, GenerateContentStream(template))
    if template.streaming:
        return JsonArrayReader(template, GenerateContentStream(template))
    return JsonBodyReader(template, read_generate_json)


def read_count_tokens(request: RequestInfo, head: ResponseHead) -> ResponseReader:
    template = gemini_template(request, head, Api.COUNT_TOKENS, billable=False)
    if not is_success(head.status):
        return _error_reader(template)
    return JsonBodyReader(template, lambda t, _: t)


def read_embeddings(request: RequestInfo, head: ResponseHead) -> ResponseReader:
    template = gemini_template(request, head, Api.EMBEDDINGS)
    if not is_success(head.status):
        return _error_reader(template)
    return JsonBodyReader(template, read_embeddings_json)


def gemini_template(
    request: RequestInfo, head: ResponseHead, api: Api, *, billable: bool = True
) -> ParsedCall:
    """What the host, the path and the response head say before the body arrives."""
    vertex = request.host.lower() not in GEMINI_HOSTS
    target = _vertex_target(request) if vertex else _api_target(request)
    ok = is_success(head.status)
    return ParsedCall(
        provider=VERTEX_PROVIDER if vertex else GEMINI_PROVIDER,
        api=api,
        streaming=target.method == STREAM or head.content_type == EVENT_STREAM,
        status=CallStatus.OK if ok else CallStatus.ERROR,
        usage=Usage(),
        usage_source=UsageSource.ABSENT,
        model_requested=target.model,
        model=normalise_gemini_model(target.model) if billable else None,
        region=target.region,
        http_status=head.status,
        billable=billable,
    )


def normalise_gemini_model(model: str | None) -> str | None:
    """``models/gemini-2.0-flash-001`` becomes ``gemini-2.0-flash``."""
    if not model:
        return None
    bare = normalise_vertex_model(model)
    revision = _REVISION.match(bare)
    return revision[1] if revision else bare


def read_generate_json(template: ParsedCall, body: dict[str, Any]) -> ParsedCall:
    """A whole ``generateContent`` body: one response, read as a one-element stream."""
    stream = GenerateContentStream(template)
    stream.on_element(body)
    stream.on_close()
    return stream.result(complete=True)


def read_embeddings_json(template: ParsedCall, body: dict[str, Any]) -> ParsedCall:
    """``usageMetadata`` where given, else Vertex ``predict`` token statistics."""
    if "error" in body:
        return _with_error(template, body)
    metadata = body.get("usageMetadata")
    if isinstance(metadata, dict):
        usage = gemini_usage(metadata)
    else:
        usage = Usage(input_tokens=_prediction_tokens(body.get("predictions")))
    return dataclasses.replace(template, usage=usage, usage_source=usage_source(usage))


class GenerateContentStream:
    """The responses of one streamed answer, as SSE events or array elements."""

    def __init__(self, template: ParsedCall) -> None:
        self._template = template
        self._usage = RunningUsageMetadata()
        self._model: str | None = None
        self._response_id: str | None = None
        self._content_started = False
        self._finished = False
        self._closed = False
        self._error: str | None = None
        self._errored = False

    @property
    def content_started(self) -> bool:
        return self._content_started

    def on_event(self, event: ServerSentEvent) -> None:
        element = load_json_object(event.data)
        if element is not None:
            self.on_element(element)

    def on_element(self, element: dict[str, Any]) -> None:
        if "error" in element:
            self._errored = True
            self._error = self._error or google_error_type(element)
            return
        self._usage.update(as_object(element.get("usageMetadata")))
        self._model = as_text(element.get("modelVersion")) or self._model
        self._response_id = as_text(element.get("responseId")) or self._response_id
        self._take_candidates(element.get("candidates"))
        if as_text(as_object(element.get("promptFeedback")).get("blockReason")):
            self._finished = True

    def on_close(self) -> None:
        self._closed = True

    def result(self, *, complete: bool) -> ParsedCall:
        status = self._status()
        usage = self._usage.usage()
        return dataclasses.replace(
            self._template,
            status=status,
            usage=usage,
            usage_source=self._usage_source(usage, status),
            error_type=self._error,
            model=normalise_gemini_model(self._model) or self._template.model,
            response_id=self._response_id,
            service_tier=self._usage.service_tier,
        )

    def _take_candidates(self, candidates: object) -> None:
        for candidate in candidates if isinstance(candidates, list) else []:
            entry = as_object(candidate)
            if as_object(entry.get("content")).get("parts"):
                self._content_started = True
            if as_text(entry.get("finishReason")):
                self._finished = True

    def _status(self) -> CallStatus:
        if self._errored or self._template.status is CallStatus.ERROR:
            return CallStatus.ERROR
        if self._finished or self._closed:
            return CallStatus.OK
        return CallStatus.TRUNCATED

    def _usage_source(self, usage: Usage, status: CallStatus) -> UsageSource:
        if usage.is_empty:
            return UsageSource.ABSENT
        # A snapshot before the end of the answer undercounts it.
        return (
            UsageSource.PROVIDER if status is CallStatus.OK else UsageSource.ESTIMATED
        )


def google_error_type(body: Mapping[str, Any]) -> str | None:
    """``error.status`` (``RESOURCE_EXHAUSTED``), else the numeric ``error.code``."""
    error = as_object(body.get("error"))
    status = as_text(error.get("status"))
    if status is not None:
        return status
    code = as_count(error.get("code"))
    return str(code) if code is not None else None


def _error_reader(template: ParsedCall) -> ResponseReader:
    """A non-2xx body: ``{"error": ...}``, or the same inside a streamed array."""
    return JsonArrayReader(template, GenerateContentStream(template))


def _with_error(template: ParsedCall, body: Mapping[str, Any]) -> ParsedCall:
    return dataclasses.replace(
        template, status=CallStatus.ERROR, error_type=google_error_type(body)
    )


def _prediction_tokens(predictions: object) -> int | None:
    counts = [
        as_count(
            as_object(as_object(as_object(p).get("embeddings")).get("statistics")).get(
                "token_count"
            )
        )
        for p in (predictions if isinstance(predictions, list) else [])
    ]
    known = [c for c in counts if c is not None]
    return sum(known) if known else None


def _api_target(request: RequestInfo) -> GeminiTarget:
    match = _API_PATH.match(request.path_only)
    if match is None:
        return GeminiTarget(None, None, None)
    return GeminiTarget(match["model"], match["method"], None)


def _vertex_target(request: RequestInfo) -> GeminiTarget:
    target = parse_vertex_path(request.path_only)
    region = vertex_region(request.host, target)
    if target is None:
        return GeminiTarget(None, None, region)
    return GeminiTarget(target.model, target.method, region)


def _api_path_is(methods: Collection[str]) -> Callable[[str], bool]:
    def matches(path: str) -> bool:
        match = _API_PATH.match(path)
        return match is not None and match["method"] in methods

    return matches


def _is_embedding_model(model: str) -> bool:
    return "embedding" in model


def _vertex_embeddings(path: str) -> bool:
    target = parse_vertex_path(path)
    if target is None or target.publisher != PUBLISHER:
        return False
    if target.method in EMBED_METHODS:
        return True
    return target.method == PREDICT and _is_embedding_model(target.model)


def _route(
    name: str,
    api: Api,
    path: Callable[[str], bool],
    reader: ReaderFactory,
    *,
    vertex: bool,
) -> Route:
    return Route(
        name=name,
        provider=VERTEX_PROVIDER if vertex else GEMINI_PROVIDER,
        api=api,
        path=path,
        reader=reader,
        hosts=VERTEX_HOSTS if vertex else GEMINI_HOSTS,
        host_suffixes=VERTEX_HOST_SUFFIXES if vertex else (),
    )


ROUTES: list[Route] = [
    _route(
        "gemini.generate_content",
        Api.GENERATE_CONTENT,
        _api_path_is(GENERATE_METHODS),
        read_generate,
        vertex=False,
    ),
    _route(
        "gemini.count_tokens",
        Api.COUNT_TOKENS,
        _api_path_is({COUNT_TOKENS}),
        read_count_tokens,
        vertex=False,
    ),
    _route(
        "gemini.embeddings",
        Api.EMBEDDINGS,
        _api_path_is(EMBED_METHODS),
        read_embeddings,
        vertex=False,
    ),
    _route(
        "vertex.gemini.generate_content",
        Api.GENERATE_CONTENT,
        vertex_path_is(PUBLISHER, GENERATE_METHODS),
        read_generate,
        vertex=True,
    ),
    _route(
        "vertex.gemini.count_tokens",
        Api.COUNT_TOKENS,
        vertex_path_is(PUBLISHER, {COUNT_TOKENS}),
        read_count_tokens,
        vertex=True,
    ),
    _route(
        "vertex.gemini.embeddings",
        Api.EMBEDDINGS,
        _vertex_embeddings,
        read_embeddings,
        vertex=True,
    ),
]
