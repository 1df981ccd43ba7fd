"""The simulator's ledger: one JSON line per API response it gave.

Each line holds the usage exactly as the simulator put it on the wire (provider
shape; for a stream, the usage a client holds after the last event it was sent),
plus where, when and which ids. Prompt and answer text are never written, nor
headers, nor query parameters other than ``beta`` and ``api-version``.

    {"ts": "2025-01-01T12:00:00.123Z", "provider": "anthropic", "api": "messages",
     "host": "api.anthropic.com", "method": "POST", "path": "/v1/messages?beta=true",
     "model": "claude-haiku-4-5", "streaming": true, "scenarios": [],
     "status": "ok", "http_status": 200, "error_type": null,
     "request_id": "req_sim_3", "response_id": "msg_sim_3", "usage": {...}}

A line is written before the response's last byte is sent, so a client that has
seen the end of its response can read its line.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spendtap.errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    ts: str
    provider: str
    api: str
    host: str
    method: str
    path: str
    model: str | None
    streaming: bool
    scenarios: tuple[str, ...]
    status: str  # ok, error or truncated, as in the usage event
    http_status: int
    error_type: str | None
    request_id: str
    response_id: str | None
    usage: dict[str, Any] | None  # raw wire JSON

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["scenarios"] = list(self.scenarios)
        return out

    @classmethod
    def from_json(cls, data: object) -> LedgerEntry:
        """An entry from one decoded ledger line; TypeError when it is not one."""
        if not isinstance(data, dict):
            raise TypeError("a ledger line must be a JSON object")
        values: dict[str, Any] = {f.name: data[f.name] for f in dataclasses.fields(cls)}
        values["scenarios"] = tuple(values["scenarios"])
        return cls(**values)


def utc_timestamp() -> str:
    """Now as RFC 3339 UTC with milliseconds."""
    now = datetime.datetime.now(datetime.UTC)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Ledger:
    """Appends entries to a JSON Lines file; without a file it only keeps a count."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.count = 0
        self._lock = threading.Lock()

    def append(self, entry: LedgerEntry) -> None:
        line = json.dumps(entry.to_json(), separators=(",", ":")) + "\n"
        with self._lock:
            self.count += 1
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as handle:
                    handle.write(line)
        log.info(
            "simulator.call.recorded api=%s status=%s http_status=%d",
            entry.api,
            entry.status,
            entry.http_status,
        )


def read_ledger(path: Path) -> list[LedgerEntry]:
    """All entries of a ledger file, oldest first; a missing file has none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    entries: list[LedgerEntry] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append(LedgerEntry.from_json(json.loads(line)))
        except (ValueError, TypeError, KeyError) as exc:
            raise InputError(
                f"ledger {path} line {number} is not a ledger entry ({exc}); "
                "the file must hold only lines the simulator wrote"
            ) from exc
    return entries
