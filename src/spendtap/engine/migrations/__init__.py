"""Alembic migrations of the engine's database (``env.py`` and ``versions/``).

Run them with :func:`spendtap.engine.migrate.upgrade_database` or ``spendtap db
upgrade --db URL``; the engine also upgrades on start unless told not to.
"""
