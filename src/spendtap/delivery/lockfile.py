"""One collector per data directory: an advisory lock on ``<data_dir>/collector.lock``.

The running collector holds an exclusive ``flock`` on the file and writes its PID
into it. The kernel lets go of the lock when the process dies, ``kill -9`` included,
so a restart never finds a stale lock. ``spendtap status`` asks the same lock whether
a collector is running. Where ``fcntl`` does not exist (Windows) there is no lock and
status reports the PID last written.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from spendtap.errors import ConfigError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

LOCK_FILE = "collector.lock"


@dataclass(frozen=True, slots=True)
class LockHolder:
    running: bool
    pid: int | None


class DataDirLock:
    """Held from :meth:`acquire` to :meth:`release` (or the process's end)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock; ConfigError when another live collector holds it."""
        handle = self.path.open("a+", encoding="ascii")
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                handle.seek(0)
                other = handle.read().strip() or "unknown"
                handle.close()
                raise ConfigError(
                    f"another collector (pid {other}) is using the data directory "
                    f"{self.path.parent}; stop it first, or give this one another "
                    "--data-dir"
                ) from exc
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the descriptor releases the flock
            self._handle = None


def lock_holder(data_dir: Path) -> LockHolder:
    """Whether a collector holds ``data_dir`` now, and the PID written in the lock."""
    path = data_dir / LOCK_FILE
    try:
        handle = path.open("r", encoding="ascii")
    except FileNotFoundError:
        return LockHolder(False, None)
    with handle:
        text = handle.read().strip()
        pid = int(text) if text.isdigit() else None
        if fcntl is None:  # pragma: no cover - Windows
            return LockHolder(pid is not None, pid)
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return LockHolder(True, pid)
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return LockHolder(False, pid)
