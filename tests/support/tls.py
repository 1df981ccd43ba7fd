"""TLS client contexts for tests."""

from __future__ import annotations

import ssl
from pathlib import Path


def trusting(cafile: Path) -> ssl.SSLContext:
    """A client context that trusts only ``cafile``."""
    return ssl.create_default_context(cafile=str(cafile))
