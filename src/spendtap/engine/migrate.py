"""Bringing a database to the schema this code expects (Alembic, upgrade only).

:func:`upgrade_database` runs the missing migrations in one transaction. Replicas that
start together on one PostgreSQL take turns on an advisory lock, so the migrations
run once; on SQLite the write lock does the same. A database at a revision this code
does not know (written by a newer spendtap) is refused, never touched.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from spendtap.engine.database import WRITE_OPTION
from spendtap.errors import ConfigError

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

#: The newest revision in migrations/versions (a test checks they agree).
HEAD = "0002"
SCRIPT_LOCATION = "spendtap.engine:migrations"
MIGRATION_LOCK = 0x5350_5444_4D49_4752  # "SPTDMIGR"


def alembic_config(conn: Connection | None = None) -> Config:
    # Alembic is imported only when a migration runs (it is slow and chatty to load).
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if conn is not None:
        config.attributes["connection"] = conn
    return config


def current_revision(conn: Connection) -> str | None:
    """The revision the database is at; None for an empty (or pre-Alembic) one."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    value = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return None if value is None else str(value)


def upgrade_database(engine: Engine) -> tuple[str | None, str]:
    """Run the missing migrations; return (revision before, revision after)."""
    with engine.connect() as conn:
        before = current_revision(conn)
        conn.rollback()
        if before == HEAD:
            return before, HEAD
        postgres = engine.dialect.name == "postgresql"
        if postgres:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
            conn.commit()
        try:
            before = _upgrade(conn)
        finally:
            if postgres:
                conn.execute(
                    text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK}
                )
                conn.commit()
    if before != HEAD:
        log.info("engine.database.migrated from=%s to=%s", before, HEAD)
    return before, HEAD


def _upgrade(conn: Connection) -> str | None:
    from alembic import command
    from alembic.util.exc import CommandError

    conn.execution_options(**{WRITE_OPTION: True})
    with conn.begin():
        before = current_revision(conn)
        if before == HEAD:
            return before
        try:
            command.upgrade(alembic_config(conn), "head")
        except CommandError as exc:
            raise ConfigError(
                f"the database is at schema revision {before!r}, which this "
                f"spendtap does not know (its newest is {HEAD}): upgrade spendtap, "
                "or point --db at another database"
            ) from exc
    return before


def require_head(engine: Engine) -> None:
    """ConfigError unless the database is at HEAD (for engines told not to migrate)."""
    with engine.connect() as conn:
        revision = current_revision(conn)
    if revision != HEAD:
        raise ConfigError(
            f"the database is at schema revision {revision!r}, not {HEAD}: run "
            "`spendtap db upgrade --db URL` first, or start without --no-migrate"
        )
