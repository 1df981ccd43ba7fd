"""RFC 3339 UTC timestamps with milliseconds, as the usage event contract writes them."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(moment: datetime | float) -> str:
    if isinstance(moment, float | int):
        moment = datetime.fromtimestamp(moment, UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def millis_between(start: float, end: float | None) -> int | None:
    if end is None or end < start:
        return None
    return round((end - start) * 1000)
