"""Turn a parsed call, its context and its price into a usage event."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from spendtap.collector.timefmt import millis_between, rfc3339
from spendtap.context.resolver import CallContext
from spendtap.event import (
    Api,
    CallStatus,
    CaptureSource,
    CostStatus,
    UsageEvent,
    UsageSource,
)
from spendtap.pricing import Pricer
from spendtap.providers.base import ParsedCall

#: Namespace for event ids: uuid5 of the capture source and the call's own identity.
EVENT_NAMESPACE = uuid.UUID("6f1c3a52-58f0-4d8e-9a55-2b1d4c0e7a11")


@dataclass(frozen=True, slots=True)
class Timing:
    started_at: float
    ended_at: float | None
    first_content_at: float | None


@dataclass(frozen=True, slots=True)
class Priced:
    cost_usd: Decimal | None
    cost_status: CostStatus
    price_ref: str | None


def event_id(source: CaptureSource, *identity: str | None) -> str:
    """A stable id: the same call read again gives the same id, and two calls whose
    identities differ never share one (a part's own ``|`` and ``\\`` are escaped,
    which leaves the ids of parts without them as they always were)."""
    parts = [source.value, *(id_part(part) for part in identity)]
    return str(uuid.uuid5(EVENT_NAMESPACE, "|".join(parts)))


def id_part(part: str | None) -> str:
    """One part of an event id's name: ``|`` separates parts, so it is escaped."""
    if not part:
        return ""
    if "|" in part or "\\" in part:
        return part.replace("\\", "\\\\").replace("|", "\\|")
    return part


def price_call(pricer: Pricer, call: ParsedCall, at: datetime) -> Priced:
    """List price of a call; free and unbilled calls cost exactly 0, unknowns None."""
    if not call.billable:
        return Priced(Decimal(0), CostStatus.PRICED, f"free:{call.api.value}")
    if call.api is Api.WEB_CHAT:
        # A web chat is paid for by its seat, which allocation spreads over usage;
        # the estimated tokens are kept, the call itself adds no list-price cost.
        return Priced(Decimal(0), CostStatus.PRICED, "included-in-seat:web_chat")
    if call.status is CallStatus.ERROR and call.usage.is_empty:
        return Priced(Decimal(0), CostStatus.PRICED, "unbilled:error")
    price = pricer.price(
        call.provider,
        call.model or call.model_requested,
        call.usage,
        at,
        service_tier=call.service_tier,
        region=call.region,
        estimated=call.usage_source is UsageSource.ESTIMATED,
        reported_cost=call.reported_cost_usd,
    )
    return Priced(price.cost_usd, price.cost_status, price.price_ref)


def build_event(
    *,
    event_id: str,
    source: CaptureSource,
    call: ParsedCall,
    timing: Timing,
    priced: Priced,
    context: CallContext | None,
    request_id: str | None,
) -> UsageEvent:
    ctx = context
    usage = call.usage
    return UsageEvent(
        event_id=event_id,
        capture_source=source,
        provider=call.provider,
        api=call.api.value,
        model_requested=call.model_requested,
        model=call.model,
        region=call.region,
        streaming=call.streaming,
        status=call.status,
        http_status=call.http_status,
        error_type=call.error_type,
        input_tokens=usage.input_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_5m_tokens=usage.cache_write_5m_tokens,
        cache_write_1h_tokens=usage.cache_write_1h_tokens,
        output_tokens=usage.output_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        web_search_requests=usage.web_search_requests,
        usage_source=call.usage_source,
        cost_usd=priced.cost_usd,
        cost_status=priced.cost_status,
        price_ref=priced.price_ref,
        started_at=rfc3339(timing.started_at),
        ended_at=rfc3339(timing.ended_at) if timing.ended_at is not None else None,
        ttft_ms=millis_between(timing.started_at, timing.first_content_at),
        duration_ms=millis_between(timing.started_at, timing.ended_at),
        request_id=request_id,
        response_id=call.response_id,
        user=ctx.user if ctx else None,
        os_user=ctx.os_user if ctx else None,
        device_id=ctx.device_id if ctx else None,
        hostname=ctx.hostname if ctx else None,
        agent=ctx.agent if ctx else None,
        agent_version=ctx.agent_version if ctx else None,
        process=ctx.process if ctx else None,
        pid=ctx.pid if ctx else None,
        repo=ctx.repo if ctx else None,
        branch=ctx.branch if ctx else None,
        commit=ctx.commit if ctx else None,
        ticket=ctx.ticket if ctx else None,
        session_id=ctx.session_id if ctx else None,
        auth_kind=ctx.auth_kind if ctx else None,
        credential_hint=ctx.credential_hint if ctx else None,
    )


def utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
