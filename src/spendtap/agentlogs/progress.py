"""A one-line progress bar for backfills, on stderr and only on a terminal."""

from __future__ import annotations

import time
from typing import TextIO

from spendtap.agentlogs.importer import Progress

WIDTH = 30
#: Redraw at most this often (seconds).
REDRAW_S = 0.1


class ProgressBar:
    """Draws ``Progress`` on ``stream`` when it is a terminal; silent otherwise."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self._stream = stream
        self._label = label
        self._enabled = _is_terminal(stream)
        self._drawn_at = 0.0
        self._drawn = False

    def __call__(self, progress: Progress) -> None:
        if not self._enabled:
            return
        now = time.monotonic()
        finished = progress.files_done == progress.files_total
        if now - self._drawn_at < REDRAW_S and not finished:
            return
        self._drawn_at = now
        self._stream.write("\r" + render(self._label, progress))
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        """End the bar's line, so what follows starts on a fresh one."""
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()


def render(label: str, progress: Progress) -> str:
    """``claude-code [#######-----]  45% 12/30 files 230/520 MB``."""
    share = progress.done_bytes / progress.total_bytes if progress.total_bytes else 1.0
    filled = round(share * WIDTH)
    bar = "#" * filled + "-" * (WIDTH - filled)
    return (
        f"{label} [{bar}] {share:4.0%} {progress.files_done}/{progress.files_total} "
        f"files {progress.done_bytes / 1e6:.0f}/{progress.total_bytes / 1e6:.0f} MB"
    )


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
