"""The git work tree a call was made from: repo, branch, commit, and git identity.

The work tree is found by walking up from the client's working directory to the
nearest ``.git`` (a directory, or a file as in worktrees and submodules); then the
``git`` binary answers three questions with a short timeout. Results are cached per
directory for a few seconds. The remote URL is reduced to ``host/owner/name``: user
names, tokens and ports are dropped.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

GIT_TIMEOUT_S = 1.0
CACHE_TTL_S = 5.0
CACHE_LIMIT = 256
#: Variables that would point git at another repository than the one asked about.
REPO_LOCATION_VARIABLES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
)
PREFERRED_REMOTES = ("origin", "upstream")

_SCP_LIKE = re.compile(r"^(?:(?P<user>[^@/]+)@)?(?P<host>[^:/]+):(?P<path>(?!//).+)$")
_REMOTE_URL_KEY = re.compile(r"^remote\.(?P<name>.+)\.url$")


@dataclass(frozen=True, slots=True)
class GitContext:
    repo: str | None = None
    branch: str | None = None
    commit: str | None = None
    git_email: str | None = None
    #: The subject line of HEAD, kept only to find a ticket; never shipped.
    subject: str | None = None


NO_GIT = GitContext()


def git_context(cwd: Path | str | None) -> GitContext:
    """Git facts for the work tree holding ``cwd``; empty when there is none."""
    return _default_cache.get(cwd)


class GitContextCache:
    """``git_context`` with a per-directory cache; safe to share between threads."""

    def __init__(self, ttl: float = CACHE_TTL_S, limit: int = CACHE_LIMIT) -> None:
        self._ttl = ttl
        self._limit = limit
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, GitContext]] = {}

    def get(self, cwd: Path | str | None) -> GitContext:
        if not cwd:
            return NO_GIT
        key = str(cwd)
        now = time.monotonic()
        with self._lock:
            cached = self._entries.get(key)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        found = read_git_context(Path(key))
        self._store(key, now, found)
        return found

    def _store(self, key: str, now: float, found: GitContext) -> None:
        with self._lock:
            if len(self._entries) >= self._limit:
                self._entries = {
                    k: v for k, v in self._entries.items() if now - v[0] < self._ttl
                }
            if len(self._entries) < self._limit:
                self._entries[key] = (now, found)


_default_cache = GitContextCache()


def read_git_context(cwd: Path) -> GitContext:
    """Git facts for ``cwd``, uncached. Never raises; unknown facts are None."""
    top = find_work_tree(cwd)
    if top is None:
        return NO_GIT
    commit, subject = _head_commit(top)
    remotes, email = _config(top)
    return GitContext(
        repo=_pick_remote(remotes),
        branch=_branch(top),
        commit=commit,
        git_email=email,
        subject=subject,
    )


def find_work_tree(cwd: Path) -> Path | None:
    """The nearest directory at or above ``cwd`` holding a ``.git`` entry."""
    try:
        current = cwd.resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    for directory in (current, *current.parents):
        try:
            if (directory / ".git").exists():
                return directory
        except OSError:
            return None
    return None


def normalise_remote(url: str | None) -> str | None:
    """``host/owner/name`` for a git remote URL, credentials and port dropped.

    ``git@github.com:acme/payments.git``, ``https://user:token@github.com/acme/
    payments`` and ``ssh://git@github.com:22/acme/payments.git`` all give
    ``github.com/acme/payments``. Local paths and ``file:`` URLs give None.
    """
    text = (url or "").strip()
    if not text:
        return None
    host, path = _split_remote(text)
    if not host:
        return None
    path = path.split("?", 1)[0].split("#", 1)[0].strip("/")
    path = path.removesuffix(".git").rstrip("/")
    return f"{host}/{path}" if path else host


def _split_remote(text: str) -> tuple[str | None, str]:
    if "://" in text:
        try:
            parts = urlsplit(text)
            host = parts.hostname
        except ValueError:
            return None, ""
        if parts.scheme == "file" or not host:
            return None, ""
        return host.lower(), parts.path
    scp = _SCP_LIKE.match(text)
    if scp is None or len(scp.group("host")) == 1:  # C:\repo is a Windows path
        return None, ""
    return scp.group("host").lower(), scp.group("path")


def _head_commit(top: Path) -> tuple[str | None, str | None]:
    out = _run_git(top, "log", "-1", "--no-show-signature", "--format=%H%x00%s")
    if not out:
        return None, None
    commit, _, subject = out.rstrip("\n").partition("\0")
    return commit or None, subject or None


def _branch(top: Path) -> str | None:
    out = _run_git(top, "symbolic-ref", "-q", "HEAD")  # exit 1 when detached
    ref = (out or "").strip()
    return ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None


def _config(top: Path) -> tuple[dict[str, str], str | None]:
    out = _run_git(
        top, "config", "-z", "--get-regexp", r"^(remote\..+\.url|user\.email)$"
    )
    remotes: dict[str, str] = {}
    email: str | None = None
    for entry in (out or "").split("\0"):
        key, _, value = entry.partition("\n")
        if key == "user.email":
            email = value.strip() or None
        elif (match := _REMOTE_URL_KEY.match(key)) is not None:
            remotes.setdefault(match.group("name"), value)
    return remotes, email


def _pick_remote(remotes: dict[str, str]) -> str | None:
    for name in PREFERRED_REMOTES:
        if name in remotes:
            return normalise_remote(remotes[name])
    first = next(iter(remotes.values()), None)
    return normalise_remote(first)


def _run_git(top: Path, *args: str) -> str | None:
    command = ["git", "-C", str(top), "--no-pager", *args]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            env=_git_environment(),
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("context.git.failed command=%s error=%s", args[0], type(exc).__name__)
        return None
    if done.returncode != 0:  # also a detached HEAD for symbolic-ref
        log.debug("context.git.exit command=%s code=%d", args[0], done.returncode)
        return None
    return done.stdout.decode("utf-8", "replace")


def _git_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in REPO_LOCATION_VARIABLES}
    env.update(GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0", LC_ALL="C")
    return env
