"""`spendtap db`: the engine's database, outside a running engine.

    spendtap db upgrade --db URL                  run the missing schema migrations
    spendtap db current --db URL                  print the schema revision
    spendtap db prune --db URL --retain-events 90d   apply the retention policy once
    spendtap db create-token NAME ROLE --db URL   store an API token, print it once

``--db`` takes ``sqlite:///PATH`` or ``postgresql://USER@HOST:PORT/DATABASE``; the
default is the embedded engine's SQLite file in the data dir. ``spendtap serve``
upgrades on start too, unless started with ``--no-migrate``.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from spendtap.cli.paths import default_data_dir, default_db_url
from spendtap.errors import ConfigError


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``db`` and its sub-commands to the command line."""
    p = sub.add_parser(
        "db", help="the engine's database: migrations, retention, tokens"
    )
    commands = p.add_subparsers(dest="db_command", required=True, metavar="ACTION")

    q = commands.add_parser("upgrade", help="bring the schema to this version's head")
    _add_db(q)
    q.set_defaults(run=run_upgrade)

    q = commands.add_parser("current", help="print the schema revision")
    _add_db(q)
    q.set_defaults(run=run_current)

    q = commands.add_parser("prune", help="remove raw events past the retention")
    _add_db(q)
    q.add_argument(
        "--retain-events",
        required=True,
        metavar="SPAN",
        help="keep raw events that started within SPAN (90d, 12w); rollups are kept",
    )
    q.set_defaults(run=run_prune)

    q = commands.add_parser("create-token", help="store an API token and print it")
    _add_db(q)
    q.add_argument("name", help="who or what uses the token (ops, grafana, ...)")
    q.add_argument("role", choices=["viewer", "admin"])
    q.set_defaults(run=run_create_token)


def _add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        metavar="URL",
        help="sqlite:///PATH or postgresql://USER@HOST:PORT/DB (default: the SQLite "
        "file in the data dir)",
    )
    p.add_argument("--data-dir", type=Path, default=None, help=argparse.SUPPRESS)


def _db_url(args: argparse.Namespace) -> str:
    if args.db:
        return str(args.db)
    return default_db_url(args.data_dir or default_data_dir())


def run_upgrade(args: argparse.Namespace) -> int:
    from spendtap.engine.database import open_database, safe_url
    from spendtap.engine.migrate import upgrade_database

    engine = open_database(_db_url(args))
    try:
        before, after = upgrade_database(engine)
    finally:
        engine.dispose()
    where = safe_url(_db_url(args))
    if before == after:
        print(f"{where}: already at schema revision {after}")
    else:
        print(f"{where}: upgraded from revision {before or 'none'} to {after}")
    return 0


def run_current(args: argparse.Namespace) -> int:
    from spendtap.engine.database import open_database
    from spendtap.engine.migrate import HEAD, current_revision

    engine = open_database(_db_url(args))
    try:
        with engine.connect() as conn:
            revision = current_revision(conn)
    finally:
        engine.dispose()
    state = "head" if revision == HEAD else f"head is {HEAD}: run spendtap db upgrade"
    print(f"{revision or 'none'} ({state})")
    return 0


def run_prune(args: argparse.Namespace) -> int:
    from spendtap.engine.database import open_database
    from spendtap.engine.migrate import require_head
    from spendtap.engine.retention import apply_retention
    from spendtap.engine.timestamps import format_ms, parse_duration

    try:
        keep = parse_duration(args.retain_events)
    except ValueError as exc:
        raise ConfigError(f"--retain-events: {exc}") from exc
    engine = open_database(_db_url(args))
    try:
        require_head(engine)
        result = apply_retention(engine, keep, datetime.now(UTC))
    finally:
        engine.dispose()
    print(
        f"removed {result.events_deleted} raw events and "
        f"{len(result.partitions_dropped)} partitions started before "
        f"{format_ms(result.cutoff_ms)}; rollups are unchanged"
    )
    return 0


def run_create_token(args: argparse.Namespace) -> int:
    from spendtap.engine.credentials import Role, create_api_token
    from spendtap.engine.database import open_database
    from spendtap.engine.migrate import require_head

    engine = open_database(_db_url(args))
    try:
        require_head(engine)
        token = create_api_token(engine, args.name, Role(args.role), datetime.now(UTC))
    finally:
        engine.dispose()
    print(token)
    return 0
