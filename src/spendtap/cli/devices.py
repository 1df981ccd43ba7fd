"""`spendtap enroll` and `spendtap devices issue-code | revoke | list`.

    spendtap devices issue-code --engine https://spend.acme.example --admin-token T
    spendtap enroll --engine https://spend.acme.example --code CODE [--ca-bundle FILE]
    spendtap devices list --engine ... --admin-token T
    spendtap devices revoke DEVICE_ID --engine ... --admin-token T

The admin token may come from ``$SPENDTAP_ADMIN_TOKEN`` instead of the command line
(where shell history would keep it). Tokens are never printed; an issued code is,
since handing it to the laptop's owner is the point.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from spendtap.cli.paths import default_data_dir
from spendtap.errors import ConfigError

# The engine client (httpx) is imported by the commands that talk to an engine, so
# that every other command starts without it.

ADMIN_TOKEN_ENV = "SPENDTAP_ADMIN_TOKEN"
LIST_COLUMNS = ("device_id", "hostname", "os_user", "enrolled_at", "revoked_at")


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``enroll`` and ``devices`` to the command line."""
    p = sub.add_parser(
        "enroll", help="trade a one-time code for this device's engine token"
    )
    _engine_options(p)
    p.add_argument("--code", required=True, help="the code an admin issued")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where the token is kept (default: the collector's data dir)",
    )
    p.set_defaults(run=run_enroll)

    devices = sub.add_parser("devices", help="enrollment codes and devices (admin)")
    actions = devices.add_subparsers(dest="action", required=True, metavar="ACTION")

    p = actions.add_parser("issue-code", help="issue a one-time enrollment code")
    _admin_options(p)
    p.add_argument("--note", help="who or what the code is for")
    p.add_argument(
        "--ttl", type=int, metavar="SECONDS", help="how long the code stays valid"
    )
    p.set_defaults(run=run_issue_code)

    p = actions.add_parser("revoke", help="revoke a device's token")
    p.add_argument("device_id", metavar="DEVICE_ID")
    _admin_options(p)
    p.set_defaults(run=run_revoke)

    p = actions.add_parser("list", help="the engine's devices")
    _admin_options(p)
    p.set_defaults(run=run_list)


def _engine_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", required=True, metavar="URL", help="the engine's URL")
    p.add_argument(
        "--ca-bundle",
        type=Path,
        metavar="FILE",
        help="PEM file of the CA that signed the engine's certificate",
    )


def _admin_options(p: argparse.ArgumentParser) -> None:
    _engine_options(p)
    p.add_argument(
        "--admin-token",
        metavar="TOKEN",
        help=f"an admin API token (default: ${ADMIN_TOKEN_ENV})",
    )
    p.add_argument("--json", action="store_true", help="print JSON")


def run_enroll(args: argparse.Namespace) -> int:
    from spendtap.context.device import load_device
    from spendtap.delivery.credentials import keep_ca_bundle, save_credentials
    from spendtap.delivery.endpoint import EngineEndpoint
    from spendtap.delivery.enrollment import enroll

    data_dir: Path = args.data_dir or default_data_dir()
    endpoint = EngineEndpoint.parse(args.engine, args.ca_bundle)
    device = load_device(data_dir)
    credentials = enroll(
        endpoint,
        args.code,
        hostname=device.hostname or "",
        os_user=device.os_user or "",
    )
    kept_ca = keep_ca_bundle(data_dir, args.ca_bundle)
    path = save_credentials(
        data_dir, dataclasses.replace(credentials, ca_bundle=kept_ca)
    )
    print(f"enrolled as device {credentials.device_id} with {endpoint.base_url}")
    print(f"device token kept in {path} (readable by this user only)")
    print("`spendtap collect` now ships there with it")
    return 0


def run_issue_code(args: argparse.Namespace) -> int:
    from spendtap.delivery.endpoint import EngineEndpoint
    from spendtap.delivery.enrollment import issue_code

    issued = issue_code(
        EngineEndpoint.parse(args.engine, args.ca_bundle),
        _admin_token(args),
        note=args.note,
        ttl_seconds=args.ttl,
    )
    if args.json:
        print(json.dumps({"code": issued.code, "expires_at": issued.expires_at}))
    else:
        print(f"enrollment code: {issued.code}")
        print(f"expires at:      {issued.expires_at or 'never'}")
        print(f"on the laptop:   spendtap enroll --engine {args.engine} --code CODE")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    from spendtap.delivery.endpoint import EngineEndpoint
    from spendtap.delivery.enrollment import revoke_device

    endpoint = EngineEndpoint.parse(args.engine, args.ca_bundle)
    revoke_device(endpoint, _admin_token(args), args.device_id)
    if args.json:
        print(json.dumps({"device_id": args.device_id, "revoked": True}))
    else:
        print(f"device {args.device_id} revoked; its token no longer ingests")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from spendtap.delivery.endpoint import EngineEndpoint
    from spendtap.delivery.enrollment import list_devices

    endpoint = EngineEndpoint.parse(args.engine, args.ca_bundle)
    devices = list_devices(endpoint, _admin_token(args))
    if args.json:
        print(json.dumps({"devices": devices}, indent=2))
    else:
        print(render_devices(devices))
    return 0


def render_devices(devices: list[dict[str, Any]]) -> str:
    """A plain table of the columns spendtap knows, in a fixed order."""
    if not devices:
        return "no devices enrolled"
    columns = [c for c in LIST_COLUMNS if any(c in d for d in devices)]
    rows = [[_cell(d.get(c)) for c in columns] for d in devices]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    for row in rows:
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
    return "\n".join(line.rstrip() for line in lines)


def _cell(value: object) -> str:
    return "-" if value is None else str(value)


def _admin_token(args: argparse.Namespace) -> str:
    token: str | None = args.admin_token or os.environ.get(ADMIN_TOKEN_ENV)
    if not token:
        raise ConfigError(
            f"this needs an admin API token: give --admin-token TOKEN or set "
            f"${ADMIN_TOKEN_ENV}"
        )
    return token
