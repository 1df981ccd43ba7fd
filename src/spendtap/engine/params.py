"""Reading query parameters shared by the read API: dimensions, times, windows,
filters and page cursors, each refused in the one error shape with its fix."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from spendtap.engine.http_errors import ApiError, ErrorCode, Problem
from spendtap.engine.report import parse_dimensions
from spendtap.engine.rollup import DIMENSIONS, Dimension
from spendtap.engine.timestamps import EXAMPLE, parse_bounded, parse_duration

_MINUTE = 60


def TimeQuery(description: str) -> Any:
    """A query parameter holding an RFC 3339 time (documented as date-time)."""
    return Query(
        min_length=1,
        max_length=64,
        description=description,
        json_schema_extra={"format": "date-time"},
    )


def check_query(request: Request) -> None:
    """422 for a query parameter the operation does not take (a typo such as
    ``untill`` would otherwise be ignored and answer for the wrong window), or one
    given twice (which value was meant?)."""
    known = _query_names(request.scope.get("route"))
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        raise invalid(
            unknown[0][:60],
            f"unknown query parameter {unknown[0][:60]!r}",
            f"use only the parameters this operation takes: {allowed}",
        )
    for name in known:
        count = len(request.query_params.getlist(name))
        if count > 1:
            raise invalid(
                name, f"query parameter {name!r} is given {count} times", "give it once"
            )


_QUERY_NAMES: dict[int, frozenset[str]] = {}


def _query_names(route: object) -> frozenset[str]:
    if not isinstance(route, APIRoute):
        return frozenset()
    names = _QUERY_NAMES.get(id(route))
    if names is None:
        names = _QUERY_NAMES[id(route)] = frozenset(_collect(route.dependant))
    return names


def _collect(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _collect(sub)
    return names


def invalid(field: str, message: str, fix: str) -> ApiError:
    return ApiError(
        422,
        ErrorCode.INVALID_QUERY,
        f"{message}; {fix}",
        (Problem(message, fix, field=field),),
    )


def dimensions(
    text: str, *, field: str = "by", allow_none: bool = False
) -> tuple[Dimension, ...]:
    try:
        return parse_dimensions(text, allow_none=allow_none)
    except ValueError as exc:
        fix = f"send {field} as a comma-separated list of them, like {field}=model,user"
        raise invalid(field, str(exc), fix) from exc


def time_param(name: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_bounded(text)
    except ValueError as exc:
        raise invalid(name, f"{name}: {exc}", f"send {name} like {EXAMPLE}") from exc


def duration_param(name: str, text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise invalid(name, f"{name}: {exc}", f"send {name} like 7d or 24h") from exc


def minute_window(
    since: datetime | None, until: datetime | None, default_span: timedelta
) -> tuple[int, int]:
    """``[since, until)`` widened to whole minutes, in seconds since the epoch.

    ``until`` defaults to now, ``since`` to ``until - default_span``.
    """
    end = until or datetime.now(UTC)
    start = since or end - default_span
    start_s = int(start.timestamp()) // _MINUTE * _MINUTE
    end_s = -int(-end.timestamp() // _MINUTE) * _MINUTE
    if start_s >= end_s:
        raise invalid(
            "since",
            f"since {start.isoformat()} is not before until {end.isoformat()}",
            "give a since earlier than until",
        )
    return start_s, end_s


def widen(start: int, end: int, seconds: int) -> tuple[int, int]:
    """``[start, end)`` widened to whole buckets of ``seconds`` (UTC)."""
    return start // seconds * seconds, -(-end // seconds) * seconds


Filters = tuple[tuple[Dimension, str | None], ...]
_FILTER = "only calls with this {}; an empty value selects calls without one"


def dimension_filters(
    model: Annotated[str | None, Query(description=_FILTER.format("model"))] = None,
    provider: Annotated[
        str | None, Query(description=_FILTER.format("provider"))
    ] = None,
    agent: Annotated[str | None, Query(description=_FILTER.format("agent"))] = None,
    user: Annotated[str | None, Query(description=_FILTER.format("user"))] = None,
    repo: Annotated[str | None, Query(description=_FILTER.format("repo"))] = None,
    ticket: Annotated[str | None, Query(description=_FILTER.format("ticket"))] = None,
) -> Filters:
    """Dimension filters from query parameters named after dimensions (``user=ana``)."""
    given = dict(
        zip(DIMENSIONS, (model, provider, agent, user, repo, ticket), strict=True)
    )
    for dimension, value in given.items():
        if value is not None and "\x00" in value:  # PostgreSQL refuses it outright
            raise invalid(
                dimension.value,
                f"{dimension.value} holds a NUL character (U+0000), which no stored "
                "value has",
                f"send {dimension.value} without it",
            )
    return tuple((d, value or None) for d, value in given.items() if value is not None)


def encode_cursor(query_id: str, key: Sequence[int | str]) -> str:
    raw = json.dumps([query_id, list(key)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(
    text: str, query_id: str, kinds: tuple[type[int] | type[str], ...]
) -> tuple[int | str, ...]:
    """The row key in ``text``, which must come from the same query: one value per
    kind, in order (a bucket start as a non-negative 64-bit int, values as text)."""
    fix = "send the next_cursor of the previous page of this same query, unchanged"
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        owner, key = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise invalid("cursor", "the cursor is not one this engine made", fix) from exc
    if owner != query_id:
        raise invalid("cursor", "the cursor belongs to another query", fix)
    if (
        not isinstance(key, list)
        or len(key) != len(kinds)
        or not all(_fits(k, kind) for k, kind in zip(key, kinds, strict=True))
    ):
        raise invalid("cursor", "the cursor is not one this engine made", fix)
    return tuple(key)


def _fits(value: object, kind: type[int] | type[str]) -> bool:
    if type(value) is not kind:
        return False
    if isinstance(value, str):  # text this engine stored: no NUL, no lone surrogate
        return _encodable(value)
    return not isinstance(value, int) or 0 <= value < 2**63


def _encodable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def query_id(*parts: object) -> str:
    """A short digest naming a query, so a cursor cannot be reused on another."""
    text = json.dumps([str(p) for p in parts])
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()
