"""``POST /v1/events``: validate a batch whole, then store it once.

A shipper may send ``X-Spendtap-Sent-At`` (RFC 3339, its own clock): when it is more
than 300 s from the engine's clock, the stored events are flagged ``clock_skew_s`` and
counted in /metrics. The events keep the laptop's times either way.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from starlette.concurrency import run_in_threadpool

from spendtap.engine.access import Principal, needs_ingest
from spendtap.engine.body import decode_body, read_body
from spendtap.engine.http_errors import ApiError, ErrorCode, ErrorOut, Problem
from spendtap.engine.schema import parse_batch
from spendtap.engine.state import EngineState, engine_state
from spendtap.engine.store import StoreResult, store_batch
from spendtap.engine.timestamps import parse_bounded

log = logging.getLogger(__name__)

router = APIRouter(tags=["ingest"])
SENT_AT_HEADER = "X-Spendtap-Sent-At"


class IngestResult(BaseModel):
    accepted: int = Field(description="events stored now")
    duplicates: int = Field(
        description="events not stored again: id already known (or repeated in the "
        "batch), or the same call as one from another capture source"
    )
    cross_source_duplicates: int = Field(
        0, description="the part of duplicates linked to another source's call"
    )


_BATCH_DOC = {
    "requestBody": {
        "required": True,
        "description": "Usage events, plain JSON or gzip (Content-Encoding: gzip).",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/BatchIn"}}
        },
    }
}
_ERROR_DOC = {"model": ErrorOut, "description": "the error shape"}


@router.post(
    "/v1/events",
    openapi_extra=_BATCH_DOC,
    responses={
        401: _ERROR_DOC,
        403: _ERROR_DOC,
        413: _ERROR_DOC,
        415: _ERROR_DOC,
        422: _ERROR_DOC,
        503: _ERROR_DOC,
    },
    summary="Ingest a batch of usage events",
)
async def ingest_events(
    request: Request,
    state: Annotated[EngineState, Depends(engine_state)],
    principal: Annotated[Principal, Depends(needs_ingest)],
) -> IngestResult:
    """Store each new event once; a batch with any bad event is rejected whole."""
    limit = state.limits.max_body_bytes
    try:
        raw = await read_body(request, limit)
        body = decode_body(raw, request.headers.get("content-encoding"), limit)
        events = await run_in_threadpool(parse_batch, body, state.limits.max_events)
    except ApiError as exc:
        log.warning(
            "engine.ingest.rejected status=%d code=%s problems=%d",
            exc.status,
            exc.code,
            len(exc.details),
        )
        state.metrics.rejected(exc.code)
        raise
    received_at = datetime.now(UTC)
    sent_at = _sent_at(request.headers.get(SENT_AT_HEADER))
    started = time.perf_counter()
    try:
        result: StoreResult = await run_in_threadpool(
            lambda: store_batch(
                state.db,
                events,
                received_at,
                sent_at=sent_at,
                shipped_by=principal.name,
            )
        )
    except DBAPIError as exc:
        failure = _store_failure(exc)
        if failure is None:
            raise
        event, error = failure
        log.error("engine.ingest.%s events=%d error=%s", event, len(events), exc.orig)
        state.metrics.rejected(error.code)
        raise error from exc
    state.metrics.stored(result, time.perf_counter() - started)
    log.info(
        "engine.ingest.batch events=%d accepted=%d duplicates=%d cross_source=%d "
        "clock_skewed=%d",
        len(events),
        result.accepted,
        result.duplicates,
        result.cross_source_duplicates,
        result.clock_skewed,
    )
    return IngestResult(
        accepted=result.accepted,
        duplicates=result.duplicates,
        cross_source_duplicates=result.cross_source_duplicates,
    )


def _sent_at(header: str | None) -> datetime | None:
    """The sender's clock from its header; a bad value is logged and ignored."""
    if header is None:
        return None
    try:
        return parse_bounded(header.strip())
    except ValueError:
        log.warning("engine.ingest.sent_at_unreadable length=%d", len(header))
        return None


#: PostgreSQL's SQLSTATE class 54, "program limit exceeded" (an index row too big).
_PROGRAM_LIMIT = "54"
#: ``numeric_value_out_of_range``.
_OUT_OF_RANGE = "22003"


def _sqlstate(exc: DBAPIError) -> str:
    return str(getattr(exc.orig, "sqlstate", None) or "")


def _store_failure(exc: DBAPIError) -> tuple[str, ApiError] | None:
    """What a database error while storing a batch tells its sender (with the log
    event's name): to send it again later, or that it can never be stored, which
    the shipper answers by setting aside only the events at fault. None: a bug."""
    code = _sqlstate(exc)
    if code.startswith(_PROGRAM_LIMIT):
        return "value_too_long", _never_stored(
            "a value of the batch is too long for the database's indexes (ids and "
            "dimension values together must stay under about 2,700 bytes)",
            "shorten the ids and dimension values (model, user, repo, branch, ticket)",
        )
    if code == _OUT_OF_RANGE:
        return "total_out_of_range", _never_stored(
            "the batch would push a stored total past 2^63-1 (9.2e18 tokens)",
            "token counts that large are not real: drop the events that carry them",
        )
    if isinstance(exc, DataError):
        return "value_refused", _never_stored(
            "the database refused a value of the batch",
            "the engine's log names the value's problem (engine.ingest.value_refused)",
        )
    if isinstance(exc, OperationalError | IntegrityError):
        return "store_failed", _database_unavailable()
    return None


def _never_stored(why: str, fix: str) -> ApiError:
    message = f"{why}; nothing of it was stored"
    return ApiError(
        422, ErrorCode.INVALID_BATCH, f"{message}; {fix}", (Problem(message, fix),)
    )


def _database_unavailable() -> ApiError:
    message = "the database could not store the batch; nothing of it was stored"
    fix = "send the same batch again later (event ids make the retry safe)"
    return ApiError(
        503,
        ErrorCode.DATABASE_UNAVAILABLE,
        f"{message}; {fix}",
        (Problem(message, fix),),
        headers={"Retry-After": "1"},
    )
