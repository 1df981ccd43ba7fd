"""``GET /v1/report``: sums by dimensions over a time window, read from the rollups."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from spendtap.engine.exact_json import ExactJSONResponse
from spendtap.engine.http_errors import ApiError, ErrorCode, Problem
from spendtap.engine.report import ALLOWED_BY, ReportQuery, parse_dimensions, run_report
from spendtap.engine.rollup import Dimension
from spendtap.engine.state import EngineState, engine_state, require_token
from spendtap.engine.timestamps import EXAMPLE, parse_rfc3339

router = APIRouter()


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


class ReportOut(BaseModel):
    """Each row holds the grouped dimensions by name plus the fields of the totals."""

    rows: list[dict[str, str | int | float | None]]
    totals: ReportTotals


_ERROR_DOC = {"description": "the error shape: {error: {code, message, details}}"}


@router.get(
    "/v1/report",
    dependencies=[Depends(require_token)],
    response_class=ExactJSONResponse,
    responses={200: {"model": ReportOut}, 401: _ERROR_DOC, 422: _ERROR_DOC},
    summary="Cost and tokens by dimension",
)
def get_report(
    state: Annotated[EngineState, Depends(engine_state)],
    by: Annotated[str, Query(description=f"comma-separated: {ALLOWED_BY}")] = "model",
    since: Annotated[str | None, Query(description="RFC 3339 start")] = None,
    until: Annotated[str | None, Query(description="RFC 3339 end (exclusive)")] = None,
) -> ExactJSONResponse:
    """Rows sorted by cost, then calls, biggest first; costs exact to the nano-USD."""
    query = ReportQuery(
        by=_dimensions(by), since=_time("since", since), until=_time("until", until)
    )
    if query.since and query.until and query.since >= query.until:
        raise _invalid(
            "since",
            f"since {since} is not before until {until}",
            "give a since earlier than until",
        )
    return ExactJSONResponse(run_report(state.db, query).to_json())


def _dimensions(text: str) -> tuple[Dimension, ...]:
    try:
        return parse_dimensions(text)
    except ValueError as exc:
        fix = "send by as a comma-separated list of them, like by=model,provider"
        raise _invalid("by", str(exc), fix) from exc


def _time(name: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_rfc3339(text)
    except ValueError as exc:
        raise _invalid(name, f"{name}: {exc}", f"send {name} like {EXAMPLE}") from exc


def _invalid(field: str, message: str, fix: str) -> ApiError:
    return ApiError(
        422,
        ErrorCode.INVALID_QUERY,
        f"{message}; {fix}",
        (Problem(message, fix, field=field),),
    )
