"""Default locations: the platform's user data dir, overridable everywhere."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

DATA_DIR_ENV = "SPENDTAP_DATA_DIR"
DEFAULT_PROXY_PORT = 8877
DEFAULT_ENGINE_PORT = 8878


def default_data_dir() -> Path:
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env) if env else Path(platformdirs.user_data_dir("spendtap"))


def default_db_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'engine.sqlite3'}"
