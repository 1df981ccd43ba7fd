"""The shipper's state file, so ``spendtap status`` can tell how delivery is going.

``<data_dir>/shipper-state.json``, replaced atomically (write, fsync, rename) by the
running shipper when something changes (at most about once a second while batches
flow, at once when a post fails), and once more when it stops:

    {"pid": 4242, "engine_url": "https://spendtap.example.com",
     "updated_at": "2026-01-05T09:00:03.870Z",
     "last_attempt_at": "...", "last_success_at": "...",
     "last_error": null, "last_error_at": null, "consecutive_failures": 0,
     "shipped_events": 1200, "batches": 14, "failures": 2, "dead_events": 0,
     "drop_records_shipped": 1, "running": true}

It holds no token and no event content.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

STATE_FILE = "shipper-state.json"


@dataclass(frozen=True, slots=True)
class ShipperState:
    pid: int
    engine_url: str
    updated_at: str
    running: bool
    last_attempt_at: str | None = None
    last_success_at: str | None = None
    last_error: str | None = None
    last_error_at: str | None = None
    consecutive_failures: int = 0
    shipped_events: int = 0
    batches: int = 0
    failures: int = 0
    dead_events: int = 0
    drop_records_shipped: int = 0

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: object) -> ShipperState:
        """The state in a decoded file; TypeError when it is not one."""
        if not isinstance(data, dict):
            raise TypeError("the shipper state must be a JSON object")
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def write_state(path: Path, state: ShipperState) -> bool:
    """Replace the state file atomically; False (logged) when the disk refused."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    data = json.dumps(state.to_json(), separators=(",", ":")).encode()
    try:
        fd = os.open(temp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except OSError as exc:
        log.warning("shipper.state_unwritten path=%s error=%s", path, exc.strerror)
        temp.unlink(missing_ok=True)
        return False
    return True


def read_state(path: Path) -> ShipperState | None:
    """The last state written, or None when there is none (or it is unreadable)."""
    try:
        return ShipperState.from_json(json.loads(path.read_bytes()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        log.warning("shipper.state_unreadable path=%s error=%s", path, exc)
        return None
