"""``POST /v1/drops`` (collectors report events they lost) and ``GET /v1/drops``."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool

from spendtap.engine.access import Principal, needs_ingest, needs_read
from spendtap.engine.drops import DropRecord, list_drops, store_drops
from spendtap.engine.http_errors import ErrorOut
from spendtap.engine.params import invalid
from spendtap.engine.schema import MAX_INT, NO_NUL, check_time
from spendtap.engine.state import EngineState, engine_state
from spendtap.engine.timestamps import parse_rfc3339

log = logging.getLogger(__name__)

router = APIRouter(tags=["drops"])
MAX_DROPS = 1000
_ERROR = {"model": ErrorOut, "description": "the error shape"}
_ERRORS: dict[int | str, dict[str, Any]] = {401: _ERROR, 403: _ERROR, 422: _ERROR}
Time = Annotated[
    str,
    Field(max_length=64, json_schema_extra={"format": "date-time"}),
    AfterValidator(check_time),
]
State = Annotated[EngineState, Depends(engine_state)]


class DropIn(BaseModel):
    """Events a collector lost on purpose, counted, between first_at and last_at."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    drop_id: Annotated[str, Field(min_length=1, max_length=256, pattern=NO_NUL)]
    device_id: Annotated[str, Field(max_length=2048, pattern=NO_NUL)] | None
    count: Annotated[int, Field(ge=1, le=MAX_INT)]
    reason: Annotated[str, Field(min_length=1, max_length=2048, pattern=NO_NUL)]
    first_at: Time
    last_at: Time

    @model_validator(mode="after")
    def _ordered(self) -> DropIn:
        if parse_rfc3339(self.last_at) < parse_rfc3339(self.first_at):
            raise ValueError(
                f"last_at {self.last_at} is before first_at {self.first_at}: send "
                "the time of the first dropped event, then of the last"
            )
        return self


class DropsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    drops: Annotated[list[DropIn], Field(max_length=MAX_DROPS)]


class DropsResultOut(BaseModel):
    accepted: int
    duplicates: int


class DropOut(BaseModel):
    drop_id: str
    device_id: str | None
    count: int
    reason: str
    first_at: str
    last_at: str
    received_at: str
    shipped_by: str | None


class DropsOut(BaseModel):
    drops: list[DropOut]
    next_cursor: str | None


@router.post(
    "/v1/drops",
    responses={**_ERRORS, 400: _ERROR, 503: _ERROR},
    summary="Record drops (idempotent by drop_id)",
)
async def post_drops(
    state: State, principal: Annotated[Principal, Depends(needs_ingest)], body: DropsIn
) -> DropsResultOut:
    records = [
        DropRecord(d.drop_id, d.device_id, d.count, d.reason, d.first_at, d.last_at)
        for d in body.drops
    ]
    result = await run_in_threadpool(
        store_drops, state.db, records, datetime.now(UTC), principal.name
    )
    state.metrics.drops_recorded.inc(result.accepted)
    state.metrics.events_dropped.inc(result.dropped_events)
    return DropsResultOut(accepted=result.accepted, duplicates=result.duplicates)


@router.get(
    "/v1/drops",
    dependencies=[Depends(needs_read)],
    responses=_ERRORS,
    summary="Drop records, ordered by drop_id, a page at a time",
)
async def get_drops(
    state: State,
    cursor: Annotated[
        str | None,
        Query(min_length=1, max_length=256, description="next_cursor of the last page"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_DROPS)] = 100,
) -> DropsOut:
    if cursor is not None and "\x00" in cursor:  # PostgreSQL cannot compare with it
        raise invalid(
            "cursor",
            "cursor holds a NUL character (U+0000), which no drop id has",
            "send the next_cursor of the last page as it was given",
        )
    page = await run_in_threadpool(list_drops, state.db, cursor, limit + 1)
    more = len(page) > limit
    page = page[:limit]
    return DropsOut(
        drops=[
            DropOut(
                drop_id=d.record.drop_id,
                device_id=d.record.device_id,
                count=d.record.count,
                reason=d.record.reason,
                first_at=d.record.first_at,
                last_at=d.record.last_at,
                received_at=d.received_at,
                shipped_by=d.shipped_by,
            )
            for d in page
        ],
        next_cursor=page[-1].record.drop_id if more else None,
    )
