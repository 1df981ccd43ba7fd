"""Helpers for the context tests: TCP clients in child processes, real git repos."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ConnectedClient:
    process: subprocess.Popen[bytes]
    #: The client's address as the server saw it, and the server's own address.
    peer: tuple[str, int]
    server: tuple[str, int]


class LocalServer:
    """A TCP server on 127.0.0.1 that accepts real clients run as child processes."""

    def __init__(self, listener: socket.socket) -> None:
        self.listener = listener
        self.address: tuple[str, int] = listener.getsockname()[:2]
        self._open: list[tuple[socket.socket, subprocess.Popen[bytes]]] = []

    def connect_child(
        self, command: Sequence[str], *, cwd: Path, env: dict[str, str] | None = None
    ) -> ConnectedClient:
        host, port = self.address
        child = subprocess.Popen([*command, host, str(port)], cwd=cwd, env=env)
        self.listener.settimeout(10)
        conn, peer = self.listener.accept()
        self._open.append((conn, child))
        return ConnectedClient(child, peer[:2], self.address)

    def close(self) -> None:
        """Closing each connection lets its client exit; stragglers are killed."""
        for conn, child in self._open:
            conn.close()
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.listener.close()


def interpreter_named(directory: Path, name: str) -> Path:
    """A symlink to this Python under ``name``: the OS then names the process so."""
    directory.mkdir(parents=True, exist_ok=True)
    link = directory / name
    link.symlink_to(os.path.realpath(sys.executable))
    return link


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(cwd), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def make_repo(path: Path, *, subject: str = "Initial commit") -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q")
    (path / "README").write_text("hello\n")
    git(path, "add", "README")
    git(path, "commit", "-q", "-m", subject)
    return path
