"""Running the Claude Code CLI through the collector, when it is installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

#: Where the README's set-up installs npm tools, relative to the project root.
LOCAL_NPM_BIN = Path("tools/npm/node_modules/.bin")
ENV_BINARY = "SPENDTAP_CLAUDE_BIN"


def find_claude() -> Path | None:
    """The `claude` binary: $SPENDTAP_CLAUDE_BIN, the project's npm tools, or PATH."""
    candidates = [os.environ.get(ENV_BINARY)]
    for root in (Path.cwd(), *Path(__file__).resolve().parents):
        candidates.append(str(root / LOCAL_NPM_BIN / "claude"))
    candidates.append(shutil.which("claude"))
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def claude_home(path: Path, workspace: Path) -> Path:
    """A HOME with onboarding done and the workspace trusted, so `-p` runs unattended."""
    path.mkdir(parents=True, exist_ok=True)
    state = {
        "hasCompletedOnboarding": True,
        "projects": {str(workspace): {"hasTrustDialogAccepted": True}},
    }
    (path / ".claude.json").write_text(json.dumps(state))
    return path


def run_claude(
    binary: Path,
    prompt: str,
    *,
    workspace: Path,
    home: Path,
    proxy_env: dict[str, str],
    timeout: float = 120.0,
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(claude_home(home, workspace)),
        "ANTHROPIC_API_KEY": "dummy",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "HTTPS_PROXY": proxy_env["HTTPS_PROXY"],
        "NODE_EXTRA_CA_CERTS": proxy_env["NODE_EXTRA_CA_CERTS"],
    }
    return subprocess.run(
        [str(binary), "-p", prompt],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
