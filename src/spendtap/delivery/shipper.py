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
                 events stay queued, retried at the backoff cap

Plain ``http://`` is refused except to a loopback address.
"""

from __future__ import annotations

import enum
import gzip
import ipaddress
import json
import logging
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit, urlunsplit

import httpx

from spendtap import __version__
from spendtap.delivery.spool import Spool, SpooledEvent
from spendtap.errors import ConfigError, SpoolError

log = logging.getLogger(__name__)

EVENTS_PATH = "/v1/events"
REJECTED_STATUSES = frozenset({400, 422})
_MAX_ERROR_TEXT = 2000


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
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch size must be at least 1, got {batch_size}")
        self._spool = spool
        self._url = events_url(engine_url)
        self._interval = interval
        self._batch_size = batch_size
        self._max_backoff = max_backoff
        self._max_retry_after = max_retry_after
        self._timeout = timeout
        self._rng = rng or random.Random()
        self._client = httpx.Client(
            headers=_headers(token),
            timeout=timeout,
            trust_env=not _is_loopback(urlsplit(self._url).hostname or ""),
        )

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
        self._last_success_at: datetime | None = None
        self._last_error: str | None = None

    def start(self) -> None:
        """Ship in a daemon thread until ``stop``."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._run, name="spendtap-shipper", daemon=True
        )
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
            )

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
        accepted, duplicates = _counts(response, len(batch))
        tally.shipped += len(batch)
        tally.accepted += accepted
        tally.duplicates += duplicates
        tally.batches += 1

    def _post(self, batch: Sequence[SpooledEvent], timeout: float) -> httpx.Response:
        body = gzip.compress(_payload(batch), compresslevel=6, mtime=0)
        started = time.monotonic()
        try:
            response = self._client.post(self._url, content=body, timeout=timeout)
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
        reason = f"HTTP {status}: {_error_text(response)[:200]}"
        if status == 429 or status >= 500:
            raise _Retry(reason, _retry_after(response), config=False)
        raise _Retry(reason, None, config=True)

    def _bury(
        self, batch: Sequence[SpooledEvent], response: httpx.Response, tally: _Tally
    ) -> None:
        if response.status_code == 413:
            reason = "HTTP 413: the engine refuses this event as too large"
        else:
            reason = f"HTTP {response.status_code}: {_error_text(response)}"
        tally.dead += self._spool.bury((e.seq for e in batch), reason)
        tally.rejection = tally.rejection or reason

    def _record(self, tally: _Tally) -> None:
        with self._stats_lock:
            self._shipped += tally.shipped
            self._batches += tally.batches
            self._dead += tally.dead
            if tally.batches:
                self._last_success_at = datetime.now(UTC)
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
        self._streak += 1
        delay = self._delay(retry)
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
            wait = self._wait_after(self._attempt(None))
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
                return
            wait = self._wait_after(result)
            if wait:
                time.sleep(max(min(wait, self._deadline - time.monotonic()), 0.0))


def events_url(engine_url: str) -> str:
    """The ingest URL of an engine; refuses plain HTTP except to loopback."""
    parts = urlsplit(engine_url.strip())
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise ConfigError(
            f"engine URL {engine_url!r} is not an http(s) URL; give one such as "
            "https://spendtap.example.com"
        )
    if parts.username or parts.password:
        raise ConfigError(
            "engine URL must not carry credentials; give the device token separately"
        )
    if parts.scheme == "http" and not _is_loopback(host):
        raise ConfigError(
            f"engine URL {engine_url!r} uses plain http to {host}, which would send "
            "usage data and the device token unencrypted; use https:// (plain http "
            "is only allowed to 127.0.0.1, ::1 or localhost)"
        )
    path = parts.path.rstrip("/") + EVENTS_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _headers(token: str | None) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
        "User-Agent": f"spendtap/{__version__}",
    }
    if token is not None:
        if not token or any(c.isspace() for c in token):
            raise ConfigError(
                "the device token is empty or contains whitespace; give the token "
                "exactly as the engine issued it"
            )
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _payload(batch: Sequence[SpooledEvent]) -> bytes:
    """``{"events": [...]}`` from the spooled JSON text, without re-encoding it."""
    return b'{"events":[' + b",".join(e.body.encode() for e in batch) + b"]}"


def _counts(response: httpx.Response, sent: int) -> tuple[int, int]:
    """The engine's accepted and duplicate counts; all accepted if it did not say."""
    try:
        body = response.json()
        accepted, duplicates = body["accepted"], body["duplicates"]
    except (ValueError, KeyError, TypeError):
        log.warning("shipper.ack_unreadable status=%d", response.status_code)
        return sent, 0
    if not (isinstance(accepted, int) and isinstance(duplicates, int)):
        return sent, 0
    if accepted + duplicates != sent:
        log.warning(
            "shipper.ack_mismatch sent=%d accepted=%d duplicates=%d",
            sent,
            accepted,
            duplicates,
        )
    return accepted, duplicates


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds, from either of its forms; None when absent or bad."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _error_text(response: httpx.Response) -> str:
    """The engine's error message, short enough to log and keep."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:_MAX_ERROR_TEXT]
    if isinstance(body, dict) and "error" in body:
        body = body["error"]
    return json.dumps(body, ensure_ascii=False)[:_MAX_ERROR_TEXT]


def _worth_logging(streak: int) -> bool:
    """Log the 1st, 2nd, 4th, 8th, ... failure in a row, so an outage is not a flood."""
    return streak & (streak - 1) == 0
