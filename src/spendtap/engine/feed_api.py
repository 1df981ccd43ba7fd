"""Raw events: ``GET /v1/events`` (pages in arrival order), ``GET /v1/events/{id}``,
and ``GET /v1/feed``, the live feed as server-sent events.

The feed polls the database for events after its cursor, so a call stored through
any replica reaches the feed of every replica within a poll (0.5 s by default).
Each SSE message is ``id: <seq>``, ``event: usage`` and ``data: <the event JSON>``; a
client that reconnects with ``Last-Event-ID`` resumes after that event. Without a
cursor the feed starts at the newest event (only calls that arrive from now on).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from spendtap.engine.access import needs_read
from spendtap.engine.exact_json import ExactJSONResponse, dumps_exact
from spendtap.engine.feed import events_after, find_event, last_seq
from spendtap.engine.http_errors import ApiError, ErrorCode, ErrorOut, Problem
from spendtap.engine.params import invalid
from spendtap.engine.state import EngineState, engine_state

log = logging.getLogger(__name__)

router = APIRouter(tags=["events"], dependencies=[Depends(needs_read)])

MAX_PAGE = 1000
MAX_SEQ = 2**63 - 1
HEARTBEAT_S = 15.0
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "the error shape"},
    403: {"model": ErrorOut, "description": "the error shape"},
    422: {"model": ErrorOut, "description": "the error shape"},
}


class StoredEventOut(BaseModel):
    """The usage event's contract fields plus ``seq``, ``received_at``,
    ``clock_skew_s`` (set when the sender's clock was off by over 300 s) and
    ``shipped_by`` (the device or token that sent it)."""

    model_config = {"extra": "allow"}

    event_id: str
    seq: int
    received_at: str
    clock_skew_s: int | None
    shipped_by: str | None


class EventsPageOut(BaseModel):
    events: list[StoredEventOut]
    next_after: int


class LinkOut(BaseModel):
    event_id: str
    capture_source: str
    matched_by: str
    filled: list[str]
    linked_at: str


class EventLookupOut(BaseModel):
    event_id: str
    stored_id: str
    duplicate_of: str | None
    event: StoredEventOut | None
    links: list[LinkOut]


@router.get(
    "/v1/events",
    response_class=ExactJSONResponse,
    responses={200: {"model": EventsPageOut}, **_ERRORS},
    summary="Raw usage events in arrival order, a page after a cursor",
)
def list_events(
    state: Annotated[EngineState, Depends(engine_state)],
    after: Annotated[int, Query(ge=0, le=MAX_SEQ, description="seq cursor")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> ExactJSONResponse:
    """Pass ``next_after`` back as ``after`` for the next page."""
    page = events_after(state.db, after, limit)
    return ExactJSONResponse(
        {
            "events": [e.to_json() for e in page],
            "next_after": page[-1].seq if page else after,
        }
    )


@router.get(
    "/v1/events/{event_id}",
    response_class=ExactJSONResponse,
    responses={
        200: {"model": EventLookupOut},
        404: {"model": ErrorOut, "description": "the error shape"},
        **_ERRORS,
    },
    summary="One usage event by id, with the duplicates linked to it",
)
def get_event(
    state: Annotated[EngineState, Depends(engine_state)],
    event_id: Annotated[str, Path(min_length=1, max_length=256)],
) -> ExactJSONResponse:
    """For an id that was a cross-source duplicate, the stored call it was linked to
    (``duplicate_of``); ``event`` is null once retention removed the raw event."""
    # Ingest refuses NUL (PostgreSQL cannot even compare with it): never received.
    found = None if "\x00" in event_id else find_event(state.db, event_id)
    if found is None:
        message = f"no event with id {event_id!r} was ever received"
        fix = "check the id (GET /v1/events lists them in arrival order)"
        raise ApiError(
            404, ErrorCode.NOT_FOUND, f"{message}; {fix}", (Problem(message, fix),)
        )
    return ExactJSONResponse(
        {
            "event_id": found.event_id,
            "stored_id": found.stored_id,
            "duplicate_of": None
            if found.stored_id == found.event_id
            else found.stored_id,
            "event": None if found.event is None else found.event.to_json(),
            "links": [link.to_json() for link in found.links],
        }
    )


@router.get(
    "/v1/feed",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "server-sent events, one per stored usage event",
        },
        **_ERRORS,
    },
    summary="Live feed of usage events as they are stored (server-sent events)",
)
async def feed(
    request: Request,
    state: Annotated[EngineState, Depends(engine_state)],
    after: Annotated[
        int | None, Query(ge=0, le=MAX_SEQ, description="seq to start after")
    ] = None,
    max_events: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
    max_seconds: Annotated[float | None, Query(gt=0, le=86_400)] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Streams until the client leaves, or ``max_events`` were sent, or
    ``max_seconds`` passed. A comment line every 15 s keeps proxies from closing it."""
    start = _start(after, last_event_id)
    if start is None:
        start = await run_in_threadpool(last_seq, state.db)
    stream = _stream(request, state, start, max_events, max_seconds)
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _start(after: int | None, last_event_id: str | None) -> int | None:
    if last_event_id is None:
        return after
    if not last_event_id.isdigit() or int(last_event_id) > MAX_SEQ:
        raise invalid(
            "Last-Event-ID",
            f"Last-Event-ID {last_event_id[:40]!r} is not an event seq",
            "resend the id of the last message received, or leave the header out",
        )
    return int(last_event_id)


async def _stream(
    request: Request,
    state: EngineState,
    cursor: int,
    max_events: int | None,
    max_seconds: float | None,
) -> AsyncIterator[bytes]:
    sent = 0
    started = last_write = time.monotonic()
    deadline = None if max_seconds is None else started + max_seconds
    yield b": spendtap live feed\n\n"
    while not await request.is_disconnected():
        page = await run_in_threadpool(events_after, state.db, cursor, MAX_PAGE)
        for event in page:
            data = dumps_exact(event.to_json())
            yield f"id: {event.seq}\nevent: usage\ndata: {data}\n\n".encode()
            cursor, sent = event.seq, sent + 1
            if max_events is not None and sent >= max_events:
                return
        now = time.monotonic()
        if page:
            last_write = now
        elif now - last_write > HEARTBEAT_S:
            yield b": keep-alive\n\n"
            last_write = now
        if deadline is not None and now >= deadline:
            return
        if len(page) < MAX_PAGE:
            await asyncio.sleep(state.config.feed_poll_s)
