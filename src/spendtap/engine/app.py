"""The engine's ASGI app: ``POST /v1/events``, ``GET /v1/report``, ``GET /healthz``.

Run it with :class:`spendtap.engine.server.EngineServer`, or with any ASGI server::

    uvicorn --factory 'spendtap.engine.app:app_from_environment'

The OpenAPI spec is at ``/openapi.json`` and its pages at ``/docs``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from spendtap import __version__
from spendtap.engine import ingest_api, report_api
from spendtap.engine.database import open_database
from spendtap.engine.http_errors import ApiError, ErrorCode, install_error_handlers
from spendtap.engine.state import EngineState, IngestLimits, engine_state
from spendtap.errors import ConfigError

log = logging.getLogger(__name__)

DB_URL_ENV = "SPENDTAP_DB_URL"
TOKEN_ENV = "SPENDTAP_INGEST_TOKEN"


def create_app(
    db_url: str,
    *,
    ingest_token: str | None = None,
    limits: IngestLimits | None = None,
) -> FastAPI:
    """The engine app on the database at ``db_url`` (tables created if missing).

    With ``ingest_token`` set, ``/v1/events`` and ``/v1/report`` need it as a bearer
    token. Raises ConfigError for a database URL it cannot open.
    """
    state = EngineState(
        db=open_database(db_url),
        token=ingest_token or None,
        limits=limits or IngestLimits(),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        state.db.dispose()
        log.info("engine.app.stopped")

    app = FastAPI(
        title="spendtap engine",
        version=__version__,
        description="Ingests usage events and reports their cost and tokens.",
        lifespan=lifespan,
    )
    app.state.spendtap = state
    install_error_handlers(app)
    app.include_router(ingest_api.router)
    app.include_router(report_api.router)
    app.add_api_route("/healthz", healthz, methods=["GET"], summary="Liveness")
    return app


def healthz(state: Annotated[EngineState, Depends(engine_state)]) -> dict[str, str]:
    """``{"status": "ok"}`` once the database has answered a query."""
    try:
        with state.db.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.error("engine.health.database_failed error=%s", exc)
        message = "the database does not answer; check the engine's log and database"
        raise ApiError(503, ErrorCode.DATABASE_UNAVAILABLE, message) from exc
    return {"status": "ok"}


def app_from_environment() -> FastAPI:
    """The app set up by $SPENDTAP_DB_URL and $SPENDTAP_INGEST_TOKEN (for uvicorn)."""
    db_url = os.environ.get(DB_URL_ENV)
    if not db_url:
        raise ConfigError(f"${DB_URL_ENV} is not set: set it to sqlite:///PATH")
    return create_app(db_url, ingest_token=os.environ.get(TOKEN_ENV))
