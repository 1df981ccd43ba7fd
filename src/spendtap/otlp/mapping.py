"""Agents' OTLP log records to agent calls.

Claude Code (``service.name`` ``claude-code``) writes one log record per API call,
with body ``claude_code.api_request`` and attribute ``event.name`` ``api_request``:
``model``, ``input_tokens``, ``output_tokens``, ``cache_read_tokens``,
``cache_creation_tokens`` (no 5-minute / 1-hour split: counted as 5-minute
writes), ``cost_usd`` (and ``cost_usd_micros``), ``duration_ms``, ``request_id``,
``event.timestamp`` (when the response finished), and on every record
``session.id``, ``user.id`` (a hash, not a person) and, when signed in,
``user.email``. There is no message id, repository or branch.

Codex writes ``codex.sse_event`` records; the one of kind ``response.completed``
carries ``input_token_count`` (cache included), ``cached_token_count``,
``output_token_count`` (reasoning included) and ``reasoning_token_count``, with
``conversation.id``, ``model``, ``app.version`` and ``user.email``. It has no
request or response id.

Records of other events are counted and left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from spendtap.agentlogs.call import AgentCall, usage_counts
from spendtap.agentlogs.claude_code import provider_of
from spendtap.agentlogs.timestamps import parse_timestamp
from spendtap.context.agent import Agent
from spendtap.event import Api, CaptureSource, Usage
from spendtap.otlp.values import Attributes, as_int, as_text, attributes, plain
from spendtap.providers.openai_usage import responses_usage

log = logging.getLogger(__name__)

CLAUDE_API_REQUEST = "claude_code.api_request"
CLAUDE_API_ERROR = "claude_code.api_error"
CODEX_SSE_EVENT = "codex.sse_event"
CODEX_COMPLETED = "response.completed"
CLAUDE_SERVICE = "claude-code"
#: The agent's own cost is kept to a ten-billionth of a dollar.
AGENT_COST_QUANTUM = Decimal("1e-10")
#: Model names in Claude Code's metrics may end in a context-size tag: ``[1m]``.
_MODEL_TAG = "["


@dataclass(frozen=True, slots=True)
class Record:
    """One log record with what it inherits from its resource."""

    name: str | None
    attributes: Attributes
    resource: Attributes
    time: datetime | None


@dataclass(slots=True)
class MappedLogs:
    """What one logs request held."""

    calls: list[AgentCall] = field(default_factory=list)
    records: int = 0
    #: ``claude_code.api_error`` records: failed calls, with no usage to count.
    api_errors: int = 0


Mapper = Callable[[Record], AgentCall | None]


def map_logs(request: ExportLogsServiceRequest, received_at: datetime) -> MappedLogs:
    """The agent calls in a logs request; never raises on odd records."""
    mapped = MappedLogs()
    for record in records(request, received_at):
        mapped.records += 1
        if record.name == CLAUDE_API_ERROR:
            mapped.api_errors += 1
            continue
        mapper = MAPPERS.get(record.name or "")
        call = mapper(record) if mapper is not None else None
        if call is not None:
            mapped.calls.append(call)
    return mapped


def records(
    request: ExportLogsServiceRequest, received_at: datetime
) -> Iterator[Record]:
    for resource_logs in request.resource_logs:
        resource = attributes(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                attrs = attributes(record.attributes)
                yield Record(
                    event_name(record, attrs, resource),
                    attrs,
                    resource,
                    _time(record, attrs) or received_at,
                )


def event_name(
    record: LogRecord, attrs: Attributes, resource: Attributes
) -> str | None:
    """The event's full name: Claude Code puts it in the body and a short form in
    ``event.name``; Codex puts the full name in ``event.name``."""
    body = plain(record.body) if record.HasField("body") else None
    name = as_text(attrs.get("event.name"))
    if isinstance(body, str) and "." in body and (name is None or body.endswith(name)):
        return body
    if name and "." not in name and resource.get("service.name") == CLAUDE_SERVICE:
        return f"claude_code.{name}"
    return name


def claude_api_request(record: Record) -> AgentCall | None:
    attrs = record.attributes
    ended = record.time
    if ended is None:
        return None
    duration = as_int(attrs.get("duration_ms"))
    model = _model(attrs.get("model"))
    request_id = as_text(attrs.get("request_id"))
    session = as_text(attrs.get("session.id"))
    usage = Usage(
        input_tokens=as_int(attrs.get("input_tokens")),
        cache_read_tokens=as_int(attrs.get("cache_read_tokens")),
        cache_write_5m_tokens=as_int(attrs.get("cache_creation_tokens")),
        output_tokens=as_int(attrs.get("output_tokens")),
    )
    key = (
        ("claude_code", request_id)
        if request_id
        else (
            "claude_code",
            session or "",
            str(attrs.get("event.sequence")),
            ended.isoformat(),
        )
    )
    return AgentCall(
        CaptureSource.OTLP,
        key,
        Agent.CLAUDE_CODE,
        provider_of(model),
        Api.MESSAGES,
        model,
        *usage_counts(usage),
        started_at=ended - timedelta(milliseconds=duration or 0),
        ended_at=ended,
        duration_ms=duration,
        request_id=request_id,
        session_id=session,
        agent_version=as_text(record.resource.get("service.version")),
        user=as_text(attrs.get("user.email")),
        agent_cost_usd=_cost(attrs),
    )


def codex_sse_event(record: Record) -> AgentCall | None:
    attrs = record.attributes
    if attrs.get("event.kind") != CODEX_COMPLETED or "input_token_count" not in attrs:
        return None
    at = record.time
    if at is None:
        return None
    usage = responses_usage(
        {
            "input_tokens": as_int(attrs.get("input_token_count")),
            "input_tokens_details": {
                "cached_tokens": as_int(attrs.get("cached_token_count"))
            },
            "output_tokens": as_int(attrs.get("output_token_count")),
            "output_tokens_details": {
                "reasoning_tokens": as_int(attrs.get("reasoning_token_count"))
            },
        }
    )
    conversation = as_text(attrs.get("conversation.id"))
    key = (
        "codex",
        conversation or "",
        at.isoformat(),
        *(str(attrs.get(k)) for k in ("input_token_count", "output_token_count")),
    )
    return AgentCall(
        CaptureSource.OTLP,
        key,
        Agent.CODEX,
        "openai",
        Api.RESPONSES,
        _model(attrs.get("model")),
        *usage_counts(usage),
        started_at=at,
        session_id=conversation,
        agent_version=as_text(attrs.get("app.version"))
        or as_text(record.resource.get("service.version")),
        user=as_text(attrs.get("user.email")),
    )


MAPPERS: dict[str, Mapper] = {
    CLAUDE_API_REQUEST: claude_api_request,
    CODEX_SSE_EVENT: codex_sse_event,
}


def _time(record: LogRecord, attrs: Attributes) -> datetime | None:
    stamped = parse_timestamp(attrs.get("event.timestamp"))
    if stamped is not None:
        return stamped
    nanos = record.time_unix_nano or record.observed_time_unix_nano
    if not nanos:
        return None
    return datetime.fromtimestamp(nanos / 1e9, UTC)


def _model(value: object) -> str | None:
    name = as_text(value)
    if name and name.endswith("]") and _MODEL_TAG in name:
        name = name[: name.rindex(_MODEL_TAG)]
    return name


def _cost(attrs: Attributes) -> Decimal | None:
    """The agent's own cost: ``cost_usd`` (finer than ``cost_usd_micros``, which
    is cut to whole micro-dollars), to ``AGENT_COST_QUANTUM``: the agent adds its
    cost up in binary floats, and the last digits are noise (0.11648250000000002)."""
    value = attrs.get("cost_usd")
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return Decimal(repr(value)).quantize(AGENT_COST_QUANTUM)
        except InvalidOperation:
            return None
    micros = as_int(attrs.get("cost_usd_micros"))
    return None if micros is None else Decimal(micros) / 1_000_000
