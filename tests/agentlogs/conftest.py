"""Agent log fixtures copied into a temporary HOME, and importing them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from spendtap.agentlogs.call import AgentCall
from spendtap.agentlogs.claude_code import ClaudeCodeFormat
from spendtap.agentlogs.context import AgentHomes, LogContext
from spendtap.agentlogs.events import EventFactory
from spendtap.agentlogs.importer import LogFormat, LogImporter
from spendtap.agentlogs.stats import ImportStats
from spendtap.cli.main import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "agentlogs"
REMOTE = "https://dev:s3cret@github.com/Acme/payments.git"


@dataclass
class Imported:
    calls: list[AgentCall]
    stats: ImportStats

    def by_response(self) -> dict[str | None, AgentCall]:
        return {c.response_id: c for c in self.calls}


def read_all(fmt: LogFormat, root: Path) -> Imported:
    importer = LogImporter(fmt, [root])
    return Imported(list(importer.backfill()), fmt.stats)


def make_repo(path: Path, branch: str = "main") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for args in (
        ["init", "-q", "-b", branch],
        ["config", "user.email", "git-user@acme.example"],
        ["config", "user.name", "Dev"],
        ["remote", "add", "origin", REMOTE],
        ["commit", "-q", "--allow-empty", "-m", "start"],
    ):
        subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True)
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "payments")


ClaudeCopier = Callable[..., Path]


def copy_fixture(source: Path, target: Path, repo: Path) -> Path:
    """Copy a fixture tree, writing ``repo`` where it says ``{REPO}`` and giving
    the files the age order of their names."""
    cwd = json.dumps(str(repo))[1:-1]
    for path in sorted(source.rglob("*")):
        if path.is_file():
            copied = target / path.relative_to(source)
            copied.parent.mkdir(parents=True, exist_ok=True)
            copied.write_text(path.read_text().replace("{REPO}", cwd))
    _age_in_name_order(target)
    return target


@pytest.fixture
def claude_case(home: Path, repo: Path) -> ClaudeCopier:
    """Copy Claude Code fixture cases into ``home/.claude`` and return the projects
    folder; the cases' ``{REPO}`` working directory becomes a real git work tree."""

    def copy(*cases: str) -> Path:
        projects = home / ".claude" / "projects"
        for case in cases:
            copy_fixture(FIXTURES / "claude_code" / case / "projects", projects, repo)
        return projects

    return copy


def _age_in_name_order(root: Path) -> None:
    """Git keeps no file times: give copies the order their names say (a resumed
    session's file, named after it, is newer than its parent's)."""
    for index, path in enumerate(sorted(p for p in root.rglob("*") if p.is_file())):
        stamp = 1_759_000_000 + index * 60
        os.utime(path, (stamp, stamp))


def claude_calls(root: Path) -> Imported:
    return read_all(ClaudeCodeFormat(), root)


@pytest.fixture
def factory(tmp_path: Path, home: Path) -> EventFactory:
    context = LogContext(tmp_path / "data", homes=AgentHomes(home=home))
    return EventFactory(context)


#: ``spendtap`` with a large backfill's split forced on (or off) whatever the size.
_SPLIT_SCRIPT = (
    "import sys; from spendtap.agentlogs import parallel; "
    "parallel.PARALLEL_MIN_BYTES = int(sys.argv[1]); "
    "parallel.worker_count = lambda: 2; "
    "from spendtap.cli.main import main; sys.exit(main(sys.argv[2:]))"
)


def import_json(
    projects: Path, data_dir: Path, *, split: bool, home: Path | None = None
) -> tuple[list[str], str]:
    """``spendtap import claude-code PROJECTS --json`` in a new process, read by two
    processes (``split``) or one: its event lines, sorted, and its stderr."""
    env = dict(os.environ) if home is None else {**os.environ, "HOME": str(home)}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _SPLIT_SCRIPT,
            "0" if split else str(1 << 60),
            "import",
            "claude-code",
            str(projects),
            "--json",
            "--data-dir",
            str(data_dir),
        ],
        capture_output=True,
        check=True,
        timeout=60,
        env=env,
    )
    return sorted(done.stdout.decode().splitlines()), done.stderr.decode()


def assistant_record(
    message_id: str,
    request_id: str | None,
    output: int,
    at: str,
    *,
    content: list[dict[str, Any]] | None = None,
    prompt: int = 10,
) -> dict[str, Any]:
    """An API response line in Claude Code's own key order (no ``requestId`` when
    ``request_id`` is None)."""
    record: dict[str, Any] = {
        "parentUuid": None,
        "isSidechain": False,
        "message": {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": content or [{"type": "text", "text": "done"}],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": prompt, "output_tokens": output},
        },
        "requestId": request_id,
        "type": "assistant",
        "timestamp": at,
        "sessionId": "s-1",
        "cwd": "/tmp/nowhere",
        "gitBranch": "main",
    }
    if request_id is None:
        del record["requestId"]
    return record


def run_json(
    projects: Path, data_dir: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> list[dict[str, Any]]:
    """``spendtap import claude-code PATH --json`` in this process: its events."""
    capsysbinary.readouterr()
    code = main(
        ["import", "claude-code", str(projects), "--json", "--data-dir", str(data_dir)]
    )
    assert code == 0
    return [json.loads(line) for line in capsysbinary.readouterr().out.splitlines()]


def import_to_engine(projects: Path, engine_url: str, data_dir: Path) -> int:
    """``spendtap import claude-code PATH --engine URL`` in this process: its exit
    code."""
    return main(
        [
            "import",
            "claude-code",
            str(projects),
            "--engine",
            engine_url,
            "--data-dir",
            str(data_dir),
        ]
    )
