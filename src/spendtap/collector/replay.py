"""`spendtap replay`: usage events from the exchanges in a HAR file."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from spendtap.capture.har import HarExchange, read_har
from spendtap.capture.headers import REQUEST_ID_HEADERS
from spendtap.collector.assemble import Timing, build_event, event_id, price_call
from spendtap.event import CaptureSource, UsageEvent
from spendtap.pricing import Pricer
from spendtap.providers.base import ParsedCall
from spendtap.providers.registry import Registry, default_registry

log = logging.getLogger(__name__)


def parse_exchange(registry: Registry, exchange: HarExchange) -> ParsedCall | None:
    """The parsed call in one exchange, or None when it is not an AI call we know."""
    route = registry.route(exchange.request)
    if route is None or exchange.response.status == 101:  # a WebSocket upgrade
        return None
    reader = route.reader(exchange.request, exchange.response)
    reader.feed(exchange.body)
    return reader.finish(complete=True)


def replay_har(
    path: Path, registry: Registry | None = None, pricer: Pricer | None = None
) -> Iterator[UsageEvent]:
    registry = registry or default_registry()
    pricer = pricer or Pricer()
    for index, exchange in enumerate(read_har(path)):
        call = parse_exchange(registry, exchange)
        if call is None:
            continue
        started = exchange.started_at.timestamp()
        ended = (
            started + exchange.time_ms / 1000 if exchange.time_ms is not None else None
        )
        request_id = _request_id(exchange)
        yield build_event(
            event_id=event_id(
                CaptureSource.HAR,
                exchange.started_at.isoformat(),
                str(index),
                request_id,
                call.response_id,
            ),
            source=CaptureSource.HAR,
            call=call,
            timing=Timing(started, ended, None),
            priced=price_call(pricer, call, exchange.started_at),
            context=None,
            request_id=request_id,
        )


def _request_id(exchange: HarExchange) -> str | None:
    headers = exchange.response.headers
    return next((headers[h] for h in REQUEST_ID_HEADERS if h in headers), None)
