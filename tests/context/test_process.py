from __future__ import annotations

import os
import sys
from pathlib import Path

import psutil
import pytest

from spendtap.context.process import command_head, describe_process, find_client_process

from .helpers import LocalServer, interpreter_named

SECRET_ARG = "sk-ant-api03-NEVER-KEEP-THIS"


def test_client_process_is_found_with_pid_cwd_and_name(
    tmp_path: Path, local_server: LocalServer, client_script: Path
) -> None:
    workdir = tmp_path / "payments"
    workdir.mkdir()
    python = interpreter_named(tmp_path / "bin", "agent-client")

    client = local_server.connect_child([str(python), str(client_script)], cwd=workdir)
    found = find_client_process(client.peer, client.server)

    assert found is not None
    assert found.pid == client.process.pid
    assert found.cwd == str(workdir)
    assert found.name == "agent-client"
    assert found.exe == os.path.realpath(python)


def test_only_basenames_of_program_and_script_are_kept(
    tmp_path: Path, local_server: LocalServer, client_script: Path
) -> None:
    python = interpreter_named(tmp_path / "bin", "agent-client")
    command = [str(python), str(client_script), "--api-key", SECRET_ARG]

    client = local_server.connect_child(command, cwd=tmp_path)
    found = find_client_process(client.peer, client.server)

    assert found is not None
    assert found.cmdline_head == ("agent-client", "client.py")
    assert SECRET_ARG not in repr(found)
    assert str(tmp_path / "scripts") not in repr(found.cmdline_head)


def test_home_and_agent_dirs_come_from_the_environment_and_nothing_else(
    tmp_path: Path, local_server: LocalServer, client_script: Path
) -> None:
    env = {
        "HOME": str(tmp_path / "fake-home"),
        "CODEX_HOME": str(tmp_path / "codex"),
        "CLAUDE_CONFIG_DIR": str(tmp_path / "claude"),
        "ANTHROPIC_API_KEY": SECRET_ARG,
        "PATH": os.environ.get("PATH", ""),
    }

    client = local_server.connect_child(
        [sys.executable, str(client_script)], cwd=tmp_path, env=env
    )
    found = find_client_process(client.peer, client.server)

    assert found is not None
    assert found.home == str(tmp_path / "fake-home")
    assert found.codex_home == str(tmp_path / "codex")
    assert found.claude_config_dir == str(tmp_path / "claude")
    assert SECRET_ARG not in repr(found)


def test_ancestors_are_named_nearest_first(
    tmp_path: Path,
    local_server: LocalServer,
    client_script: Path,
    launcher_script: Path,
) -> None:
    launcher = interpreter_named(tmp_path / "bin", "st-launcher")
    client_python = interpreter_named(tmp_path / "bin", "agent-client")
    command = [
        str(launcher),
        str(launcher_script),
        str(client_python),
        str(client_script),
    ]

    client = local_server.connect_child(command, cwd=tmp_path)
    found = find_client_process(client.peer, client.server)

    assert found is not None
    assert found.name == "agent-client"
    assert found.parent_names[0] == "st-launcher"
    assert found.parent_names[1] == psutil.Process().name()
    assert len(found.parent_names) <= 3


def test_ipv4_mapped_peer_address_is_matched(
    tmp_path: Path, local_server: LocalServer, client_script: Path
) -> None:
    client = local_server.connect_child(
        [sys.executable, str(client_script)], cwd=tmp_path
    )
    ip, port = client.peer
    server_ip, server_port = client.server

    found = find_client_process(
        (f"::ffff:{ip}", port), (f"::ffff:{server_ip}", server_port)
    )

    assert found is not None
    assert found.pid == client.process.pid


def test_wildcard_listen_address_matches_any_server_ip(
    tmp_path: Path, local_server: LocalServer, client_script: Path
) -> None:
    client = local_server.connect_child(
        [sys.executable, str(client_script)], cwd=tmp_path
    )

    found = find_client_process(client.peer, ("0.0.0.0", client.server[1]))

    assert found is not None
    assert found.pid == client.process.pid


def test_per_process_scan_is_used_when_the_system_table_is_denied(
    tmp_path: Path,
    local_server: LocalServer,
    client_script: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = local_server.connect_child(
        [sys.executable, str(client_script)], cwd=tmp_path
    )

    def denied(kind: str = "inet") -> list[object]:
        raise psutil.AccessDenied()

    monkeypatch.setattr(psutil, "net_connections", denied)
    found = find_client_process(client.peer, client.server)

    assert found is not None
    assert found.pid == client.process.pid


def test_port_nobody_uses_gives_none(local_server: LocalServer) -> None:
    assert find_client_process(("127.0.0.1", 1), local_server.address) is None


@pytest.mark.parametrize(
    ("client", "server"),
    [
        (("192.0.2.10", 51000), ("127.0.0.1", 8080)),  # TEST-NET-1: not this machine
        (("not-an-ip", 51000), ("127.0.0.1", 8080)),
        (("127.0.0.1", "x"), ("127.0.0.1", 8080)),
        ((), ("127.0.0.1", 8080)),
    ],
)
def test_odd_or_remote_addresses_give_none(
    client: tuple[str, int], server: tuple[str, int]
) -> None:
    assert find_client_process(client, server) is None


def test_vanished_or_impossible_process_gives_none() -> None:
    assert describe_process(2**22 + 12345) is None
    assert describe_process(-1) is None


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["/usr/bin/python3", "/home/u/app/run.py", "--key", "sk"],
            ("python3", "run.py"),
        ),
        (
            ["node", "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js"],
            ("node", "cli.js"),
        ),
        (
            ["C:\\Program Files\\nodejs\\node.exe", "C:\\app\\cli.js"],
            ("node.exe", "cli.js"),
        ),
        (["curl", "-H", "x-api-key: sk-ant-api03-x"], ("curl",)),
        (["python3", "-c", "print('sk-ant-api03-x')"], ("python3",)),
        (["mytool", "sk-ant-api03-secret"], ("mytool",)),
        (["claude"], ("claude",)),
        (["postgres: writer process"], ()),
        ([], ()),
    ],
)
def test_command_head_keeps_program_and_script_names_only(
    argv: list[str], expected: tuple[str, ...]
) -> None:
    assert command_head(argv) == expected


def test_unreadable_connection_table_gives_none(
    local_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(kind: str = "inet") -> list[object]:
        raise OSError("proc is not mounted")

    monkeypatch.setattr(psutil, "net_connections", broken)

    assert find_client_process(("127.0.0.1", 50000), local_server.address) is None
