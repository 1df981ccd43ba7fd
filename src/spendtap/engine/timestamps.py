"""RFC 3339 times: the one time format the engine's API reads and writes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.(\d+))?(?:[Zz]|[+-]\d{2}:\d{2})"
)
#: Python keeps microseconds; finer digits are dropped (they never change the hour).
_MAX_FRACTION_DIGITS = 6

EXAMPLE = "2025-01-31T12:00:00.000Z"
SECONDS_PER_HOUR = 3600
#: The times the engine stores or queries: no call happened before 1970, and dates
#: near the year 9999 break month arithmetic (partitions, windows).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
MAX_DURATION = timedelta(days=36500)


def parse_rfc3339(text: str) -> datetime:
    """The UTC time ``text`` names; ValueError unless it is RFC 3339 with a zone."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not an RFC 3339 time with a zone, like {EXAMPLE}"
        )
    normal = text.upper().replace(" ", "T")
    start, end = match.span(1)
    if end - start > _MAX_FRACTION_DIGITS:
        normal = normal[: start + _MAX_FRACTION_DIGITS] + normal[end:]
    try:
        value = datetime.fromisoformat(normal)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a real time ({exc})") from exc
    return value.astimezone(UTC)


def parse_bounded(text: str) -> datetime:
    """:func:`parse_rfc3339`, refusing times outside [EARLIEST, LATEST)."""
    value = parse_rfc3339(text)
    if not EARLIEST <= value < LATEST:
        raise ValueError(
            f"{text!r} is outside the years 1970 to 8999 the engine keeps; "
            "send the real time of the call (is this clock set?)"
        )
    return value


def format_rfc3339(value: datetime) -> str:
    """``value`` in UTC with milliseconds, as the usage event contract writes times."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def hour_start(value: datetime) -> int:
    """Seconds since the epoch at the start of the UTC hour holding ``value``."""
    seconds = int(value.timestamp())
    return seconds - seconds % SECONDS_PER_HOUR


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def epoch_ms(value: datetime) -> int:
    """Whole milliseconds since the epoch at ``value`` (floored, exact)."""
    return (value.astimezone(UTC) - _EPOCH) // _ONE_MS


def rfc3339_to_ms(text: str) -> int:
    """Milliseconds since the epoch at the RFC 3339 time ``text`` (ValueError if bad).

    Tries the stdlib's C parser first (ingest calls this for every event); a text it
    refuses, or reads without a zone, goes through :func:`parse_rfc3339`.
    """
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return epoch_ms(parse_rfc3339(text))
    if value.tzinfo is None:
        return epoch_ms(parse_rfc3339(text))
    return epoch_ms(value)


def format_ms(ms: int) -> str:
    """``ms`` since the epoch as an RFC 3339 UTC time with milliseconds."""
    return format_rfc3339(_EPOCH + ms * _ONE_MS)


def parse_duration(text: str) -> timedelta:
    """``90d``, ``12h``, ``30m``, ``45s`` or ``2w`` as a positive timedelta."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None or int(match.group(1)) == 0:
        raise ValueError(
            f"{text[:40]!r} is not a duration: write a positive number and a unit, "
            "like 90d, 12h, 30m, 45s or 2w"
        )
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"{text[:40]!r} is longer than {MAX_DURATION.days} days")
    return timedelta(seconds=seconds)
