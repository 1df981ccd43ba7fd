"""Agent calls to usage events: the laptop's context, the list price, a stable id.

``EventFactory.build`` goes through the collector's own assembly (the same code the
proxy's events take). A backfill makes tens of thousands of events, so
``build_json`` writes the contract's JSON object directly, the same object
``build(call).to_json()`` gives (a test holds the two together), several times
faster; a backfill hands on its JSON text (``build_line``).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

import orjson

from spendtap.agentlogs.bulk_pricing import BulkPricer, Priced
from spendtap.agentlogs.call import AgentCall
from spendtap.agentlogs.context import LogContext
from spendtap.collector.assemble import (
    EVENT_NAMESPACE,
    Timing,
    build_event,
    event_id,
    id_part,
    price_call,
)
from spendtap.context.resolver import CallContext
from spendtap.event import (
    EVENT_FIELDS,
    Api,
    CallStatus,
    CaptureSource,
    CostStatus,
    UsageEvent,
    UsageSource,
)
from spendtap.pricing import Pricer
from spendtap.providers.base import ParsedCall

#: Set once the usage event contract carries the agent's own cost (issue 6).
AGENT_COST_FIELD = "agent_cost_usd"
HAS_AGENT_COST = AGENT_COST_FIELD in EVENT_FIELDS

_NAMESPACE = EVENT_NAMESPACE.bytes
#: Enum members' values, looked up without the enum machinery (once per event).
_VALUES: dict[enum.Enum, str] = {
    member: member.value
    for kind in (CaptureSource, Api, CallStatus, CostStatus)
    for member in kind
}
#: ``price_call``'s price of a failed call that used nothing.
_UNBILLED_ERROR: Priced = (Decimal(0), CostStatus.PRICED, "unbilled:error")
_NEWLINE = orjson.OPT_APPEND_NEWLINE
#: Distinct (session, place) contexts kept; past it the cache starts over.
CONTEXT_CACHE_SIZE = 4096
#: Context fields of the event, in contract order (from ``user`` on).
_CONTEXT_FIELDS = (
    "user",
    "os_user",
    "device_id",
    "hostname",
    "agent",
    "agent_version",
    "process",
    "pid",
    "repo",
    "branch",
    "commit",
    "ticket",
    "session_id",
    "auth_kind",
    "credential_hint",
)


class EventLine(NamedTuple):
    """A usage event as one line of JSON (newline included), with its id."""

    event_id: str
    data: bytes


@dataclass(frozen=True, slots=True)
class EventBlock:
    """Consecutive event lines as one piece of bytes, with each one's id and length
    (another process's events, passed on without being cut apart where possible)."""

    data: bytes
    event_ids: list[str]
    lengths: list[int]

    def lines(self) -> list[EventLine]:
        lines: list[EventLine] = []
        at = 0
        for line_id, length in zip(self.event_ids, self.lengths, strict=True):
            lines.append(EventLine(line_id, self.data[at : at + length]))
            at += length
        return lines


class ImportedEvent(NamedTuple):
    """An event a backfill read, with the ids its call is counted once by across
    files (``parallel`` applies that rule to events read by other processes)."""

    line: EventLine
    response_id: str | None
    request_id: str | None


class EventFactory:
    """Builds usage events from agent calls; one per import (not thread-safe)."""

    def __init__(self, context: LogContext, pricer: Pricer | None = None) -> None:
        self.context = context
        self.pricer = pricer or Pricer()
        self._bulk = BulkPricer(self.pricer)
        self._contexts: dict[tuple[object, ...], dict[str, Any]] = {}

    @property
    def bulk_pricer(self) -> BulkPricer:
        return self._bulk

    def build(self, call: AgentCall) -> UsageEvent:
        parsed = parsed_call(call)
        started = call.started_at.timestamp()
        ended = call.ended_at.timestamp() if call.ended_at is not None else None
        event = build_event(
            event_id=event_id(call.source, *call.key),
            source=call.source,
            call=parsed,
            timing=Timing(started, ended, None),
            priced=price_call(self.pricer, parsed, call.started_at),
            context=self.context.resolve(call),
            request_id=call.request_id,
        )
        return with_agent_cost(event, call.agent_cost_usd)

    # A Claude Code backfill writes most of its events in compiled code
    # (claude_code_native), which leaves every unusual call to this method.
    def build_json(self, call: AgentCall) -> dict[str, Any]:
        """``build(call).to_json()``, without the intermediate objects.

        The fields every call of a session shares (its kind and its context) come
        from a template made once per session and place; the rest are set here.
        (One runs per call of a backfill: the call is unpacked once, into locals.)
        """
        (
            source,
            key,
            _agent,
            _provider,
            _api,
            model,
            input_tokens,
            cache_read,
            write_5m,
            write_1h,
            output,
            reasoning,
            searches,
            started,
            ended,
            _duration,
            request_id,
            response_id,
            *_,
            region,
            agent_cost,
            _streaming,
            status,
            started_text,
            ended_text,
        ) = call
        empty = (
            input_tokens is None
            and output is None
            and cache_read is None
            and write_5m is None
            and write_1h is None
            and reasoning is None
            and searches is None
        )
        if status is CallStatus.ERROR and empty:
            cost, cost_status, price_ref = _UNBILLED_ERROR
        else:
            cost, cost_status, price_ref = self._bulk.price(call)
        out = self.template(call).copy()
        out["event_id"] = fast_event_id(_VALUES[source], key)
        out["model"] = model
        out["region"] = region
        out["input_tokens"] = input_tokens
        out["cache_read_tokens"] = cache_read
        out["cache_write_5m_tokens"] = write_5m
        out["cache_write_1h_tokens"] = write_1h
        out["output_tokens"] = output
        out["reasoning_tokens"] = reasoning
        out["web_search_requests"] = searches
        if empty:
            out["usage_source"] = "absent"
        out["cost_usd"] = None if cost is None else float(cost)
        out["cost_status"] = _VALUES[cost_status]
        out["price_ref"] = price_ref
        out["started_at"] = started_text or millis(started)
        if ended is not None:
            out["ended_at"] = ended_text or millis(ended)
            out["duration_ms"] = _duration_ms(started, ended)
        out["request_id"] = request_id
        out["response_id"] = response_id
        if HAS_AGENT_COST and agent_cost is not None:
            out[AGENT_COST_FIELD] = float(agent_cost)
        return out

    def build_line(self, call: AgentCall) -> EventLine:
        """``build_json(call)`` as one line of JSON, with the event id."""
        event = self.build_json(call)
        return EventLine(event["event_id"], orjson.dumps(event, option=_NEWLINE))

    def imported(self, call: AgentCall) -> ImportedEvent:
        """``build_line(call)`` with the ids the call is de-duplicated by."""
        return ImportedEvent(self.build_line(call), call.response_id, call.request_id)

    def template(self, call: AgentCall) -> dict[str, Any]:
        """Every field of the event in contract order, those shared by the calls of
        one session and place filled in: made once, copied per call."""
        key = (
            call.source,
            call.provider,
            call.api,
            call.streaming,
            call.status,
            call.agent,
            call.agent_version,
            call.session_id,
            call.cwd,
            call.branch,
            call.commit,
            call.remote,
            call.user,
        )
        template = self._contexts.get(key)
        if template is None:
            if len(self._contexts) >= CONTEXT_CACHE_SIZE:
                self._contexts.clear()
            template = dict.fromkeys(EVENT_FIELDS)
            template.update(
                capture_source=_VALUES[call.source],
                provider=call.provider,
                api=_VALUES[call.api],
                streaming=call.streaming,
                status=_VALUES[call.status],
                usage_source="provider",
            )
            template.update(context_json(self.context.resolve(call)))
            self._contexts[key] = template
        return template


def parsed_call(call: AgentCall) -> ParsedCall:
    """The call as a parser would have reported it, for pricing and assembly."""
    return ParsedCall(
        provider=call.provider,
        api=call.api,
        streaming=call.streaming,
        status=call.status,
        usage=call.usage,
        usage_source=UsageSource.ABSENT
        if call.usage_is_empty
        else UsageSource.PROVIDER,
        model=call.model,
        region=call.region,
        response_id=call.response_id,
        service_tier=call.service_tier,
    )


def with_agent_cost(event: UsageEvent, cost: Decimal | None) -> UsageEvent:
    """``event`` with the agent's own cost, once the contract has the field."""
    if not HAS_AGENT_COST or cost is None:
        return event
    changes: dict[str, Any] = {AGENT_COST_FIELD: cost}
    return dataclasses.replace(event, **changes)


def fast_event_id(source: str, key: tuple[str, ...]) -> str:
    """``assemble.event_id(source, *key)``: the same uuid5, computed directly."""
    name = "|".join((source, *(id_part(part) for part in key))).encode()
    digest = bytearray(hashlib.sha1(_NAMESPACE + name).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def millis(moment: datetime) -> str:
    """``2025-10-01T10:00:00.123Z`` for an aware UTC datetime (as ``rfc3339``)."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _duration_ms(started: datetime, ended: datetime | None) -> int | None:
    if ended is None:
        return None
    start, end = started.timestamp(), ended.timestamp()
    return None if end < start else round((end - start) * 1000)


def context_json(context: CallContext) -> dict[str, Any]:
    """The context fields of an event, as the contract writes them."""
    return {name: getattr(context, name) for name in _CONTEXT_FIELDS}
