"""`spendtap status`: how delivery from this laptop is going, read from its files.

    $ spendtap status
    collector:     running (pid 4242)
    engine:        https://spend.acme.example (device dev_3f2a, enrolled)
    spool:         12 events (9.1 KiB) waiting; oldest spooled 2026-01-05T09:00:01Z (3m ago)
    last ship:     2026-01-05T09:03:12.004Z (2s ago)
    drops:         5 calls (queue_full 2, spool_max_age 3); 1 record not yet shipped
    dead letters:  0

Works while the collector runs (the spool is opened read-only). ``--json`` prints the
same as one object. Exit status 0, or 1 when there is no spool in the data dir.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spendtap.cli.paths import default_data_dir
from spendtap.collector.timefmt import rfc3339

# Reading the delivery state loads the engine client: only `status` pays for it.
if TYPE_CHECKING:
    from spendtap.delivery.health import DeliveryHealth


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``status`` to the command line."""
    p = sub.add_parser(
        "status", help="spool depth, last ship, drops and dead letters of a data dir"
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="the collector's data dir (default: the platform's user data dir)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run_status)


def run_status(args: argparse.Namespace) -> int:
    from spendtap.delivery.health import read_health

    data_dir: Path = args.data_dir or default_data_dir()
    health = read_health(data_dir)
    if args.json:
        print(json.dumps(health_json(health), indent=2))
    else:
        print(render_health(health, datetime.now(UTC)))
    return 0 if health.spool is not None else 1


def health_json(health: DeliveryHealth) -> dict[str, Any]:
    spool = health.spool
    shipper = health.shipper
    return {
        "data_dir": str(health.data_dir),
        "collector": {"running": health.collector.running, "pid": health.collector.pid},
        "spool": None
        if spool is None
        else {
            "depth": spool.depth,
            "bytes": spool.bytes,
            "oldest_unsent_at": _stamp(spool.oldest_created_at),
            "dead_letters": spool.dead,
        },
        "spool_error": health.spool_error,
        "drops": None
        if spool is None
        else {
            "total": sum(spool.dropped_by_reason.values()),
            "by_reason": dict(spool.dropped_by_reason),
            "unshipped_records": spool.unshipped_drop_records,
        },
        "shipper": None if shipper is None else shipper.to_json(),
        "enrollment": None
        if health.enrollment is None
        else {
            "engine_url": health.enrollment.engine_url,
            "device_id": health.enrollment.device_id,
            "enrolled_at": health.enrollment.enrolled_at,
        },
    }


def render_health(health: DeliveryHealth, now: datetime) -> str:
    lines = [
        ("data dir", str(health.data_dir)),
        ("collector", _collector_line(health)),
        ("engine", _engine_line(health)),
        ("spool", _spool_line(health, now)),
        ("last ship", _ship_line(health, now)),
    ]
    shipper = health.shipper
    if shipper is not None and shipper.consecutive_failures:
        lines.append(
            (
                "last error",
                f"{shipper.last_error} ({shipper.consecutive_failures} failed posts "
                f"in a row, last {_ago(shipper.last_error_at, now)})",
            )
        )
    if health.spool is not None:
        lines.append(("drops", _drops_line(health)))
        lines.append(("dead letters", str(health.spool.dead)))
    return "\n".join(f"{name + ':':<14} {value}" for name, value in lines)


def _collector_line(health: DeliveryHealth) -> str:
    holder = health.collector
    if holder.running:
        return f"running (pid {holder.pid})" if holder.pid else "running"
    return "not running"


def _engine_line(health: DeliveryHealth) -> str:
    enrolled = health.enrollment
    shipper = health.shipper
    url = shipper.engine_url if shipper else (enrolled.engine_url if enrolled else None)
    if url is None:
        return "none (no shipping recorded, not enrolled)"
    if enrolled is not None and enrolled.engine_url == url:
        return f"{url} (device {enrolled.device_id}, enrolled)"
    return url


def _spool_line(health: DeliveryHealth, now: datetime) -> str:
    spool = health.spool
    if spool is None:
        return f"unreadable: {health.spool_error}"
    if not spool.depth:
        return "empty (everything spooled has been shipped)"
    oldest = spool.oldest_created_at
    return (
        f"{spool.depth} events ({_size(spool.bytes)}) waiting; oldest spooled "
        f"{_stamp(oldest)} ({_ago(_stamp(oldest), now)})"
    )


def _ship_line(health: DeliveryHealth, now: datetime) -> str:
    shipper = health.shipper
    if shipper is None or shipper.last_success_at is None:
        return "never"
    return f"{shipper.last_success_at} ({_ago(shipper.last_success_at, now)})"


def _drops_line(health: DeliveryHealth) -> str:
    assert health.spool is not None
    by_reason = health.spool.dropped_by_reason
    total = sum(by_reason.values())
    if not total:
        return "none"
    parts = ", ".join(f"{r} {n}" for r, n in sorted(by_reason.items()))
    line = f"{total} calls ({parts})"
    unshipped = health.spool.unshipped_drop_records
    if unshipped:
        line += f"; {unshipped} record{'s' if unshipped > 1 else ''} not yet shipped"
    return line


def _stamp(moment: datetime | None) -> str | None:
    return rfc3339(moment) if moment is not None else None


def _ago(stamp: str | None, now: datetime) -> str:
    if not stamp:
        return "never"
    try:
        then = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return "at an unreadable time"
    seconds = max(int((now - then).total_seconds()), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
