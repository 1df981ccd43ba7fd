"""`spendtap`: the command-line entry point and its sub-commands."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from spendtap import __version__
from spendtap.cli import commands
from spendtap.cli.logs import configure_logging
from spendtap.cli.paths import DEFAULT_ENGINE_PORT, DEFAULT_PROXY_PORT
from spendtap.errors import SpendtapError

log = logging.getLogger(__name__)

#: Modules that add their own sub-commands through ``register(subparsers)``.
COMMAND_MODULES = (
    "spendtap.cli.prices",
    "spendtap.cli.imports",
    "spendtap.cli.devices",
    "spendtap.cli.status",
    "spendtap.cli.db",
)


def _add_collector_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--allow-remote-clients",
        action="store_true",
        help="let --listen be a non-loopback address (other machines could use the proxy)",
    )
    p.add_argument(
        "--upstream",
        action="append",
        default=[],
        metavar="HOST=ADDR:PORT",
        help="route a provider host to a loopback simulator (repeatable); with any "
        "mapping, every other non-loopback upstream is refused",
    )
    p.add_argument(
        "--upstream-ca",
        type=Path,
        metavar="FILE",
        help="CA bundle that upstream certificates are verified against",
    )
    p.add_argument(
        "--user", help="who this laptop's calls belong to (overrides detection)"
    )
    p.add_argument(
        "--metrics-listen",
        metavar="HOST:PORT",
        help="serve Prometheus metrics of the collector at http://HOST:PORT/metrics",
    )
    p.add_argument(
        "--otlp-listen",
        metavar="HOST:PORT",
        help="receive agents' OpenTelemetry (OTLP/HTTP, protobuf or JSON) here; "
        "point OTEL_EXPORTER_OTLP_ENDPOINT at http://HOST:PORT",
    )
    p.add_argument(
        "--ticket-pattern",
        action="append",
        dest="ticket_patterns",
        metavar="REGEX",
        help="regex that finds a ticket in a branch name (repeatable; replaces defaults)",
    )


def _add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where state is kept (default: the platform's user data dir, or "
        "$SPENDTAP_DATA_DIR)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spendtap",
        description="Capture every AI call on this laptop and report what it cost.",
    )
    parser.add_argument(
        "--version", action="version", version=f"spendtap {__version__}"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("collect", help="run the collector (proxy, spool, shipper)")
    p.add_argument(
        "--listen", default=f"127.0.0.1:{DEFAULT_PROXY_PORT}", metavar="HOST:PORT"
    )
    p.add_argument(
        "--engine",
        metavar="URL",
        help="engine to ship usage events to (default: the one enrolled with)",
    )
    p.add_argument(
        "--token", help="bearer token for the engine (default: the device token)"
    )
    p.add_argument(
        "--ca-bundle",
        type=Path,
        metavar="FILE",
        help="PEM file of the CA that signed the engine's certificate",
    )
    _add_data_dir(p)
    _add_collector_options(p)
    p.set_defaults(run=commands.collect)

    p = sub.add_parser("serve", help="run the engine (ingest, rollups, API)")
    p.add_argument(
        "--listen", default=f"127.0.0.1:{DEFAULT_ENGINE_PORT}", metavar="HOST:PORT"
    )
    p.add_argument(
        "--db",
        metavar="URL",
        help="sqlite:///PATH or postgresql://USER@HOST:PORT/DB (default: a SQLite "
        "file in the data dir); replicas may share one",
    )
    p.add_argument(
        "--token", help="a shared bearer token that may ingest and read (legacy)"
    )
    p.add_argument(
        "--api-token",
        action="append",
        default=[],
        dest="api_tokens",
        metavar="NAME:ROLE:TOKEN",
        help="an API token, ROLE viewer or admin (repeatable; also "
        "$SPENDTAP_API_TOKENS, comma-separated)",
    )
    p.add_argument(
        "--enrollment",
        action="store_true",
        help="ingest only from enrolled devices (required to listen beyond loopback)",
    )
    p.add_argument(
        "--retain-events",
        metavar="SPAN",
        help="remove raw events older than SPAN (90d, 12w); rollups are kept",
    )
    p.add_argument(
        "--no-migrate",
        action="store_true",
        help="refuse a database not at the schema head instead of upgrading it",
    )
    _add_data_dir(p)
    p.set_defaults(run=commands.serve)

    p = sub.add_parser(
        "up", help="collector and embedded engine together, for one laptop"
    )
    p.add_argument(
        "--listen", default=f"127.0.0.1:{DEFAULT_PROXY_PORT}", metavar="HOST:PORT"
    )
    p.add_argument(
        "--engine-listen",
        default=f"127.0.0.1:{DEFAULT_ENGINE_PORT}",
        metavar="HOST:PORT",
    )
    _add_data_dir(p)
    _add_collector_options(p)
    p.set_defaults(run=commands.up)

    p = sub.add_parser(
        "demo", help="the whole product end to end on loopback, then a report"
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where the demo keeps its state (default: a new temporary folder)",
    )
    p.add_argument("--no-claude", action="store_true", help="skip the Claude Code CLI")
    p.set_defaults(run=commands.demo)

    p = sub.add_parser("replay", help="usage events from a HAR 1.2 file")
    p.add_argument("har", type=Path, metavar="FILE.har")
    p.add_argument(
        "--json", action="store_true", help="JSON Lines (the default output)"
    )
    _add_data_dir(p)
    p.set_defaults(run=commands.replay)

    p = sub.add_parser("report", help="spend and tokens from the engine's rollups")
    p.add_argument(
        "--engine", default=f"http://127.0.0.1:{DEFAULT_ENGINE_PORT}", metavar="URL"
    )
    p.add_argument("--by", default="model,provider", help="comma-separated dimensions")
    p.add_argument("--since", default="7d", help="7d, 24h, 30m or an RFC 3339 time")
    p.add_argument("--token", help="bearer token for the engine")
    p.add_argument(
        "--json", action="store_true", help='print {"rows": [...], "totals": {...}}'
    )
    p.set_defaults(run=commands.report)

    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # The demo narrates on stdout; its parts' INFO lines would drown that out.
    quiet = args.command == "demo" and not args.verbose
    configure_logging(args.verbose, level=logging.WARNING if quiet else None)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except SpendtapError as exc:
        print(f"spendtap: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `spendtap replay x.har | head`: the reader left
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    raise SystemExit(main())
