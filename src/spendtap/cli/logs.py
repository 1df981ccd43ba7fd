"""Logging set-up for the command line: one line per event, to stderr."""

from __future__ import annotations

import logging
import sys

#: Third-party loggers that are noisy at INFO; their warnings still show. (Alembic
#: names every plugin and step; ``engine.database.migrated`` says what was done.)
QUIET_LOGGERS = (
    "mitmproxy",
    "uvicorn.access",
    "httpx",
    "httpcore",
    "hpack",
    "passlib",
    "alembic",
)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is now (test runners swap it out)."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


def configure_logging(verbose: bool = False, level: int | None = None) -> None:
    handler = _StderrHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level or (logging.DEBUG if verbose else logging.INFO))
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
