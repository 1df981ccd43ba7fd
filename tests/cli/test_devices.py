"""`spendtap enroll` and `spendtap devices ...` against a fake engine."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from spendtap.cli.main import main
from spendtap.simulator.certs import TestPKI
from tests.support.fake_engine import FakeEngine

ADMIN = "admin-token-1"


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    with FakeEngine(admin_token=ADMIN) as e:
        yield e


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_enroll_keeps_the_token_user_only_and_never_prints_it(
    engine: FakeEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = engine.issue()
    data = tmp_path / "data"

    status, out, _ = run(
        capsys,
        "enroll",
        "--engine",
        engine.url,
        "--code",
        code,
        "--data-dir",
        str(data),
    )

    (device,) = engine.devices.values()
    token_file = data / "device-token.json"
    assert status == 0
    assert device.device_id in out and device.token not in out
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    stored = json.loads(token_file.read_text())
    assert (stored["device_id"], stored["token"]) == (device.device_id, device.token)
    assert stored["engine_url"] == engine.url


def test_enroll_over_tls_keeps_a_copy_of_the_ca_bundle(
    pki: TestPKI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    with FakeEngine(tls=(pki.leaf_cert, pki.leaf_key), admin_token=ADMIN) as engine:
        status, _, _ = run(
            capsys,
            "enroll",
            "--engine",
            engine.url,
            "--code",
            engine.issue(),
            "--ca-bundle",
            str(pki.ca_cert),
            "--data-dir",
            str(data),
        )

    stored = json.loads((data / "device-token.json").read_text())
    assert status == 0
    assert stored["ca_bundle"] == str(data / "engine-ca.pem")
    assert (data / "engine-ca.pem").read_bytes() == pki.ca_cert.read_bytes()


def test_enroll_with_a_bad_code_fails_with_the_fix(
    engine: FakeEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(
        capsys,
        "enroll",
        "--engine",
        engine.url,
        "--code",
        "nope",
        "--data-dir",
        str(tmp_path),
    )
    assert status == 2
    assert "issue-code" in err
    assert not (tmp_path / "device-token.json").exists()


def test_enroll_refuses_plain_http_off_loopback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(
        capsys,
        "enroll",
        "--engine",
        "http://engine.example.com",
        "--code",
        "c",
        "--data-dir",
        str(tmp_path),
    )
    assert status == 2 and "use https://" in err


def test_issue_code_takes_the_admin_token_from_the_environment(
    engine: FakeEngine,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SPENDTAP_ADMIN_TOKEN", ADMIN)

    status, out, _ = run(
        capsys,
        "devices",
        "issue-code",
        "--engine",
        engine.url,
        "--note",
        "bob",
        "--ttl",
        "900",
        "--json",
    )

    issued = json.loads(out)
    assert status == 0
    assert engine.codes[issued["code"]] == {"note": "bob", "ttl_seconds": 900}


def test_issue_code_without_an_admin_token_says_how_to_give_one(
    engine: FakeEngine,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SPENDTAP_ADMIN_TOKEN", raising=False)
    status, _, err = run(capsys, "devices", "issue-code", "--engine", engine.url)
    assert status == 2 and "--admin-token" in err


def test_list_then_revoke(
    engine: FakeEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(2):
        run(
            capsys,
            "enroll",
            "--engine",
            engine.url,
            "--code",
            engine.issue(),
            "--data-dir",
            str(tmp_path / f"d{n}"),
        )
    first = sorted(engine.devices)[0]
    admin = ("--engine", engine.url, "--admin-token", ADMIN)

    listed_status, table, _ = run(capsys, "devices", "list", *admin)
    revoke_status, said, _ = run(capsys, "devices", "revoke", first, *admin)
    _, listed_json, _ = run(capsys, "devices", "list", *admin, "--json")

    assert listed_status == 0 and revoke_status == 0
    lines = table.splitlines()
    assert lines[0].split() == ["device_id", "hostname", "os_user", "revoked_at"]
    assert len(lines) == 3 and all(line.split()[3] == "-" for line in lines[1:])
    assert f"device {first} revoked" in said
    devices = {d["device_id"]: d for d in json.loads(listed_json)["devices"]}
    assert devices[first]["revoked_at"] is not None
    assert engine.devices[first].revoked
