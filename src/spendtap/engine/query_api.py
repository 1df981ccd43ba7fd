"""``GET /v1/spend`` (series by any dimensions and bucket) and ``GET /v1/movers``."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from spendtap.engine.access import needs_read
from spendtap.engine.exact_json import ExactJSONResponse
from spendtap.engine.http_errors import ErrorOut
from spendtap.engine.money import nanos_to_usd
from spendtap.engine.movers import top_movers
from spendtap.engine.params import (
    Filters,
    TimeQuery,
    decode_cursor,
    dimension_filters,
    dimensions,
    duration_param,
    encode_cursor,
    invalid,
    minute_window,
    query_id,
    time_param,
    widen,
)
from spendtap.engine.query import Bucket, SpendQuery, SpendRow, row_key, run_spend
from spendtap.engine.report import ALLOWED_BY, BY_PATTERN
from spendtap.engine.rollup import Measures
from spendtap.engine.state import EngineState, engine_state
from spendtap.engine.timestamps import format_ms

router = APIRouter(tags=["query"], dependencies=[Depends(needs_read)])

#: Most time buckets one query may span (a month of minutes, a century of days).
MAX_BUCKETS = 50_000
MAX_PAGE = 10_000
DEFAULT_SPAN = timedelta(days=7)
HOUR = 3600
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "the error shape"},
    403: {"model": ErrorOut, "description": "the error shape"},
    422: {"model": ErrorOut, "description": "the error shape"},
}
_FILTER_DOC = (
    "Filter by dimension value with model=, provider=, agent=, user=, repo= or "
    "ticket= (an empty value selects calls where it is missing)."
)


class SpendRowOut(BaseModel):
    """``bucket_start`` (null when bucket=none), one key per grouped dimension (null
    when missing), then the sums."""

    model_config = {"extra": "allow"}

    bucket_start: str | None
    calls: int
    input_tokens: int | None
    cache_read_tokens: int | None
    cache_write_5m_tokens: int | None
    cache_write_1h_tokens: int | None
    output_tokens: int | None
    reasoning_tokens: int | None
    web_search_requests: int | None
    cost_usd: float | None
    agent_cost_usd: float | None
    unpriced_calls: int


class SpendOut(BaseModel):
    since: str
    until: str
    bucket: Bucket
    rows: list[SpendRowOut]
    next_cursor: str | None = Field(description="pass as cursor for the next page")


class MoverOut(BaseModel):
    model_config = {"extra": "allow"}

    cost_usd: float | None
    previous_cost_usd: float | None
    change_usd: float
    change_ratio: float | None
    calls: int
    previous_calls: int


class MoversOut(BaseModel):
    previous_since: str
    since: str
    until: str
    rows: list[MoverOut]


@router.get(
    "/v1/spend",
    response_class=ExactJSONResponse,
    responses={200: {"model": SpendOut}, **_ERRORS},
    summary="Spend and tokens by dimensions, per time bucket",
    description=_FILTER_DOC,
)
def get_spend(
    state: Annotated[EngineState, Depends(engine_state)],
    only: Annotated[Filters, Depends(dimension_filters)],
    by: Annotated[
        str,
        Query(
            description=f"comma-separated, may be empty: {ALLOWED_BY}",
            json_schema_extra={"pattern": f"^$|{BY_PATTERN}"},
        ),
    ] = "",
    bucket: Annotated[Bucket, Query(description="UTC time buckets")] = Bucket.DAY,
    since: Annotated[
        str | None, TimeQuery("RFC 3339 start (default: until - 7 days)")
    ] = None,
    until: Annotated[
        str | None, TimeQuery("RFC 3339 end, exclusive (default: now)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1000,
    cursor: Annotated[
        str | None, Query(min_length=1, description="next_cursor of the last page")
    ] = None,
) -> ExactJSONResponse:
    """Rows ordered by bucket then dimension values. The window is widened to whole
    buckets (whole hours for bucket=none), so no bucket is cut off. Sums come from
    the rollups, never from raw events."""
    group = dimensions(by, allow_none=True)
    start, end = minute_window(
        time_param("since", since), time_param("until", until), DEFAULT_SPAN
    )
    grain = bucket.grain
    start, end = widen(start, end, HOUR if grain is None else grain.seconds)
    if grain is not None and (end - start) // grain.seconds > MAX_BUCKETS:
        raise invalid(
            "bucket",
            f"the window holds more than {MAX_BUCKETS} {bucket.value} buckets",
            "use a coarser bucket or a shorter window",
        )
    query = SpendQuery(group, bucket, start, end, only)
    qid = query_id(query)
    kinds = (() if bucket is Bucket.NONE else (int,)) + (str,) * len(group)
    after = None if cursor is None else decode_cursor(cursor, qid, kinds)
    rows = run_spend(state.db, query, limit=limit + 1, after=after)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(qid, row_key(query, rows[-1])) if more else None
    names = tuple(d.value for d in group)
    return ExactJSONResponse(
        {
            "since": format_ms(start * 1000),
            "until": format_ms(end * 1000),
            "bucket": bucket.value,
            "rows": [_spend_row(names, row) for row in rows],
            "next_cursor": next_cursor,
        }
    )


@router.get(
    "/v1/movers",
    response_class=ExactJSONResponse,
    responses={200: {"model": MoversOut}, **_ERRORS},
    summary="Top movers: the biggest changes in spend from the previous window",
    description=_FILTER_DOC,
)
def get_movers(
    state: Annotated[EngineState, Depends(engine_state)],
    only: Annotated[Filters, Depends(dimension_filters)],
    by: Annotated[
        str,
        Query(
            description=f"comma-separated: {ALLOWED_BY}",
            json_schema_extra={"pattern": BY_PATTERN},
        ),
    ] = "user",
    window: Annotated[str, Query(description="span compared, like 7d or 24h")] = "7d",
    until: Annotated[
        str | None, TimeQuery("RFC 3339 end of the window (default: now)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> ExactJSONResponse:
    """Groups whose cost changed most between ``[until - 2 window, until - window)``
    and ``[until - window, until)``, by absolute change; times in whole hours."""
    group = dimensions(by)
    span = duration_param("window", window)
    until_at = time_param("until", until)
    start, end = widen(*minute_window(None, until_at, span), HOUR)
    previous = start - (end - start)
    movers = top_movers(state.db, group, (previous, start, end), only, limit)
    names = tuple(d.value for d in group)
    return ExactJSONResponse(
        {
            "previous_since": format_ms(previous * 1000),
            "since": format_ms(start * 1000),
            "until": format_ms(end * 1000),
            "rows": [mover.to_json(names) for mover in movers],
        }
    )


def _spend_row(names: tuple[str, ...], row: SpendRow) -> dict[str, object]:
    start = None if row.bucket_start is None else format_ms(row.bucket_start * 1000)
    return (
        {"bucket_start": start}
        | dict(zip(names, row.values, strict=True))
        | _measures(row.measures)
    )


def _measures(m: Measures) -> dict[str, object]:
    return {
        "calls": m.calls,
        "input_tokens": m.input_tokens,
        "cache_read_tokens": m.cache_read_tokens,
        "cache_write_5m_tokens": m.cache_write_5m_tokens,
        "cache_write_1h_tokens": m.cache_write_1h_tokens,
        "output_tokens": m.output_tokens,
        "reasoning_tokens": m.reasoning_tokens,
        "web_search_requests": m.web_search_requests,
        "cost_usd": None if m.cost_nanos is None else nanos_to_usd(m.cost_nanos),
        "agent_cost_usd": None
        if m.agent_cost_nanos is None
        else nanos_to_usd(m.agent_cost_nanos),
        "unpriced_calls": m.unpriced_calls,
    }
