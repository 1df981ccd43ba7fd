from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spendtap.context.git import (
    NO_GIT,
    GitContext,
    GitContextCache,
    find_work_tree,
    git_context,
    normalise_remote,
    read_git_context,
)

from .helpers import git, make_repo

pytestmark = pytest.mark.usefixtures("git_home")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("git@github.com:acme/payments.git", "github.com/acme/payments"),
        ("https://user:token@github.com/acme/payments", "github.com/acme/payments"),
        ("ssh://git@github.com:22/acme/payments.git", "github.com/acme/payments"),
        ("https://GitHub.COM/acme/payments/", "github.com/acme/payments"),
        ("https://github.com/acme/payments.git?ref=x#frag", "github.com/acme/payments"),
        (
            "git+ssh://git@GitLab.example.com/grp/sub/proj.git",
            "gitlab.example.com/grp/sub/proj",
        ),
        (
            "https://oauth2:glpat-abc123@gitlab.example.com:8443/grp/proj.git",
            "gitlab.example.com/grp/proj",
        ),
        (
            "git@ssh.dev.azure.com:v3/org/proj/repo",
            "ssh.dev.azure.com/v3/org/proj/repo",
        ),
        ("github-work:acme/payments.git", "github-work/acme/payments"),
        ("  git@github.com:acme/payments.git\n", "github.com/acme/payments"),
    ],
)
def test_normalise_remote_gives_host_and_path(url: str, expected: str) -> None:
    assert normalise_remote(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "",
        None,
        "/srv/git/payments.git",
        "../payments",
        "file:///srv/git/x.git",
        "C:\\repo",
    ],
)
def test_normalise_remote_of_local_or_empty_remote_is_none(url: str | None) -> None:
    assert normalise_remote(url) is None


@given(
    user=st.text("abcdefghijklmnopqrstuvwxyz0123456789_-.", min_size=1, max_size=20),
    token=st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_", min_size=8, max_size=40),
)
def test_normalise_remote_never_keeps_credentials(user: str, token: str) -> None:
    url = f"https://{user}:{token}@github.com/acme/payments.git"

    normalised = normalise_remote(url)

    assert normalised == "github.com/acme/payments"


def test_repo_branch_commit_and_email_from_a_real_repo(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "payments", subject="Retry card charges")
    git(
        repo,
        "remote",
        "add",
        "origin",
        "https://dev:ghp_SECRET123@GitHub.com/acme/payments.git",
    )
    git(repo, "config", "user.email", "dev@acme.test")
    git(repo, "checkout", "-q", "-b", "feature/PAY-1423-retry")
    expected_commit = git(repo, "rev-parse", "HEAD")

    found = read_git_context(repo)

    assert found == GitContext(
        repo="github.com/acme/payments",
        branch="feature/PAY-1423-retry",
        commit=expected_commit,
        git_email="dev@acme.test",
        subject="Retry card charges",
    )
    assert "SECRET" not in repr(found)


def test_subdirectory_finds_the_enclosing_work_tree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "payments")
    deep = repo / "src" / "billing"
    deep.mkdir(parents=True)

    assert find_work_tree(deep) == repo.resolve()
    assert read_git_context(deep).branch == "main"


def test_global_email_is_used_when_the_repo_sets_none(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "payments")

    assert read_git_context(repo).git_email == "global@dev.test"


def test_detached_head_has_no_branch_but_a_commit(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "payments")
    commit = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "--detach")

    found = read_git_context(repo)

    assert found.branch is None
    assert found.commit == commit


def test_worktree_with_a_git_file_is_followed(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "payments")
    git(repo, "remote", "add", "origin", "git@github.com:acme/payments.git")
    worktree = tmp_path / "payments-pay-9"
    git(repo, "worktree", "add", "-q", "-b", "bugfix/PAY-9-rounding", str(worktree))

    found = read_git_context(worktree)

    assert (worktree / ".git").is_file()
    assert found.branch == "bugfix/PAY-9-rounding"
    assert found.repo == "github.com/acme/payments"
    assert found.commit == git(repo, "rev-parse", "HEAD")


def test_repo_without_commits_has_a_branch_and_no_commit(tmp_path: Path) -> None:
    repo = tmp_path / "fresh"
    repo.mkdir()
    git(repo, "init", "-q")

    found = read_git_context(repo)

    assert (found.branch, found.commit, found.subject) == ("main", None, None)


def test_origin_is_preferred_then_the_first_remote(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "payments")
    git(repo, "remote", "add", "fork", "git@github.com:someone/payments.git")
    assert read_git_context(repo).repo == "github.com/someone/payments"

    git(repo, "remote", "add", "origin", "git@github.com:acme/payments.git")
    assert read_git_context(repo).repo == "github.com/acme/payments"


def test_directory_outside_any_repo_gives_empty_context(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()

    assert read_git_context(plain) == NO_GIT
    assert git_context(None) == NO_GIT
    assert git_context(tmp_path / "does-not-exist") == NO_GIT


def test_git_dir_in_the_environment_does_not_redirect_the_lookup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "payments")
    git(repo, "checkout", "-q", "-b", "feature/PAY-1-x")
    other = make_repo(tmp_path / "other")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))

    assert read_git_context(repo).branch == "feature/PAY-1-x"


def test_missing_git_binary_leaves_fields_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "payments")
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))

    assert read_git_context(repo) == NO_GIT


def test_cache_answers_from_memory_within_its_ttl(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "payments")
    cache = GitContextCache(ttl=60)
    assert cache.get(repo).branch == "main"

    git(repo, "checkout", "-q", "-b", "feature/PAY-2-later")

    assert cache.get(repo).branch == "main"


def test_cache_reads_again_after_its_ttl(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "payments")
    cache = GitContextCache(ttl=0.05)
    assert cache.get(repo).branch == "main"

    git(repo, "checkout", "-q", "-b", "feature/PAY-2-later")
    time.sleep(0.06)

    assert cache.get(repo).branch == "feature/PAY-2-later"
