"""Opening the engine's database: SQLite (embedded default) or PostgreSQL.

SQLite runs in WAL mode with a busy timeout, and every write transaction starts with
``BEGIN IMMEDIATE`` so that concurrent writers queue on the lock instead of failing
when a read lock would have to be upgraded. Reads start deferred and never wait.

PostgreSQL is reached through psycopg 3 (``postgresql://`` means
``postgresql+psycopg://``). Every transaction that stores events first takes
:data:`INGEST_LOCK` (:func:`lock_for_ingest`), so replicas on one database store
batches one after another, exactly as SQLite's write lock makes them: the event
sequence then follows commit order and the de-duplication checks see every earlier
batch. The schema is not created here: see :mod:`spendtap.engine.migrate`.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from spendtap.errors import ConfigError

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 15.0
#: Execution option that makes a SQLite transaction start with BEGIN IMMEDIATE.
WRITE_OPTION = "spendtap_write"
#: pg_advisory_xact_lock key held by every transaction that stores events.
INGEST_LOCK = 0x5350_5444_494E_4753  # "SPTDINGS"
WORK_MEM = "32MB"
_URL_HINT = "use sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE"
_POSTGRES_DRIVERS = {"postgresql", "postgres", "postgresql+psycopg"}


def open_database(db_url: str) -> Engine:
    """An Engine for ``db_url``; ConfigError for a URL it cannot use."""
    try:
        url = make_url(db_url)
    except ArgumentError as exc:
        raise ConfigError(f"database URL {db_url!r} is not a URL: {_URL_HINT}") from exc
    if url.drivername == "sqlite":
        engine = _open_sqlite(url)
    elif url.drivername in _POSTGRES_DRIVERS:
        engine = _open_postgres(url)
    else:
        raise ConfigError(
            f"database URL scheme {url.drivername!r} is not supported: {_URL_HINT}"
        )
    log.info("engine.database.opened backend=%s", engine.dialect.name)
    return engine


def safe_url(db_url: str) -> str:
    """``db_url`` with any password hidden, for logs and messages."""
    try:
        return make_url(db_url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<not a URL>"


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that holds the write lock from its start (SQLite) until commit."""
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            yield conn


def lock_for_ingest(conn: Connection) -> None:
    """Queue behind every other transaction storing events (PostgreSQL).

    On SQLite the transaction already holds the database's write lock.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({INGEST_LOCK})")


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


def _open_postgres(url: URL) -> Engine:
    try:
        return create_engine(
            url.set(drivername="postgresql+psycopg"),
            pool_pre_ping=True,
            pool_size=8,
            max_overflow=8,
            connect_args={
                "application_name": "spendtap-engine",
                # Reports group tens of thousands of rollup rows: keep the hash
                # aggregation in memory rather than sorting on disk.
                "options": f"-c work_mem={WORK_MEM}",
            },
        )
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"the PostgreSQL driver is not installed ({exc.name}): install "
            "psycopg[binary] (pip install 'psycopg[binary]') or use sqlite:///PATH"
        ) from exc


def _on_sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # The driver must not open transactions itself: _on_sqlite_begin does.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        _use_wal(cursor)
    finally:
        cursor.close()


def _use_wal(cursor: sqlite3.Cursor) -> None:
    """Put the file in WAL mode, which it keeps once set.

    Connections switching a new file at the same moment (replicas starting
    together) can deadlock on it, and SQLite then answers "locked" at once rather
    than waiting: try again until the busy timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _on_sqlite_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get(WRITE_OPTION)
    mode = "IMMEDIATE" if write else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")
