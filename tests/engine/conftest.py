"""Fixtures for the engine tests: each store (SQLite, PostgreSQL), a client, events.

Every test that takes ``db_url`` (or ``client``) runs twice: on a SQLite file and on
the PostgreSQL server at 127.0.0.1:5432. The PostgreSQL run creates one database for
the session (dropped at the end) and empties its tables before each test. If the
server is down the PostgreSQL runs fail and say how to start it.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from spendtap.engine.app import create_app
from spendtap.engine.database import open_database
from spendtap.engine.migrate import upgrade_database
from spendtap.engine.tables import metadata

EventFactory = Callable[..., dict[str, Any]]
QueryDb = Callable[[str], list[tuple[Any, ...]]]
QueryDicts = Callable[[str], list[dict[str, Any]]]

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_MAINTENANCE_DB = "test"
PG_USERS = ("postgres", "root")
STORES = ("sqlite", "postgresql")


def pg_url(user: str, database: str) -> str:
    return f"postgresql://{user}@{PG_HOST}:{PG_PORT}/{database}"


def _pg_user() -> str:
    """The first of PG_USERS the local server lets in, else a failure with the fix."""
    errors = []
    for user in PG_USERS:
        try:
            with psycopg.connect(pg_url(user, PG_MAINTENANCE_DB), connect_timeout=3):
                return user
        except psycopg.OperationalError as exc:
            errors.append(f"{user}: {str(exc).strip().splitlines()[0]}")
    pytest.fail(
        f"the PostgreSQL tests need the server at {PG_HOST}:{PG_PORT} (database "
        f"{PG_MAINTENANCE_DB!r}, trust auth) and it did not answer "
        f"({'; '.join(errors)}). Run scripts/setup, which starts it, then run the "
        "tests again.",
        pytrace=False,
    )


def _locale_clause(conn: psycopg.Connection[Any]) -> str:
    """A database sorting text as American English does (as most production
    servers do), where the server has that collation, rather than the byte order
    a test server often defaults to: what depends on the order must say so."""
    found = conn.execute(
        "SELECT 1 FROM pg_collation WHERE collname = 'en-US-x-icu'"
    ).fetchone()
    if found is None:
        return ""
    return "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Callable[[], str]]:
    """Creates throwaway databases on the local server; drops them all at the end."""
    user = _pg_user()
    created: list[str] = []

    def create() -> str:
        name = f"spendtap_test_{os.getpid()}_{secrets.token_hex(4)}"
        with psycopg.connect(pg_url(user, PG_MAINTENANCE_DB), autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}" {_locale_clause(c)}')
        created.append(name)
        return pg_url(user, name)

    yield create
    with psycopg.connect(pg_url(user, PG_MAINTENANCE_DB), autocommit=True) as c:
        for name in created:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_session_url(pg_server: Callable[[], str]) -> str:
    """One database at the schema head, shared by the session's PostgreSQL tests."""
    url = pg_server()
    engine = open_database(url)
    upgrade_database(engine)
    engine.dispose()
    return url


def empty_pg_tables(url: str) -> None:
    """Delete every row (DELETE is faster than TRUNCATE on tables this small)."""
    with psycopg.connect(url) as c:
        for table in metadata.tables:
            c.execute(f'DELETE FROM "{table}"')
        c.execute("INSERT INTO engine_counters (name, value) VALUES ('event_seq', 0)")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the schema head; each test copies it (faster than migrating)."""
    path = tmp_path_factory.mktemp("template") / "engine.sqlite3"
    engine = open_database(f"sqlite:///{path}")
    upgrade_database(engine)
    engine.dispose()
    return path


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "engine-data" / "engine.sqlite3"


@pytest.fixture
def db_url(store: str, sqlite_path: Path, request: pytest.FixtureRequest) -> str:
    if store == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, sqlite_path)
        return f"sqlite:///{sqlite_path}"
    url: str = request.getfixturevalue("pg_session_url")
    empty_pg_tables(url)
    return url


@pytest.fixture
def fresh_db_url(store: str, sqlite_path: Path, request: pytest.FixtureRequest) -> str:
    """An empty database (no tables at all) on the store under test."""
    if store == "sqlite":
        return f"sqlite:///{sqlite_path}"
    create: Callable[[], str] = request.getfixturevalue("pg_server")
    return create()


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(db_url)) as test_client:
        yield test_client


def connect_raw(db_url: str) -> Any:
    """A plain DB-API connection to ``db_url`` (not the engine's code)."""
    if db_url.startswith("sqlite:///"):
        return sqlite3.connect(db_url.removeprefix("sqlite:///"))
    return psycopg.connect(db_url, autocommit=True)


@pytest.fixture
def query_db(db_url: str) -> QueryDb:
    """Run SQL on the engine's database with the plain driver."""

    def query(sql: str) -> list[tuple[Any, ...]]:
        conn = connect_raw(db_url)
        try:
            return [tuple(row) for row in conn.execute(sql).fetchall()]
        finally:
            conn.close()

    return query


@pytest.fixture
def query_dicts(db_url: str) -> QueryDicts:
    """Like query_db, each row as a dict by column name."""

    def query(sql: str) -> list[dict[str, Any]]:
        conn = connect_raw(db_url)
        try:
            cursor = conn.execute(sql)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        finally:
            conn.close()

    return query


@pytest.fixture
def make_event() -> EventFactory:
    """A valid usage event as JSON; keyword arguments replace fields."""
    numbers = itertools.count(1)

    def make(**fields: Any) -> dict[str, Any]:
        number = next(numbers)
        event: dict[str, Any] = {
            "event_id": f"evt-{number:05d}",
            "capture_source": "proxy",
            "provider": "anthropic",
            "api": "messages",
            "model_requested": "claude-haiku-4-5",
            "model": "claude-haiku-4-5-20251001",
            "region": None,
            "streaming": True,
            "status": "ok",
            "http_status": 200,
            "error_type": None,
            "input_tokens": 100,
            "cache_read_tokens": 2000,
            "cache_write_5m_tokens": 0,
            "cache_write_1h_tokens": None,
            "output_tokens": 50,
            "reasoning_tokens": None,
            "web_search_requests": None,
            "usage_source": "provider",
            "cost_usd": 0.0011,
            "cost_status": "priced",
            "price_ref": "genai-prices 0.2.3",
            "started_at": "2025-06-01T10:15:00.000Z",
            "ended_at": "2025-06-01T10:15:02.500Z",
            "ttft_ms": 300,
            "duration_ms": 2500,
            "request_id": f"req_{number:05d}",
            "response_id": f"msg_{number:05d}",
            "user": "ana@example.com",
            "os_user": "ana",
            "device_id": "dev-1",
            "hostname": "ana-laptop",
            "agent": "claude-code",
            "agent_version": "2.1.3",
            "process": "claude",
            "pid": 4242,
            "repo": "github.com/acme/payments",
            "branch": "PAY-12-refunds",
            "commit": "0123abcd",
            "ticket": "PAY-12",
            "session_id": "sess-1",
            "auth_kind": "api_key",
            "credential_hint": "h:1a2b3c",
        }
        event.update(fields)
        return event

    return make
