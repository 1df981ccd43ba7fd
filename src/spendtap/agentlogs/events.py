"""Agent calls to usage events: the laptop's context, the list price, a stable id."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from spendtap.agentlogs.call import AgentCall
from spendtap.agentlogs.context import LogContext
from spendtap.collector.assemble import Timing, build_event, event_id, price_call
from spendtap.event import EVENT_FIELDS, UsageEvent, UsageSource
from spendtap.pricing import Pricer
from spendtap.providers.base import ParsedCall

#: Set once the usage event contract carries the agent's own cost (issue 6).
AGENT_COST_FIELD = "agent_cost_usd"
HAS_AGENT_COST = AGENT_COST_FIELD in EVENT_FIELDS


class EventFactory:
    """Builds usage events from agent calls; safe to share between threads."""

    def __init__(self, context: LogContext, pricer: Pricer | None = None) -> None:
        self.context = context
        self.pricer = pricer or Pricer()

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


def parsed_call(call: AgentCall) -> ParsedCall:
    """The call as a parser would have reported it, for pricing and assembly."""
    return ParsedCall(
        provider=call.provider,
        api=call.api,
        streaming=call.streaming,
        status=call.status,
        usage=call.usage,
        usage_source=UsageSource.ABSENT if call.usage.is_empty else UsageSource.PROVIDER,
        model=call.model,
        region=call.region,
        response_id=call.response_id,
        service_tier=call.service_tier,
    )


def with_agent_cost(event: UsageEvent, cost: Decimal | None) -> UsageEvent:
    """``event`` with the agent's own cost, once the contract has the field."""
    if not HAS_AGENT_COST or cost is None:
        return event
    return dataclasses.replace(event, **{AGENT_COST_FIELD: cost})
