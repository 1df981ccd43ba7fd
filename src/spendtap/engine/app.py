"""The engine's ASGI app.

    POST /v1/events               ingest a batch (device token)
    GET  /v1/report               cost and tokens by dimensions (the CLI's report)
    GET  /v1/spend                series by any dimensions, bucket and window
    GET  /v1/movers               biggest changes from the previous window
    GET  /v1/events[/{id}]        raw events in arrival order, or one by id
    GET  /v1/feed                 live feed (server-sent events)
    POST /v1/drops, GET /v1/drops drop records from collectors
    /v1/devices/...               enrollment (see devices_api.py)
    GET  /metrics                 Prometheus metrics
    GET  /healthz                 liveness
    GET  /                        the dashboard page

Run it with :class:`spendtap.engine.server.EngineServer`, or with any ASGI server::

    uvicorn --factory 'spendtap.engine.app:app_from_environment'

Any number of these apps (replicas) can share one database: they keep no state of
their own that others need. The OpenAPI spec is at ``/openapi.json``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Response
from fastapi.openapi.utils import get_openapi
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from spendtap import __version__
from spendtap.engine import (
    dashboard,
    devices_api,
    drops_api,
    feed_api,
    ingest_api,
    query_api,
    report_api,
)
from spendtap.engine.access import (
    AccessMiddleware,
    AccessPolicy,
    ApiToken,
    Gate,
    needs_read,
)
from spendtap.engine.credentials import Role
from spendtap.engine.database import open_database
from spendtap.engine.http_errors import (
    ApiError,
    ErrorCode,
    ErrorOut,
    install_error_handlers,
)
from spendtap.engine.metrics import CONTENT_TYPE, EngineMetrics
from spendtap.engine.migrate import require_head, upgrade_database
from spendtap.engine.params import check_query
from spendtap.engine.partitions import Month
from spendtap.engine.retention import apply_retention
from spendtap.engine.schema import batch_schemas
from spendtap.engine.state import EngineConfig, EngineState, IngestLimits, engine_state
from spendtap.engine.store import partition_cache
from spendtap.engine.timestamps import epoch_ms
from spendtap.errors import ConfigError

log = logging.getLogger(__name__)

DB_URL_ENV = "SPENDTAP_DB_URL"
TOKEN_ENV = "SPENDTAP_INGEST_TOKEN"
API_TOKENS_ENV = "SPENDTAP_API_TOKENS"
ENROLLMENT_ENV = "SPENDTAP_ENROLLMENT"


def create_app(
    db_url: str,
    *,
    ingest_token: str | None = None,
    limits: IngestLimits | None = None,
    config: EngineConfig | None = None,
) -> FastAPI:
    """The engine app on the database at ``db_url``, its schema brought to head.

    ``ingest_token`` (the first engine's shared token) may ingest and read;
    ``config`` says the rest (API tokens, enrollment, retention). Raises ConfigError
    for a database URL it cannot open or a schema it does not know.
    """
    config = config or EngineConfig()
    if ingest_token:
        access = dataclasses.replace(config.access, shared_token=ingest_token)
        config = dataclasses.replace(config, access=access)
    if limits is not None:
        config = dataclasses.replace(config, limits=limits)
    db = open_database(db_url)
    try:
        if config.migrate:
            upgrade_database(db)
        else:
            require_head(db)
        _prepare_partitions(db)
    except ConfigError:
        db.dispose()
        raise
    except SQLAlchemyError as exc:
        db.dispose()
        raise ConfigError(
            f"the engine cannot use its database ({exc.__class__.__name__}: "
            f"{str(exc).splitlines()[0]}); check --db and that the server is up"
        ) from exc
    state = EngineState(
        db=db, gate=Gate(config.access, db), metrics=EngineMetrics(), config=config
    )
    _warn_without_admin(config)
    app = FastAPI(
        title="spendtap engine",
        version=__version__,
        description="Ingests usage events and reports their cost and tokens.",
        lifespan=_lifespan(state),
        # Swagger UI and ReDoc load scripts from public CDNs; the engine serves its
        # own dashboard at / and the spec at /openapi.json instead.
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(check_query)],
    )
    app.state.spendtap = state
    app.add_middleware(AccessMiddleware)
    install_error_handlers(app)
    for module in (ingest_api, report_api, query_api, feed_api, drops_api, devices_api):
        app.include_router(module.router)
    app.include_router(dashboard.router)
    app.add_api_route(
        "/healthz", healthz, methods=["GET"], summary="Liveness", tags=["ops"]
    )
    app.add_api_route(
        "/metrics",
        metrics,
        methods=["GET"],
        summary="Prometheus metrics of this replica",
        tags=["ops"],
        dependencies=[Depends(needs_read)],
        response_class=Response,
        responses={
            200: {"content": {"text/plain": {}}},
            401: {"model": ErrorOut, "description": "the error shape"},
            403: {"model": ErrorOut, "description": "the error shape"},
        },
    )
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated spec plus the batch schemas ``POST /v1/events`` refers to (it
    reads its body itself, to take gzip and enforce size limits)."""
    if app.openapi_schema is None:
        spec = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        spec.setdefault("components", {}).setdefault("schemas", {}).update(
            batch_schemas()
        )
        app.openapi_schema = spec
    return app.openapi_schema


def _warn_without_admin(config: EngineConfig) -> None:
    admins = [t for t in config.access.api_tokens if t.role is Role.ADMIN]
    if config.access.enrollment and not admins:
        log.warning(
            "engine.access.no_admin_flag enrollment=on: no admin token was given, so "
            "only one stored with `spendtap db create-token NAME admin` can issue "
            "device codes (or pass --api-token NAME:admin:TOKEN)"
        )


def _lifespan(
    state: EngineState,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = None
        if state.config.retain_events is not None:
            task = asyncio.create_task(_retention_loop(state))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
            state.db.dispose()
            log.info("engine.app.stopped")

    return lifespan


def _prepare_partitions(db: Engine) -> None:
    """Create this month's and next month's partitions up front (PostgreSQL)."""
    this = Month.of_ms(epoch_ms(datetime.now(UTC)))
    partition_cache(db).ensure(db, {this, this.next()})


async def _retention_loop(state: EngineState) -> None:
    keep = state.config.retain_events
    assert keep is not None
    while True:
        try:
            result = await run_in_threadpool(
                apply_retention, state.db, keep, datetime.now(UTC)
            )
            state.metrics.events_retired.inc(result.events_deleted)
        except SQLAlchemyError as exc:
            log.error("engine.retention.failed error=%s", exc)
        await asyncio.sleep(state.config.retention_interval_s)


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


def metrics(state: Annotated[EngineState, Depends(engine_state)]) -> Response:
    return Response(state.metrics.exposition(), media_type=CONTENT_TYPE)


def app_from_environment() -> FastAPI:
    """The app set up by environment variables (for uvicorn and other ASGI servers).

    ``$SPENDTAP_DB_URL`` (required), ``$SPENDTAP_INGEST_TOKEN``,
    ``$SPENDTAP_API_TOKENS`` (``NAME:ROLE:TOKEN`` separated by commas) and
    ``$SPENDTAP_ENROLLMENT=1``. The app cannot know where the server listens, so it
    never runs open: configure a token or enrollment.
    """
    db_url = os.environ.get(DB_URL_ENV)
    if not db_url:
        raise ConfigError(f"${DB_URL_ENV} is not set: set it to sqlite:///PATH")
    specs = [s for s in os.environ.get(API_TOKENS_ENV, "").split(",") if s.strip()]
    access = AccessPolicy(
        api_tokens=tuple(ApiToken.parse(s.strip()) for s in specs),
        enrollment=os.environ.get(ENROLLMENT_ENV, "") in {"1", "true", "yes"},
        loopback_only=False,
    )
    return create_app(
        db_url,
        ingest_token=os.environ.get(TOKEN_ENV),
        config=EngineConfig(access=access),
    )
