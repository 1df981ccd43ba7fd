"""``GET /v1/report``: sums by dimensions over a time window, read from the rollups."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from spendtap.engine.access import needs_read
from spendtap.engine.exact_json import ExactJSONResponse
from spendtap.engine.http_errors import ErrorOut
from spendtap.engine.params import TimeQuery, dimensions, invalid, time_param
from spendtap.engine.report import ALLOWED_BY, BY_PATTERN, ReportQuery, run_report
from spendtap.engine.state import EngineState, engine_state

router = APIRouter(tags=["query"])


class ReportTotals(BaseModel):
    calls: int
    input_tokens: int | None
    cache_read_tokens: int | None
    cache_write_5m_tokens: int | None
    cache_write_1h_tokens: int | None
    output_tokens: int | None
    reasoning_tokens: int | None
    cost_usd: float | None
    unpriced_calls: int
    dropped_events: int


class ReportOut(BaseModel):
    """Each row holds the grouped dimensions by name plus the fields of the totals."""

    rows: list[dict[str, str | int | float | None]]
    totals: ReportTotals


_ERROR_DOC = {"model": ErrorOut, "description": "the error shape"}


@router.get(
    "/v1/report",
    dependencies=[Depends(needs_read)],
    response_class=ExactJSONResponse,
    responses={
        200: {"model": ReportOut},
        401: _ERROR_DOC,
        403: _ERROR_DOC,
        422: _ERROR_DOC,
    },
    summary="Cost and tokens by dimension",
)
def get_report(
    state: Annotated[EngineState, Depends(engine_state)],
    by: Annotated[
        str,
        Query(
            description=f"comma-separated: {ALLOWED_BY}",
            json_schema_extra={"pattern": BY_PATTERN},
        ),
    ] = "model",
    since: Annotated[str | None, TimeQuery("RFC 3339 start")] = None,
    until: Annotated[str | None, TimeQuery("RFC 3339 end (exclusive)")] = None,
    limit: Annotated[
        int | None,
        Query(ge=1, le=100_000, description="only the first rows (totals stay whole)"),
    ] = None,
) -> ExactJSONResponse:
    """Rows sorted by cost, then calls, biggest first, then by their values (by code
    point, a missing value last); costs exact to the nano-USD.

    The window is widened to whole UTC hours. ``totals.dropped_events`` counts the
    events collectors reported dropped in it.
    """
    query = ReportQuery(
        by=dimensions(by),
        since=time_param("since", since),
        until=time_param("until", until),
    )
    if query.since and query.until and query.since >= query.until:
        raise invalid(
            "since",
            f"since {since} is not before until {until}",
            "give a since earlier than until",
        )
    return ExactJSONResponse(run_report(state.db, query, limit).to_json())
