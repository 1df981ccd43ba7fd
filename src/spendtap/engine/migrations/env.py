"""Alembic's entry point: run the migrations on the connection the caller passed.

The engine never runs Alembic from an ini file: :mod:`spendtap.engine.migrate`
builds the configuration and hands over an open connection in
``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "the engine's migrations run on a connection given by "
        "spendtap.engine.migrate; run `spendtap db upgrade --db URL`"
    )
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
