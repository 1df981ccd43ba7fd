"""What the routes share (database, token, limits), and the token check."""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from spendtap.engine.http_errors import ApiError, ErrorCode, Problem

log = logging.getLogger(__name__)

#: Largest batch body, before and after gzip; a shipper splits bigger batches.
MAX_BATCH_BYTES = 16 * 1024 * 1024
#: Most events in one batch.
MAX_BATCH_EVENTS = 5000


@dataclass(frozen=True, slots=True)
class IngestLimits:
    max_body_bytes: int = MAX_BATCH_BYTES
    max_events: int = MAX_BATCH_EVENTS


@dataclass(frozen=True, slots=True)
class EngineState:
    db: Engine
    token: str | None
    limits: IngestLimits


def engine_state(request: Request) -> EngineState:
    state = request.app.state.spendtap
    assert isinstance(state, EngineState)
    return state


_bearer = HTTPBearer(auto_error=False, description="the engine's ingest token")


def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Refuse with 401 unless the request has the engine's token (when one is set)."""
    expected = engine_state(request).token
    if expected is None:
        return
    if credentials is None:
        reason, message = "missing", "no bearer token was sent"
    elif not hmac.compare_digest(credentials.credentials.encode(), expected.encode()):
        reason, message = "wrong", "the bearer token is not the engine's token"
    else:
        return
    log.warning("engine.auth.rejected reason=%s path=%s", reason, request.url.path)
    fix = "send the header Authorization: Bearer <the engine's ingest token>"
    raise ApiError(
        401,
        ErrorCode.UNAUTHORIZED,
        f"{message}; {fix}",
        (Problem(message, fix, field="Authorization"),),
        headers={"WWW-Authenticate": "Bearer"},
    )
