"""The collector's worker: context, price and spool, off the proxy's event loop.

The proxy addon only enqueues; this thread does everything that may block (process
and git lookups, SQLite writes). If the queue is full the call is dropped, counted
and logged, never silently.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from spendtap.capture.addon import CapturedCall, CaptureFault
from spendtap.collector.assemble import Timing, build_event, event_id, price_call, utc
from spendtap.context.process import ProcessInfo
from spendtap.context.resolver import ContextResolver
from spendtap.delivery.spool import Spool
from spendtap.errors import SpoolError
from spendtap.event import CaptureSource
from spendtap.pricing import Pricer

log = logging.getLogger(__name__)

QUEUE_LIMIT = 10_000
PROCESS_WAIT_S = 2.0


@dataclass(slots=True)
class PipelineCounters:
    calls: int = 0
    spooled: int = 0
    faults: int = 0
    dropped: int = 0


class Pipeline:
    """Consumes captured calls on its own thread and writes usage events to the spool."""

    def __init__(self, resolver: ContextResolver, pricer: Pricer, spool: Spool) -> None:
        self.resolver = resolver
        self.pricer = pricer
        self.spool = spool
        self.counters = PipelineCounters()
        self._queue: queue.Queue[CapturedCall | None] = queue.Queue(QUEUE_LIMIT)
        self._thread = threading.Thread(target=self._run, name="pipeline", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def submit(self, call: CapturedCall) -> None:
        """Called on the proxy loop: never blocks."""
        self.counters.calls += 1
        try:
            self._queue.put_nowait(call)
        except queue.Full:
            self.counters.dropped += 1
            log.error("collector.call.dropped reason=queue_full host=%s", call.host)

    def fault(self, fault: CaptureFault) -> None:
        self.counters.faults += 1
        log.error(
            "collector.call.unparsed host=%s path=%s reason=%s",
            fault.host,
            fault.path,
            fault.reason,
        )

    def _run(self) -> None:
        while (call := self._queue.get()) is not None:
            try:
                self._process(call)
            except SpoolError as exc:
                self.counters.dropped += 1
                log.error("collector.call.dropped reason=spool_error error=%s", exc)
            except Exception:  # boundary: one bad call must not stop the worker
                self.counters.dropped += 1
                log.exception(
                    "collector.call.dropped reason=internal host=%s", call.host
                )

    def _process(self, call: CapturedCall) -> None:
        context = self.resolver.resolve(
            process=self._process_info(call),
            user_agent=call.headers.get("user-agent"),
            headers=call.headers,
            query=call.query,
        )
        started = utc(call.started_at)
        event = build_event(
            event_id=event_id(CaptureSource.PROXY, context.device_id, call.flow_id),
            source=CaptureSource.PROXY,
            call=call.parsed,
            timing=Timing(call.started_at, call.ended_at, call.first_content_at),
            priced=price_call(self.pricer, call.parsed, started),
            context=context,
            request_id=call.request_id,
        )
        self.spool.put(event.to_json())
        self.counters.spooled += 1
        log.info(
            "collector.call.spooled provider=%s model=%s status=%s agent=%s",
            event.provider,
            event.model,
            event.status.value,
            event.agent,
        )

    @staticmethod
    def _process_info(call: CapturedCall) -> ProcessInfo | None:
        if call.process is None:
            return None
        try:
            return call.process.result(timeout=PROCESS_WAIT_S)
        except (FutureTimeout, Exception):
            log.warning("collector.process.unknown host=%s", call.host)
            return None
