"""Timestamps as agents write them, read into aware UTC datetimes.

Claude Code writes ``2025-10-01T10:00:00.123Z``; other writers (and edited files)
give no fraction, microseconds, nanoseconds, an offset instead of ``Z``, or no zone
at all. Every one of those is read; a time without a zone is taken as UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime


def parse_timestamp(value: object) -> datetime | None:
    """The moment ``value`` names, in UTC; None for anything that is not a time."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):  # not a time, or out of range once in UTC
        return None
