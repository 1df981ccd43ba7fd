"""Reading the engine's answers: counts, Retry-After, error text and codes.

The engine answers errors as ``{"error": {"code", "message", "details"}}``; these
helpers read that shape and tolerate anything else (a proxy's HTML page, an empty
body), since what stands between the laptop and the engine is not ours.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

log = logging.getLogger(__name__)

#: Error codes of a 401 that mean this device must enroll again.
DEVICE_CODES = frozenset({"device_unknown", "device_revoked"})
MAX_ERROR_TEXT = 2000


def ingest_counts(response: httpx.Response, sent: int) -> tuple[int, int]:
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


def retry_after(response: httpx.Response) -> float | None:
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


def error_text(response: httpx.Response) -> str:
    """The engine's error message, short enough to log and keep."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:MAX_ERROR_TEXT]
    if isinstance(body, dict) and "error" in body:
        body = body["error"]
    return json.dumps(body, ensure_ascii=False)[:MAX_ERROR_TEXT]


def device_hint(response: httpx.Response) -> str:
    """What to do when the engine no longer knows this device's token."""
    if response.status_code != 401 or error_code(response) not in DEVICE_CODES:
        return ""
    return (
        "; the engine no longer accepts this device's token: events stay queued; "
        "enroll again with `spendtap enroll --engine URL --code CODE`"
    )


def error_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def error_message(response: httpx.Response) -> str:
    """The engine's own error message (``{"error": {"message": ...}}``), short."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300].strip()
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error.get("code") or "")[:300]
    if isinstance(error, str):
        return error[:300]
    return ""
