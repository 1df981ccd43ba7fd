"""Opening the engine's database: SQLite (embedded default) or PostgreSQL.

SQLite runs in WAL mode with a busy timeout, and every write transaction starts with
``BEGIN IMMEDIATE`` so that concurrent writers queue on the lock instead of failing
when a read lock would have to be upgraded. Reads start deferred and never wait.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from spendtap.engine.tables import metadata
from spendtap.errors import ConfigError

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 15.0
_WRITE = "spendtap_write"
_URL_HINT = "use sqlite:///PATH (or postgresql://USER@HOST/DB)"


def open_database(db_url: str) -> Engine:
    """An Engine for ``db_url`` with the engine's tables created if missing."""
    try:
        url = make_url(db_url)
    except ArgumentError as exc:
        raise ConfigError(f"database URL {db_url!r} is not a URL: {_URL_HINT}") from exc
    backend = url.get_backend_name()
    if backend == "sqlite":
        engine = _open_sqlite(url)
    elif backend == "postgresql":
        # TODO(#6): test against a real PostgreSQL and add a migration path.
        engine = _open_other(url)
    else:
        raise ConfigError(
            f"database URL scheme {backend!r} is not supported: {_URL_HINT}"
        )
    with write_transaction(engine) as conn:
        metadata.create_all(conn)
    log.info("engine.database.opened backend=%s", backend)
    return engine


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that holds the write lock from its start (SQLite) until commit."""
    with engine.connect() as conn:
        conn.execution_options(**{_WRITE: True})
        with conn.begin():
            yield conn


def _open_sqlite(url: URL) -> Engine:
    path = url.database
    if not path or path == ":memory:" or url.query.get("mode") == "memory":
        raise ConfigError(
            f"database URL {url.render_as_string()!r} is in memory: the engine needs "
            "a file, such as sqlite:///var/spendtap/engine.sqlite3"
        )
    Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
        pool_size=8,
        max_overflow=8,
    )
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _open_other(url: URL) -> Engine:
    try:
        return create_engine(url, pool_pre_ping=True)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"no database driver for {url.drivername!r} is installed ({exc.name}); "
            "install one (psycopg) or use sqlite:///PATH"
        ) from exc


def _on_sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # The driver must not open transactions itself: _on_sqlite_begin does.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    finally:
        cursor.close()


def _on_sqlite_begin(conn: Connection) -> None:
    mode = "IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")
