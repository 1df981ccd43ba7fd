"""`spendtap import claude-code|codex|gemini [DIR ...]`: backfill from agent logs.

Events go to the collector's spool in the data dir (and to ``--engine`` when given),
or, with ``--json``, to stdout as JSON Lines. ``--follow`` then keeps reading new
lines and new files until interrupted.
"""

from __future__ import annotations

import argparse
import gc
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from spendtap.errors import ConfigError

#: Seconds a shipper may take to send what an import queued before giving up.
SHIP_TIMEOUT_S = 60.0
#: The formats of ``spendtap.agentlogs.formats`` (named here so that every other
#: command starts without importing them).
AGENTS = {
    "claude-code": "Claude Code transcripts (default ~/.claude/projects)",
    "codex": "Codex CLI rollouts (default $CODEX_HOME/sessions)",
    "gemini": "Gemini CLI chats (default ~/.gemini/tmp)",
}


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``spendtap import`` and its one sub-command per agent."""
    parser = sub.add_parser("import", help="backfill usage from agent logs")
    agents = parser.add_subparsers(dest="agent", required=True, metavar="AGENT")
    for name, help_text in AGENTS.items():
        p = agents.add_parser(name, help=help_text)
        p.add_argument(
            "dirs",
            nargs="*",
            type=Path,
            metavar="PATH",
            help="folders that hold the logs, or log files",
        )
        p.add_argument(
            "--json",
            action="store_true",
            help="print usage events as JSON Lines instead of spooling them",
        )
        p.add_argument(
            "--follow",
            action="store_true",
            help="after the backfill, keep reading new lines and files",
        )
        p.add_argument("--engine", metavar="URL", help="engine to ship usage events to")
        p.add_argument("--token", help="bearer token for the engine")
        p.add_argument(
            "--data-dir",
            type=Path,
            default=None,
            help="the collector's data dir (spool, device id); default as `collect`",
        )
        p.add_argument("--user", help="who these calls belong to (overrides detection)")
        p.add_argument(
            "--ticket-pattern",
            action="append",
            dest="ticket_patterns",
            metavar="REGEX",
            help="regex that finds a ticket in a branch name (repeatable)",
        )
        p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from spendtap.agentlogs.context import AgentHomes, LogContext
    from spendtap.agentlogs.events import EventFactory
    from spendtap.agentlogs.formats import FORMATS
    from spendtap.agentlogs.importer import LogImporter
    from spendtap.agentlogs.progress import ProgressBar
    from spendtap.agentlogs.stats import ImportStats
    from spendtap.cli.paths import default_data_dir

    if args.json and args.engine:
        raise ConfigError(
            "--json prints the events and ships nothing, so --engine would be "
            "ignored; drop --json to spool them and ship them to the engine"
        )
    spec = FORMATS[args.agent]
    homes = AgentHomes.from_environment()
    roots = _roots(args.dirs, spec.default_roots(homes))
    data_dir: Path = args.data_dir or default_data_dir()
    context = LogContext(
        data_dir, user=args.user, ticket_patterns=args.ticket_patterns, homes=homes
    )
    stats = ImportStats()
    importer = LogImporter(spec.make(stats, homes), roots)
    bar = ProgressBar(sys.stderr, spec.name)
    stop = _stop_on_signal() if args.follow else None
    if stop is None:
        gc.disable()  # a backfill makes no reference cycles; collecting costs a tenth
    unshipped = 0
    try:
        if args.json:
            added = _to_stdout(importer, EventFactory(context), bar, stop)
        else:
            added, unshipped = _to_spool(
                args, data_dir, importer, EventFactory(context), bar, stop
            )
    finally:
        gc.enable()
        bar.close()
    if not stats.files:
        if any(root.is_dir() for root in roots):  # else said when looking for them
            print(
                f"spendtap import {spec.name}: no log files found in "
                + ", ".join(str(root) for root in roots)
                + f"; give the folder that holds the {AGENTS[spec.name]}",
                file=sys.stderr,
            )
        return 1 if unshipped else 0
    outcome = f"{added:,} printed" if args.json else f"{added:,} new in the spool"
    print(
        f"spendtap import {spec.name}: {_counted(stats.calls, 'call')} from "
        f"{_counted(stats.files, 'file')}, {outcome} ({stats.summary()})",
        file=sys.stderr,
    )
    return 1 if unshipped else 0  # asked to ship, and some are still here


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count:,} {noun}s"


def _roots(given: list[Path], defaults: list[Path]) -> list[Path]:
    for path in given:
        try:
            usable = path.is_dir() or path.is_file()
        except OSError as exc:  # a folder on the way that may not be searched
            raise ConfigError(
                f"cannot look at {path}: {exc.strerror}; give a path this user can read"
            ) from exc
        if not usable:
            raise ConfigError(
                f"{path} is neither a folder nor a file; give the folder that holds "
                "the logs (for Claude Code, ~/.claude/projects) or one log file"
            )
    if given:
        return given
    found = [path for path in defaults if path.is_dir()]
    if not found:
        print(
            "spendtap import: no logs found in " + ", ".join(str(p) for p in defaults),
            file=sys.stderr,
        )
    return found or defaults


def _to_stdout(
    importer: Any, factory: Any, bar: Any, stop: threading.Event | None
) -> int:
    from spendtap.agentlogs.sinks import JsonLinesSink, run_import

    sink = JsonLinesSink(sys.stdout.buffer)
    run_import(importer, factory, sink, progress=bar, follow=stop)
    return sink.written


def _to_spool(
    args: argparse.Namespace,
    data_dir: Path,
    importer: Any,
    factory: Any,
    bar: Any,
    stop: threading.Event | None,
) -> tuple[int, int]:
    """(events new in the spool, events ``--engine`` was asked to take but did
    not)."""
    from spendtap.agentlogs.sinks import SpoolSink, run_import
    from spendtap.delivery.shipper import Shipper
    from spendtap.delivery.spool import Spool

    spool = Spool.in_dir(data_dir)
    shipper = Shipper(spool, args.engine, args.token) if args.engine else None
    try:
        sink = SpoolSink(spool)
        if shipper is not None and stop is not None:
            shipper.start()  # following: ship as calls come
        run_import(importer, factory, sink, progress=bar, follow=stop)
        error, refused = None, 0
        if shipper is not None:
            shipper.start()  # a backfill ships once it is spooled (no-op if running)
            shipper.stop(flush_timeout=SHIP_TIMEOUT_S)
            error, refused = shipper.stats().last_error, shipper.stats().dead
            shipper = None
        depth = _report_spool(spool, args.engine, data_dir, error)
        if refused:
            print(
                f"spendtap import: the engine refused {_counted(refused, 'event')}; "
                f"they are set aside in the spool's dead table in {data_dir} "
                f"(spendtap status counts them; last error: {error})",
                file=sys.stderr,
            )
        return sink.added, (depth + refused) if args.engine else 0
    finally:
        if shipper is not None:
            shipper.stop(flush_timeout=1.0)
        spool.close()


def _report_spool(
    spool: Any, engine: str | None, data_dir: Path, error: str | None
) -> int:
    """Says what is left in the spool, and returns how many events that is."""
    depth: int = spool.depth()
    if not depth:
        return 0
    if engine:
        why = f" (last error: {error})" if error else ""
        where = f"could not all be shipped to {engine}{why}; they wait"
    else:
        where = "are spooled"
    print(
        f"spendtap import: {depth} events {where} in {data_dir}; a running "
        "collector (spendtap up, or spendtap collect --engine URL) ships them",
        file=sys.stderr,
    )
    return depth


def _stop_on_signal() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop
