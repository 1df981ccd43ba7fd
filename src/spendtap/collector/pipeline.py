"""The collector's worker: context, price and spool, off the proxy's event loop.

The proxy addon only enqueues; this thread does everything that may block (process
and git lookups, SQLite writes). It takes what is queued in groups and writes each
group to the spool in one durable commit, then tells whoever waits on a call (see
:mod:`spendtap.collector.durable`) that its event is safe.

Nothing is lost silently: a call dropped because the queue is full, a parser failed,
the spool could not be written (a full disk) or the event could not be built is
counted by reason in a :class:`~spendtap.delivery.drops.DropTally`, logged, and
written to the spool as a drop record as soon as the spool takes writes again. The
proxy never waits on any of it to forward traffic.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from spendtap.capture.addon import CapturedCall, CaptureFault
from spendtap.collector.assemble import Timing, build_event, event_id, price_call, utc
from spendtap.context.process import ProcessInfo
from spendtap.context.resolver import ContextResolver
from spendtap.delivery.drops import DropReason, DropTally
from spendtap.delivery.spool import Spool
from spendtap.errors import InputError, SpoolError
from spendtap.event import CaptureSource
from spendtap.pricing import Pricer

log = logging.getLogger(__name__)

QUEUE_LIMIT = 10_000
GROUP_LIMIT = 200  # calls written in one spool commit
PROCESS_WAIT_S = 2.0
IDLE_TICK_S = 1.0  # how often pending drop records are written when idle
SPOOL_ERROR_LOG_EVERY_S = 30.0
RECEIPT_LIMIT = 20_000  # receipts nobody collected are forgotten past this

#: A receipt resolves True once the call's event is in the spool, False if dropped.
Receipt = Future[bool]


@dataclass(slots=True)
class PipelineCounters:
    calls: int = 0
    spooled: int = 0
    faults: int = 0
    dropped: int = 0
    spool_errors: int = 0


@dataclass(slots=True)
class _Item:
    call: CapturedCall
    receipt: Receipt | None


class Pipeline:
    """Consumes captured calls on its own thread and writes usage events to the spool."""

    def __init__(
        self,
        resolver: ContextResolver,
        pricer: Pricer,
        spool: Spool,
        *,
        drops: DropTally | None = None,
        receipts: bool = False,
        queue_limit: int = QUEUE_LIMIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.resolver = resolver
        self.pricer = pricer
        self.spool = spool
        self.drops = drops or DropTally()
        self.counters = PipelineCounters()
        self._counting = threading.Lock()  # drops are counted from two threads
        self.spool_failing: str | None = None  # the last spool error, while failing
        self._receipts_on = receipts
        self._receipts: dict[str, Receipt] = {}
        self._clock = clock
        self._queue: queue.Queue[_Item | None] = queue.Queue(queue_limit)
        self._thread = threading.Thread(target=self._run, name="pipeline", daemon=True)
        self._failing_since = 0.0
        self._failed_calls = 0
        self._last_error_log = -SPOOL_ERROR_LOG_EVERY_S

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)
        self._write_drop_records()

    def submit(self, call: CapturedCall) -> None:
        """Called on the proxy loop: never blocks."""
        self.counters.calls += 1
        receipt = self._new_receipt(call.flow_id)
        try:
            self._queue.put_nowait(_Item(call, receipt))
        except queue.Full:
            first = DropReason.QUEUE_FULL not in self.drops.pending_by_reason()
            self._drop(DropReason.QUEUE_FULL, [receipt])
            if first:  # the rest are summed in the drop record's log line
                log.error("collector.call.dropped reason=queue_full host=%s", call.host)

    def fault(self, fault: CaptureFault) -> None:
        self.counters.faults += 1
        self.drops.add(DropReason.PARSE_FAILED)
        log.error(
            "collector.call.unparsed host=%s path=%s reason=%s",
            fault.host,
            fault.path,
            fault.reason,
        )

    @property
    def alive(self) -> bool:
        """False once the worker thread has ended (stopped, or died)."""
        return self._thread.is_alive()

    def take_receipt(self, flow_id: str) -> Receipt | None:
        """The receipt of a submitted call (once; None if there is none)."""
        return self._receipts.pop(flow_id, None)

    def _new_receipt(self, flow_id: str) -> Receipt | None:
        if not self._receipts_on:
            return None
        receipt: Receipt = Future()
        self._receipts[flow_id] = receipt
        if len(self._receipts) > RECEIPT_LIMIT:  # uncollected: forget the oldest
            del self._receipts[next(iter(self._receipts))]
        return receipt

    def _run(self) -> None:
        stopping = False
        while not stopping:
            items, stopping = self._next_group()
            try:
                if items:
                    self._process_group(items)
                self._write_drop_records()
            except Exception:  # boundary: the worker must outlive any one group
                unsettled: list[Receipt | None] = [
                    i.receipt
                    for i in items
                    if i.receipt is None or not i.receipt.done()
                ]
                self._drop(DropReason.INTERNAL_ERROR, unsettled)
                log.exception("collector.group.dropped calls=%d", len(unsettled))

    def _next_group(self) -> tuple[list[_Item], bool]:
        """Up to GROUP_LIMIT queued calls (waiting a tick for the first); and stop?"""
        try:
            first = self._queue.get(timeout=IDLE_TICK_S)
        except queue.Empty:
            return [], False
        if first is None:
            return [], True
        items = [first]
        while len(items) < GROUP_LIMIT:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return items, True
            items.append(item)
        return items, False

    def _process_group(self, items: list[_Item]) -> None:
        built: list[tuple[_Item, dict[str, Any]]] = []
        for item in items:
            event = self._build(item)
            if event is not None:
                built.append((item, event))
        if not built:
            return
        try:
            kept = self._spool_group([event for _, event in built])
        except SpoolError as exc:
            self._spool_failed(exc, [item.receipt for item, _ in built])
            return
        self._spool_recovered()
        for (item, event), ok in zip(built, kept, strict=True):
            if not ok:
                self._drop(DropReason.INTERNAL_ERROR, [item.receipt])
                continue
            self.counters.spooled += 1
            _settle(item.receipt, True)
            log.info(
                "collector.call.spooled provider=%s model=%s status=%s agent=%s",
                event.get("provider"),
                event.get("model"),
                event.get("status"),
                event.get("agent"),
            )

    def _build(self, item: _Item) -> dict[str, Any] | None:
        try:
            return self._event(item.call)
        except Exception:  # boundary: one bad call must not stop the worker
            self._drop(DropReason.INTERNAL_ERROR, [item.receipt])
            log.exception(
                "collector.call.dropped reason=internal_error host=%s", item.call.host
            )
            return None

    def _spool_group(self, events: list[dict[str, Any]]) -> list[bool]:
        """Write events in one commit; which of them were kept (all, normally)."""
        try:
            self.spool.put_many(events)
            return [True] * len(events)
        except InputError:  # an unusable event: write one by one to keep the others
            kept = []
            for event in events:
                try:
                    self.spool.put(event)
                    kept.append(True)
                except InputError as exc:
                    log.error(
                        "collector.call.dropped reason=internal_error error=%s", exc
                    )
                    kept.append(False)
            return kept

    def _spool_failed(self, exc: SpoolError, receipts: list[Receipt | None]) -> None:
        self.counters.spool_errors += 1
        now = self._clock()
        if self.spool_failing is None:
            self._failing_since = now
        self.spool_failing = str(exc)
        self._failed_calls += len(receipts)
        if now - self._last_error_log >= SPOOL_ERROR_LOG_EVERY_S:
            self._last_error_log = now
            log.error(
                "collector.spool.unwritable calls_dropped=%d proxy=forwarding error=%s",
                self._failed_calls,
                exc,
            )
        self._drop(DropReason.SPOOL_UNWRITABLE, receipts)

    def _spool_recovered(self) -> None:
        if self.spool_failing is None:
            return
        log.warning(
            "collector.spool.recovered calls_dropped=%d after_s=%.0f",
            self._failed_calls,
            self._clock() - self._failing_since,
        )
        self.spool_failing = None
        self._failed_calls = 0
        self._last_error_log = -SPOOL_ERROR_LOG_EVERY_S

    def _drop(self, reason: DropReason, receipts: list[Receipt | None]) -> None:
        with self._counting:
            self.counters.dropped += len(receipts)
        self.drops.add(reason, len(receipts))
        for receipt in receipts:
            _settle(receipt, False)

    def _write_drop_records(self) -> None:
        """Hand pending drops to the spool as records; keep them if it refuses."""
        if not self.drops.pending():
            return
        records = self.drops.drain()
        try:
            self.spool.record_drops(records)
        except SpoolError:
            self.drops.restore(records)
            return
        for record in records:
            log.error(
                "collector.drops.recorded calls=%d reason=%s",
                record.count,
                record.reason.value,
            )

    def _event(self, call: CapturedCall) -> dict[str, Any]:
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
        return event.to_json()

    @staticmethod
    def _process_info(call: CapturedCall) -> ProcessInfo | None:
        if call.process is None:
            return None
        try:
            return call.process.result(timeout=PROCESS_WAIT_S)
        except (FutureTimeout, Exception):
            log.warning("collector.process.unknown host=%s", call.host)
            return None


def _settle(receipt: Receipt | None, spooled: bool) -> None:
    if receipt is None:
        return
    with contextlib.suppress(InvalidStateError):  # settled already: nobody waits
        receipt.set_result(spooled)
