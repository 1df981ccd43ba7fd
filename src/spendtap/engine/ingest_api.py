"""``POST /v1/events``: validate a batch whole, then store it once."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool

from spendtap.engine.body import decode_body, read_body
from spendtap.engine.http_errors import ApiError, ErrorCode, Problem
from spendtap.engine.schema import BatchIn, parse_batch
from spendtap.engine.state import EngineState, engine_state, require_token
from spendtap.engine.store import StoreResult, store_batch

log = logging.getLogger(__name__)

router = APIRouter()


class IngestResult(BaseModel):
    accepted: int
    duplicates: int


_BATCH_DOC = {
    "requestBody": {
        "required": True,
        "description": "Usage events, plain JSON or gzip (Content-Encoding: gzip).",
        "content": {"application/json": {"schema": BatchIn.model_json_schema()}},
    }
}
_ERROR_DOC = {"description": "the error shape: {error: {code, message, details}}"}


@router.post(
    "/v1/events",
    dependencies=[Depends(require_token)],
    openapi_extra=_BATCH_DOC,
    responses={
        401: _ERROR_DOC,
        413: _ERROR_DOC,
        415: _ERROR_DOC,
        422: _ERROR_DOC,
        503: _ERROR_DOC,
    },
    summary="Ingest a batch of usage events",
)
async def ingest_events(
    request: Request, state: Annotated[EngineState, Depends(engine_state)]
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
        raise
    received_at = datetime.now(UTC)
    try:
        result: StoreResult = await run_in_threadpool(
            store_batch, state.db, events, received_at
        )
    except OperationalError as exc:
        log.error(
            "engine.ingest.store_failed events=%d error=%s", len(events), exc.orig
        )
        raise _database_unavailable() from exc
    log.info(
        "engine.ingest.batch events=%d accepted=%d duplicates=%d",
        len(events),
        result.accepted,
        result.duplicates,
    )
    return IngestResult(accepted=result.accepted, duplicates=result.duplicates)


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
