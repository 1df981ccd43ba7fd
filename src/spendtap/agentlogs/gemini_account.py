"""The Google account Gemini CLI is signed in with, from its state on disk.

Gemini CLI keeps ``google_accounts.json`` in ``~/.gemini``: ``{"active": email,
"old": [...]}``. Only the active email is read; the OAuth credentials beside it
(``oauth_creds.json``) are never opened.
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)

ACCOUNTS_FILE = "google_accounts.json"
MAX_ACCOUNTS_FILE_BYTES = 1024 * 1024
MAX_EMAIL_CHARS = 254


def gemini_account_email(gemini_dir: Path | None) -> str | None:
    """The active account's email, or None when there is none or it is unreadable."""
    if gemini_dir is None:
        return None
    path = gemini_dir / ACCOUNTS_FILE
    try:
        info = path.stat()
    except OSError:
        return None
    if info.st_size > MAX_ACCOUNTS_FILE_BYTES:
        log.warning("agentlogs.gemini.accounts_too_large path=%s", path)
        return None
    return _active_email(str(path), info.st_mtime_ns, info.st_size)


@functools.lru_cache(maxsize=8)
def _active_email(path: str, mtime_ns: int, size: int) -> str | None:
    try:
        data = json.loads(Path(path).read_bytes())
    except (OSError, ValueError):
        log.debug("agentlogs.gemini.accounts_unreadable path=%s", path)
        return None
    active = data.get("active") if isinstance(data, dict) else None
    if not isinstance(active, str):
        return None
    email = active.strip()
    if "@" not in email or len(email) > MAX_EMAIL_CHARS or " " in email:
        return None
    return email
