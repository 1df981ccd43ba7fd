"""The shipper: sends spooled events to the engine in gzip batches.

Delivery is at least once: events leave the spool only after the engine answered 200
(``{"accepted": N, "duplicates": M}``), and the engine deduplicates by ``event_id``.

What each answer does:

    200          ack the batch (the events leave the spool)
    413          split the batch in halves and send each; one event alone is dead
    400, 422     the engine refused the batch as invalid: split it to find the events
                 it refuses, and move those to the spool's dead table (logged at ERROR)
    429, 5xx     retry after ``Retry-After``, or after exponential backoff with full
                 jitter, capped; network errors the same
    other 4xx    (401, 403, 404, ...) a configuration problem: logged at ERROR, the
                 events stay queued, retried at the backoff cap (a revoked or unknown
                 device says so, with the command that enrolls it again)

An acknowledged batch is never sent again: its events leave the spool in the same
step that reads the 200. A batch whose answer was lost (timeout, cut connection) is
sent again, and the engine counts those events as duplicates.

Every post carries ``X-Spendtap-Sent-At`` (RFC 3339, this laptop's clock), so the
engine can compare it with its own receive time and flag a clock far off.

Drop records (:mod:`spendtap.delivery.drops`) go to ``POST /v1/drops`` between
batches, plain JSON, idempotent by ``drop_id``; an engine without that route (404,
405) is asked again every few minutes, and the records wait in the spool.

The running shipper writes its state file (:mod:`spendtap.delivery.state`) for
``spendtap status``. Plain ``http://`` is refused except to a loopback address.
"""

from __future__ import annotations

import enum
import gzip
import logging
import os
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from spendtap.collector.timefmt import rfc3339
from spendtap.delivery.answers import (
    device_hint,
    error_text,
    ingest_counts,
    retry_after,
)
from spendtap.delivery.drops import DropRecord
from spendtap.delivery.endpoint import EngineEndpoint
from spendtap.delivery.spool import Spool, SpooledEvent
from spendtap.delivery.state import ShipperState, write_state
from spendtap.errors import ConfigError, SpoolError

log = logging.getLogger(__name__)

EVENTS_PATH = "/v1/events"
DROPS_PATH = "/v1/drops"
SENT_AT_HEADER = "X-Spendtap-Sent-At"
REJECTED_STATUSES = frozenset({400, 422})
DROPS_UNSUPPORTED_RETRY_S = 300.0
STATE_INTERVAL_S = 1.0
_EVENT_HEADERS = {"Content-Type": "application/json", "Content-Encoding": "gzip"}


class ShipOutcome(enum.StrEnum):
    IDLE = "idle"  # nothing was queued
    SHIPPED = "shipped"  # every event taken was stored, or moved to the dead table
    RETRY = "retry"  # the engine could not take them now: try again after retry_in


@dataclass(frozen=True, slots=True)
class ShipResult:
    outcome: ShipOutcome
    shipped: int = 0
    accepted: int = 0
    duplicates: int = 0
    dead: int = 0
    retry_in: float | None = None


@dataclass(frozen=True, slots=True)
class ShipperStats:
    shipped: int
    batches: int
    failures: int
    dead: int
    last_success_at: datetime | None
    last_error: str | None
    last_attempt_at: datetime | None = None
    last_error_at: datetime | None = None
    consecutive_failures: int = 0
    drop_records_shipped: int = 0
    duplicates: int = 0  # events the engine said it already had (re-sends)


class _Retry(Exception):
    """The engine could not take a batch now; carries its Retry-After, if any."""

    def __init__(self, reason: str, retry_after: float | None, *, config: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.config = config


@dataclass(slots=True)
class _Tally:
    shipped: int = 0
    accepted: int = 0
    duplicates: int = 0
    batches: int = 0
    dead: int = 0
    rejection: str | None = None


class Shipper:
    """Ships ``spool`` to the engine at ``engine_url``, from a daemon thread."""

    def __init__(
        self,
        spool: Spool,
        engine_url: str,
        token: str | None,
        *,
        interval: float = 0.5,
        batch_size: int = 500,
        max_backoff: float = 30.0,
        max_retry_after: float = 300.0,
        timeout: float = 10.0,
        rng: random.Random | None = None,
        ca_bundle: Path | None = None,
        device_id: str | None = None,
        state_path: Path | None = None,
        drop_batch_size: int = 100,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch size must be at least 1, got {batch_size}")
        self._spool = spool
        self._endpoint = EngineEndpoint.parse(engine_url, ca_bundle)
        self._url = self._endpoint.url(EVENTS_PATH)
        self._drops_url = self._endpoint.url(DROPS_PATH)
        self._interval = interval
        self._batch_size = batch_size
        self._drop_batch_size = drop_batch_size
        self._max_backoff = max_backoff
        self._max_retry_after = max_retry_after
        self._timeout = timeout
        self._rng = rng or random.Random()
        self._device_id = device_id
        self._state_path = state_path
        self._client = self._endpoint.client(token, timeout=timeout, extra_headers={})

        self._ship_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._stopping = threading.Event()
        self._deadline = 0.0
        self._thread: threading.Thread | None = None
        self._streak = 0  # consecutive failed attempts
        self._shipped = 0
        self._batches = 0
        self._failures = 0
        self._dead = 0
        self._drops_shipped = 0
        self._duplicates = 0
        self._last_success_at: datetime | None = None
        self._last_attempt_at: datetime | None = None
        self._last_error: str | None = None
        self._last_error_at: datetime | None = None
        self._drops_due = 0.0  # monotonic time of the next drop-record post
        self._state_written = 0.0
        self._state_dirty = True

    @property
    def engine_url(self) -> str:
        return self._endpoint.base_url

    def start(self) -> None:
        """Ship in a daemon thread until ``stop``."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._run, name="spendtap-shipper", daemon=True
        )
        self._write_state(force=True)
        self._thread.start()
        log.info("shipper.started url=%s", self._url)

    def stop(self, flush_timeout: float = 5.0) -> None:
        """Ship what is queued for up to ``flush_timeout`` seconds, then stop.

        Whatever is still queued stays in the spool for the next start.
        """
        thread = self._thread
        if thread is not None:
            self._deadline = time.monotonic() + flush_timeout
            self._stopping.set()
            thread.join(flush_timeout + self._timeout + 1.0)
            if thread.is_alive():
                log.warning("shipper.stop_timed_out left_running=true")
                return
            self._thread = None
            self._write_state(force=True, running=False)
        self._client.close()
        log.info("shipper.stopped queued=%d", self._spool.depth())

    def stats(self) -> ShipperStats:
        with self._stats_lock:
            return ShipperStats(
                shipped=self._shipped,
                batches=self._batches,
                failures=self._failures,
                dead=self._dead,
                last_success_at=self._last_success_at,
                last_error=self._last_error,
                last_attempt_at=self._last_attempt_at,
                last_error_at=self._last_error_at,
                consecutive_failures=self._streak,
                drop_records_shipped=self._drops_shipped,
                duplicates=self._duplicates,
            )

    def ship_drops_once(self, timeout: float | None = None) -> ShipResult:
        """Send the oldest unshipped drop records to ``POST /v1/drops``."""
        with self._ship_lock:
            records = self._spool.unshipped_drops(self._drop_batch_size)
            if not records:
                return ShipResult(ShipOutcome.IDLE)
            try:
                self._post_drops(records, timeout or self._timeout)
            except _Retry as retry:
                return self._drops_failed(retry)
            self._spool.mark_drops_shipped(r.drop_id for r in records)
            with self._stats_lock:
                self._drops_shipped += len(records)
                self._state_dirty = True
            log.info(
                "shipper.drops_shipped records=%d calls=%d",
                len(records),
                sum(r.count for r in records),
            )
            return ShipResult(ShipOutcome.SHIPPED, shipped=len(records))

    def ship_once(self, timeout: float | None = None) -> ShipResult:
        """Send the oldest batch; the result says when to try again if it failed."""
        with self._ship_lock:
            batch = self._spool.take(self._batch_size)
            if not batch:
                return ShipResult(ShipOutcome.IDLE)

            tally = _Tally()
            try:
                self._deliver(batch, tally, timeout or self._timeout)
            except _Retry as retry:
                self._record(tally)
                return self._failed(retry, tally)

            self._record(tally)
            self._succeeded()
            return ShipResult(
                ShipOutcome.SHIPPED,
                shipped=tally.shipped,
                accepted=tally.accepted,
                duplicates=tally.duplicates,
                dead=tally.dead,
            )

    def _deliver(
        self, batch: Sequence[SpooledEvent], tally: _Tally, timeout: float
    ) -> None:
        response = self._post(batch, timeout)
        status = response.status_code
        if status == 413 or status in REJECTED_STATUSES:
            if len(batch) > 1:
                half = len(batch) // 2
                self._deliver(batch[:half], tally, timeout)
                self._deliver(batch[half:], tally, timeout)
            else:
                self._bury(batch, response, tally)
            return

        self._spool.ack(e.seq for e in batch)
        accepted, duplicates = ingest_counts(response, len(batch))
        tally.shipped += len(batch)
        tally.accepted += accepted
        tally.duplicates += duplicates
        tally.batches += 1

    def _post(self, batch: Sequence[SpooledEvent], timeout: float) -> httpx.Response:
        body = gzip.compress(_payload(batch), compresslevel=6, mtime=0)
        started = time.monotonic()
        self._note_attempt()
        try:
            response = self._client.post(
                self._url,
                content=body,
                timeout=timeout,
                headers={**_EVENT_HEADERS, SENT_AT_HEADER: rfc3339(time.time())},
            )
        except httpx.HTTPError as exc:
            raise _Retry(f"{type(exc).__name__}: {exc}", None, config=False) from exc

        status = response.status_code
        if 200 <= status < 300 or status == 413 or status in REJECTED_STATUSES:
            log.info(
                "shipper.batch_posted status=%d events=%d bytes=%d ms=%.0f",
                status,
                len(batch),
                len(body),
                (time.monotonic() - started) * 1000,
            )
            return response
        reason = f"HTTP {status}: {error_text(response)[:200]}"
        if status == 429 or status >= 500:
            raise _Retry(reason, retry_after(response), config=False)
        raise _Retry(reason + device_hint(response), None, config=True)

    def _post_drops(self, records: Sequence[DropRecord], timeout: float) -> None:
        body = {"drops": [r.to_json(self._device_id) for r in records]}
        try:
            response = self._client.post(
                self._drops_url,
                json=body,
                timeout=timeout,
                headers={SENT_AT_HEADER: rfc3339(time.time())},
            )
        except httpx.HTTPError as exc:
            raise _Retry(f"{type(exc).__name__}: {exc}", None, config=False) from exc
        status = response.status_code
        if 200 <= status < 300:
            return
        reason = f"HTTP {status}: {error_text(response)[:200]}"
        if status in (404, 405):
            raise _Retry(reason, DROPS_UNSUPPORTED_RETRY_S, config=True)
        if status == 429 or status >= 500:
            raise _Retry(reason, retry_after(response), config=False)
        raise _Retry(reason + device_hint(response), None, config=True)

    def _drops_failed(self, retry: _Retry) -> ShipResult:
        wanted = self._max_backoff if retry.retry_after is None else retry.retry_after
        delay = min(wanted, max(self._max_retry_after, DROPS_UNSUPPORTED_RETRY_S))
        self._drops_due = time.monotonic() + delay
        unsupported = retry.retry_after == DROPS_UNSUPPORTED_RETRY_S and retry.config
        log.log(
            logging.ERROR if retry.config and not unsupported else logging.WARNING,
            "shipper.drops_post_failed url=%s retry_in=%.0f records_kept=true error=%s",
            self._drops_url,
            delay,
            retry.reason,
        )
        return ShipResult(ShipOutcome.RETRY, retry_in=delay)

    def _note_attempt(self) -> None:
        with self._stats_lock:
            self._last_attempt_at = datetime.now(UTC)

    def _bury(
        self, batch: Sequence[SpooledEvent], response: httpx.Response, tally: _Tally
    ) -> None:
        if response.status_code == 413:
            reason = "HTTP 413: the engine refuses this event as too large"
        else:
            reason = f"HTTP {response.status_code}: {error_text(response)}"
        tally.dead += self._spool.bury((e.seq for e in batch), reason)
        tally.rejection = tally.rejection or reason

    def _record(self, tally: _Tally) -> None:
        with self._stats_lock:
            self._shipped += tally.shipped
            self._batches += tally.batches
            self._dead += tally.dead
            self._duplicates += tally.duplicates
            if tally.batches:
                self._last_success_at = datetime.now(UTC)
            self._state_dirty = True
        if tally.dead:
            log.error(
                "shipper.events_refused events=%d moved_to=dead error=%s",
                tally.dead,
                (tally.rejection or "")[:500],
            )

    def _failed(self, retry: _Retry, tally: _Tally) -> ShipResult:
        with self._stats_lock:
            self._failures += 1
            self._last_error = retry.reason
            self._last_error_at = datetime.now(UTC)
            self._streak += 1
        delay = self._delay(retry)
        self._write_state(force=True)
        if _worth_logging(self._streak):
            level = logging.ERROR if retry.config else logging.WARNING
            log.log(
                level,
                "shipper.post_failed url=%s attempt=%d retry_in=%.1f error=%s",
                self._url,
                self._streak,
                delay,
                retry.reason,
            )
        return ShipResult(
            ShipOutcome.RETRY,
            shipped=tally.shipped,
            accepted=tally.accepted,
            duplicates=tally.duplicates,
            dead=tally.dead,
            retry_in=delay,
        )

    def _succeeded(self) -> None:
        if self._streak:
            log.info("shipper.recovered after_failures=%d", self._streak)
        with self._stats_lock:
            self._streak = 0

    def _delay(self, retry: _Retry) -> float:
        if retry.config:
            return self._max_backoff
        if retry.retry_after is not None:
            return min(retry.retry_after, self._max_retry_after)
        ceiling = min(self._max_backoff, 0.5 * 2 ** min(self._streak - 1, 30))
        return self._rng.uniform(0, ceiling)

    def _run(self) -> None:
        while not self._stopping.is_set():
            result = self._attempt(None)
            if result is not None and result.outcome is not ShipOutcome.RETRY:
                self._attempt_drops(None)
            self._write_state()
            wait = self._wait_after(result)
            if wait:
                self._stopping.wait(wait)
        self._flush()

    def _attempt(self, timeout: float | None) -> ShipResult | None:
        """Ship once from the loop; None when the spool or the loop itself failed."""
        try:
            return self.ship_once(timeout)
        except SpoolError as exc:
            log.error("shipper.spool_failed error=%s", exc)
        except Exception:  # the loop boundary: the thread must not die
            log.exception("shipper.loop_failed")
        return None

    def _attempt_drops(self, timeout: float | None) -> None:
        if time.monotonic() < self._drops_due:
            return
        try:
            self.ship_drops_once(timeout)
        except SpoolError as exc:
            log.error("shipper.spool_failed error=%s", exc)
            self._drops_due = time.monotonic() + self._max_backoff
        except Exception:  # the loop boundary: the thread must not die
            log.exception("shipper.loop_failed")
            self._drops_due = time.monotonic() + self._max_backoff

    def _write_state(self, *, force: bool = False, running: bool = True) -> None:
        """Write the state file when it changed (at most once a second unless forced)."""
        if self._state_path is None:
            return
        now = time.monotonic()
        with self._stats_lock:
            due = self._state_dirty and now - self._state_written >= STATE_INTERVAL_S
            if not (force or due):
                return
            self._state_dirty = False
            self._state_written = now
        write_state(self._state_path, self._state(running))

    def _state(self, running: bool) -> ShipperState:
        stats = self.stats()
        return ShipperState(
            pid=os.getpid(),
            engine_url=self._endpoint.base_url,
            updated_at=rfc3339(time.time()),
            running=running,
            last_attempt_at=_stamp(stats.last_attempt_at),
            last_success_at=_stamp(stats.last_success_at),
            last_error=stats.last_error,
            last_error_at=_stamp(stats.last_error_at),
            consecutive_failures=stats.consecutive_failures,
            shipped_events=stats.shipped,
            batches=stats.batches,
            failures=stats.failures,
            dead_events=stats.dead,
            drop_records_shipped=stats.drop_records_shipped,
        )

    def _wait_after(self, result: ShipResult | None) -> float:
        if result is None:
            return self._max_backoff
        if result.outcome is ShipOutcome.SHIPPED:
            return 0.0
        if result.outcome is ShipOutcome.IDLE:
            return self._interval
        return result.retry_in or 0.0

    def _flush(self) -> None:
        """Ship until the spool is empty or the stop deadline has passed."""
        while (remaining := self._deadline - time.monotonic()) > 0:
            result = self._attempt(min(self._timeout, max(remaining, 0.1)))
            if result is not None and result.outcome is ShipOutcome.IDLE:
                self._attempt_drops(min(self._timeout, max(remaining, 0.1)))
                return
            wait = self._wait_after(result)
            if wait:
                time.sleep(max(min(wait, self._deadline - time.monotonic()), 0.0))


def events_url(engine_url: str) -> str:
    """The ingest URL of an engine; refuses plain HTTP except to loopback."""
    return EngineEndpoint.parse(engine_url).url(EVENTS_PATH)


def _stamp(moment: datetime | None) -> str | None:
    return rfc3339(moment) if moment is not None else None


def _payload(batch: Sequence[SpooledEvent]) -> bytes:
    """``{"events": [...]}`` from the spooled JSON text, without re-encoding it."""
    return b'{"events":[' + b",".join(e.body.encode() for e in batch) + b"]}"


def _worth_logging(streak: int) -> bool:
    """Log the 1st, 2nd, 4th, 8th, ... failure in a row, so an outage is not a flood."""
    return streak & (streak - 1) == 0
