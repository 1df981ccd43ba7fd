"""Real local fixtures for the context tests: a TCP server, client scripts, git."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import LocalServer

#: A client that connects, then waits until the server closes the connection.
CLIENT_SCRIPT = """\
import socket, sys
host, port = sys.argv[-2], int(sys.argv[-1])
with socket.create_connection((host, port)) as conn:
    conn.recv(1)
"""
#: A launcher that runs the client as its child and waits for it.
LAUNCHER_SCRIPT = """\
import subprocess, sys
sys.exit(subprocess.call(sys.argv[1:]))
"""


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    server = LocalServer(listener)
    yield server
    server.close()


@pytest.fixture
def client_script(tmp_path: Path) -> Path:
    path = tmp_path / "scripts" / "client.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(CLIENT_SCRIPT)
    return path


@pytest.fixture
def launcher_script(tmp_path: Path) -> Path:
    path = tmp_path / "scripts" / "launcher.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(LAUNCHER_SCRIPT)
    return path


@pytest.fixture
def git_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated HOME and global git config, so the machine's own config is unseen."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test Dev\n\temail = global@dev.test\n"
        "[init]\n\tdefaultBranch = main\n"
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(name, raising=False)
    return home
