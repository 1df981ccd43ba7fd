"""Models on AWS Bedrock: InvokeModel, Converse, their streams, and CountTokens.

Routes, all ``POST /model/{modelId}/<operation>`` on
``bedrock-runtime[-fips].<region>.amazonaws.com``; the model id is percent-encoded
and resolved in ``bedrock_models`` (geo prefix to ``region``, Claude ids to the
vendor's own, inference profiles through configuration):

- ``invoke``: the model's own body; for Claude an Anthropic Messages body, normalised
  in ``anthropic_usage``. Every model's response also carries the invocation metrics
  in ``x-amzn-bedrock-*`` headers, which are used when the body has no usage.
- ``invoke-with-response-stream``: AWS event-stream framing (``eventstream``). The
  payload of each ``chunk`` event is JSON whose base64 ``bytes`` hold one event of the
  model's own stream (for Claude an Anthropic stream event); the last one carries
  ``amazon-bedrock-invocationMetrics``.
- ``converse``: ``usage`` with ``inputTokens`` (cache excluded), ``outputTokens``,
  ``cacheReadInputTokens``, ``cacheWriteInputTokens`` and a TTL split in
  ``cacheDetails``.
- ``converse-stream``: event-stream; the usage is in the final ``metadata`` event.
- ``count-tokens``: free, recorded but not billable.

An ``exception`` or ``error`` message inside a stream makes the call an error.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any

from spendtap.event import Api, CallStatus, Usage, UsageSource
from spendtap.providers.anthropic_messages import MessageStream, read_message_json
from spendtap.providers.base import (
    ParsedCall,
    RequestInfo,
    ResponseHead,
    ResponseReader,
    Route,
    as_count,
)
from spendtap.providers.bedrock_models import BedrockModel, resolve_model_id
from spendtap.providers.eventstream import (
    ERROR_CODE,
    EVENT_TYPE,
    EXCEPTION_TYPE,
    MESSAGE_TYPE,
    EventStreamMessage,
    EventStreamMessageReader,
)
from spendtap.providers.framing import (
    JsonBodyReader,
    JsonParser,
    as_object,
    as_text,
    is_success,
    load_json_object,
    usage_source,
)
from spendtap.providers.sse import ServerSentEvent

PROVIDER = "aws.bedrock"
#: Matched by suffix, as regions come and go; the path test (``/model/{id}/`` and one
#: of five operations) is what only bedrock-runtime serves. Which AWS hosts are
#: decrypted at all is the capture allow-list's business, not the routes'.
HOST_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn")

INVOKE, INVOKE_STREAM = "invoke", "invoke-with-response-stream"
CONVERSE, CONVERSE_STREAM = "converse", "converse-stream"
COUNT_TOKENS = "count-tokens"
STREAMING_OPERATIONS = frozenset({INVOKE_STREAM, CONVERSE_STREAM})

#: The invocation metrics, as response headers and inside the last stream chunk.
METRICS_KEY = "amazon-bedrock-invocationMetrics"
HEADER_METRICS = {
    "inputTokenCount": "x-amzn-bedrock-input-token-count",
    "outputTokenCount": "x-amzn-bedrock-output-token-count",
    "cacheReadInputTokenCount": "x-amzn-bedrock-cache-read-input-token-count",
    "cacheWriteInputTokenCount": "x-amzn-bedrock-cache-write-input-token-count",
}
ERROR_TYPE_HEADER = "x-amzn-errortype"

_PATH = re.compile(
    r"^/model/(?P<model>.+)/"
    r"(?P<operation>invoke|invoke-with-response-stream|converse|converse-stream"
    r"|count-tokens)$"
)
_HOST = re.compile(
    r"^bedrock-runtime(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$"
)
_ERROR_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


def read_invoke(request: RequestInfo, head: ResponseHead) -> ResponseReader:
    template = bedrock_template(request, head, Api.INVOKE)
    if not is_success(head.status):
        return JsonBodyReader(template, read_error_body)
    if template.streaming:
        return EventStreamMessageReader(template, InvokeStream(template))
    return JsonBodyReader(template, invoke_json_reader(head.headers))


def read_converse(request: RequestInfo, head: ResponseHead) -> ResponseReader:
    template = bedrock_template(request, head, Api.CONVERSE)
    if not is_success(head.status):
        return JsonBodyReader(template, read_error_body)
    if template.streaming:
        return EventStreamMessageReader(template, ConverseStream(template))
    return JsonBodyReader(template, read_converse_json)


def read_count_tokens(request: RequestInfo, head: ResponseHead) -> ResponseReader:
    template = bedrock_template(request, head, Api.COUNT_TOKENS, billable=False)
    if not is_success(head.status):
        return JsonBodyReader(template, read_error_body)
    return JsonBodyReader(template, _keep_template)


def bedrock_template(
    request: RequestInfo, head: ResponseHead, api: Api, *, billable: bool = True
) -> ParsedCall:
    """What the URL and the response head say before the body arrives."""
    match = _PATH.match(request.path_only)
    operation = match["operation"] if match else None
    model = resolve_model_id(match["model"]) if match else None
    ok = is_success(head.status)
    return ParsedCall(
        provider=PROVIDER,
        api=api,
        streaming=operation in STREAMING_OPERATIONS,
        status=CallStatus.OK if ok else CallStatus.ERROR,
        usage=Usage(),
        usage_source=UsageSource.ABSENT,
        model_requested=model.requested if model else None,
        model=model.model if model and billable else None,
        region=_region(request.host, model),
        http_status=head.status,
        error_type=None if ok else _header_error_type(head.headers),
        billable=billable,
    )


def invoke_json_reader(headers: Mapping[str, str]) -> JsonParser:
    """Reads an InvokeModel body, falling back on the metrics in ``headers``."""
    metrics = metrics_usage({k: headers.get(v) for k, v in HEADER_METRICS.items()})

    def read(template: ParsedCall, body: dict[str, Any]) -> ParsedCall:
        if not isinstance(body.get("usage"), dict) or "type" not in body:
            return _with_usage(template, metrics)  # not a Claude body
        call = read_message_json(template, body)
        usage = metrics if call.usage.is_empty else call.usage
        return dataclasses.replace(
            _with_usage(call, usage),
            model=_served_model(call.model, template),
            region=template.region,
        )

    return read


def read_converse_json(template: ParsedCall, body: dict[str, Any]) -> ParsedCall:
    call = _with_usage(template, converse_usage(as_object(body.get("usage"))))
    return dataclasses.replace(call, service_tier=_service_tier(body))


def read_error_body(template: ParsedCall, body: dict[str, Any]) -> ParsedCall:
    """A non-2xx body (``{"message": ...}``): the type comes from the header."""
    error_type = template.error_type or as_text(body.get("__type"))
    return dataclasses.replace(template, status=CallStatus.ERROR, error_type=error_type)


def metrics_usage(metrics: Mapping[str, object]) -> Usage:
    """Bedrock invocation metrics; for Claude the input already excludes the cache."""
    return Usage(
        input_tokens=_count(metrics.get("inputTokenCount")),
        cache_read_tokens=_count(metrics.get("cacheReadInputTokenCount")),
        cache_write_5m_tokens=_count(metrics.get("cacheWriteInputTokenCount")),
        output_tokens=_count(metrics.get("outputTokenCount")),
    )


def converse_usage(raw: Mapping[str, Any]) -> Usage:
    """A Converse ``usage`` object; ``inputTokens`` excludes cache reads and writes."""
    five_minute, one_hour = _converse_cache_writes(raw)
    return Usage(
        input_tokens=as_count(raw.get("inputTokens")),
        cache_read_tokens=_first_count(
            raw, "cacheReadInputTokens", "cacheReadInputTokenCount"
        ),
        cache_write_5m_tokens=five_minute,
        cache_write_1h_tokens=one_hour,
        output_tokens=as_count(raw.get("outputTokens")),
    )


def _converse_cache_writes(raw: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """(5-minute, 1-hour) writes: ``cacheDetails`` splits them by TTL when present."""
    total = _first_count(raw, "cacheWriteInputTokens", "cacheWriteInputTokenCount")
    by_ttl: dict[str, int] = {}
    details = raw.get("cacheDetails")
    for item in details if isinstance(details, list) else []:
        entry = as_object(item)
        ttl, tokens = as_text(entry.get("ttl")), as_count(entry.get("inputTokens"))
        if ttl in ("5m", "1h") and tokens is not None:
            by_ttl[ttl] = by_ttl.get(ttl, 0) + tokens
    if not by_ttl or (total is not None and sum(by_ttl.values()) != total):
        return total, None
    return by_ttl.get("5m"), by_ttl.get("1h")


class InvokeStream:
    """The messages of InvokeModelWithResponseStream.

    Claude's chunks are Anthropic stream events and go to ``MessageStream``; any
    model's last chunk carries the invocation metrics. The call is complete once the
    metrics (or Claude's own ending) arrived; usage is Claude's final totals, else the
    metrics.
    """

    def __init__(self, template: ParsedCall) -> None:
        self._template = template
        self._anthropic = MessageStream(template)
        self._anthropic_seen = False
        self._other_content = False
        self._metrics: Usage | None = None
        self._error: StreamError = StreamError()

    @property
    def content_started(self) -> bool:
        return self._anthropic.content_started or self._other_content

    def on_message(self, message: EventStreamMessage) -> None:
        if self._error.take(message) or message.text_header(EVENT_TYPE) != "chunk":
            return
        text = _chunk_text(message.payload)
        event = load_json_object(text) if text else None
        if text is None or event is None:
            return
        metrics = event.get(METRICS_KEY)
        if isinstance(metrics, dict):
            self._metrics = metrics_usage(metrics)
        kind = as_text(event.get("type"))
        if kind is not None:
            self._anthropic_seen = True
            self._anthropic.on_event(ServerSentEvent(kind, text))
        elif not isinstance(metrics, dict):
            self._other_content = True

    def result(self, *, complete: bool) -> ParsedCall:
        call = self._template
        if self._anthropic_seen:
            call = self._anthropic.result(complete=complete)
        if self._metrics is not None and call.usage_source is not UsageSource.PROVIDER:
            call = _with_usage(call, self._metrics)
        return dataclasses.replace(
            call,
            status=self._status(call.status),
            error_type=self._error.type or call.error_type,
            model=_served_model(call.model, self._template),
            region=self._template.region,
        )

    def _status(self, parsed: CallStatus) -> CallStatus:
        """Error if any part says so; ok once the metrics or Claude's own end came."""
        if self._error.seen or parsed is CallStatus.ERROR:
            return CallStatus.ERROR
        if self._metrics is not None:
            return CallStatus.OK
        if self._anthropic_seen and parsed is CallStatus.OK:
            return CallStatus.OK
        return CallStatus.TRUNCATED


class ConverseStream:
    """The messages of ConverseStream: content deltas, ``messageStop``, then the
    ``metadata`` event with the usage, which ends a complete stream."""

    def __init__(self, template: ParsedCall) -> None:
        self._template = template
        self._content_started = False
        self._usage: Usage | None = None
        self._service_tier: str | None = None
        self._error = StreamError()

    @property
    def content_started(self) -> bool:
        return self._content_started

    def on_message(self, message: EventStreamMessage) -> None:
        if self._error.take(message):
            return
        match message.text_header(EVENT_TYPE):
            case "contentBlockDelta":
                self._content_started = True
            case "metadata":
                payload = load_json_object(message.payload) or {}
                self._usage = converse_usage(as_object(payload.get("usage")))
                self._service_tier = _service_tier(payload)

    def result(self, *, complete: bool) -> ParsedCall:
        call = _with_usage(self._template, self._usage or Usage())
        if self._error.seen:
            status = CallStatus.ERROR
        else:
            status = CallStatus.OK if self._usage is not None else CallStatus.TRUNCATED
        return dataclasses.replace(
            call,
            status=status,
            error_type=self._error.type,
            service_tier=self._service_tier,
        )


class StreamError:
    """Notices ``exception`` and ``error`` messages in a stream, keeping the first type."""

    def __init__(self) -> None:
        self.seen = False
        self.type: str | None = None

    def take(self, message: EventStreamMessage) -> bool:
        """True when ``message`` is an exception or error (and is now recorded)."""
        kind = message.text_header(MESSAGE_TYPE)
        if kind not in ("exception", "error"):
            return False
        self.seen = True
        name = message.text_header(EXCEPTION_TYPE) or message.text_header(ERROR_CODE)
        self.type = self.type or name
        return True


def _chunk_text(payload: bytes) -> str | None:
    """The model's own event inside a ``chunk`` payload (base64 in ``bytes``)."""
    encoded = as_text((load_json_object(payload) or {}).get("bytes"))
    if encoded is None:
        return None
    try:
        return base64.b64decode(encoded, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None


def _with_usage(call: ParsedCall, usage: Usage) -> ParsedCall:
    return dataclasses.replace(call, usage=usage, usage_source=usage_source(usage))


def _served_model(body_model: str | None, template: ParsedCall) -> str | None:
    """The model a response names (normalised), else the one the URL resolved to."""
    if body_model is None:
        return template.model
    resolved = resolve_model_id(body_model)
    return resolved.model if resolved else template.model


def _service_tier(body: Mapping[str, Any]) -> str | None:
    return as_text(as_object(body.get("serviceTier")).get("type"))


def _region(host: str, model: BedrockModel | None) -> str | None:
    if model is not None and model.region:
        return model.region
    match = _HOST.match(host.lower())
    return match["region"] if match else None


def _header_error_type(headers: Mapping[str, str]) -> str | None:
    """``ValidationException`` from ``x-amzn-errortype: ValidationException:http...``."""
    name = headers.get(ERROR_TYPE_HEADER, "").split(":", 1)[0].strip()
    return name if _ERROR_NAME.match(name) else None


def _count(value: object) -> int | None:
    """A count from JSON or from a header's text."""
    if isinstance(value, str):
        return int(value) if value.isdigit() and value.isascii() else None
    return as_count(value)


def _first_count(raw: Mapping[str, Any], *names: str) -> int | None:
    for name in names:
        value = as_count(raw.get(name))
        if value is not None:
            return value
    return None


def _keep_template(template: ParsedCall, body: dict[str, Any]) -> ParsedCall:
    return template  # the count is the request's size, not a call's usage


def _operation_is(*operations: str) -> Callable[[str], bool]:
    def matches(path: str) -> bool:
        match = _PATH.match(path)
        return match is not None and match["operation"] in operations

    return matches


ROUTES: list[Route] = [
    Route(
        name="bedrock.invoke",
        provider=PROVIDER,
        api=Api.INVOKE,
        path=_operation_is(INVOKE, INVOKE_STREAM),
        reader=read_invoke,
        host_suffixes=HOST_SUFFIXES,
    ),
    Route(
        name="bedrock.converse",
        provider=PROVIDER,
        api=Api.CONVERSE,
        path=_operation_is(CONVERSE, CONVERSE_STREAM),
        reader=read_converse,
        host_suffixes=HOST_SUFFIXES,
    ),
    Route(
        name="bedrock.count_tokens",
        provider=PROVIDER,
        api=Api.COUNT_TOKENS,
        path=_operation_is(COUNT_TOKENS),
        reader=read_count_tokens,
        host_suffixes=HOST_SUFFIXES,
    ),
]
