"""A throwaway git repository for the demo's clients to run in."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

DEMO_REMOTE = "https://github.com/acme/payments.git"
DEMO_BRANCH = "feature/PAY-1423-retry-invoices"
DEMO_EMAIL = "dev@acme.example"


def make_workspace(path: Path) -> Path:
    """A git repo with a remote, a commit and a ticket branch (idempotent)."""
    path.mkdir(parents=True, exist_ok=True)
    if (path / ".git").exists():
        return path
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-C", str(path), *args],
            check=True,
            env=env,
            capture_output=True,
            timeout=30,
        )

    git("init", "-q", "-b", "main")
    git("config", "user.email", DEMO_EMAIL)
    git("config", "user.name", "Demo Developer")
    git("remote", "add", "origin", DEMO_REMOTE)
    (path / "README.md").write_text("payments service\n")
    git("add", "README.md")
    git("commit", "-q", "-m", "initial commit")
    git("checkout", "-q", "-b", DEMO_BRANCH)
    return path
