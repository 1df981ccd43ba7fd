"""Enrollment client: codes for tokens, user-only token file, TLS and refusals."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from spendtap.delivery.credentials import (
    DeviceCredentials,
    load_credentials,
    resolve_target,
    save_credentials,
)
from spendtap.delivery.endpoint import EngineEndpoint
from spendtap.delivery.enrollment import enroll, issue_code, list_devices, revoke_device
from spendtap.errors import ConfigError, EngineError
from spendtap.simulator.certs import TestPKI
from tests.support.fake_engine import FakeEngine

ADMIN = "admin-token-1"


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    with FakeEngine(admin_token=ADMIN) as e:
        yield e


def test_a_code_is_traded_for_a_device_token(engine: FakeEngine) -> None:
    endpoint = EngineEndpoint.parse(engine.url)
    issued = issue_code(endpoint, ADMIN, note="alice laptop", ttl_seconds=600)

    got = enroll(endpoint, issued.code, hostname="alice-mbp", os_user="alice")

    (device,) = engine.devices.values()
    assert (got.device_id, got.token) == (device.device_id, device.token)
    assert got.engine_url == engine.url
    assert engine.codes == {}  # used up
    assert engine.enroll_requests == [
        {"code": issued.code, "hostname": "alice-mbp", "os_user": "alice"}
    ]
    assert got.token not in repr(got)  # never in a repr or a log line


def test_codes_are_issued_with_the_note_and_ttl(engine: FakeEngine) -> None:
    issued = issue_code(
        EngineEndpoint.parse(engine.url), ADMIN, note="n", ttl_seconds=60
    )
    assert engine.codes[issued.code] == {"note": "n", "ttl_seconds": 60}
    assert issued.expires_at == "2030-01-01T00:00:00Z"


def test_an_unknown_or_used_code_is_refused_with_what_to_do(engine: FakeEngine) -> None:
    endpoint = EngineEndpoint.parse(engine.url)
    code = engine.issue()
    enroll(endpoint, code, hostname="h", os_user="u")

    with pytest.raises(
        EngineError, match=r"unknown, already used or expired.*issue-code"
    ):
        enroll(endpoint, code, hostname="h", os_user="u")


def test_a_wrong_admin_token_is_refused(engine: FakeEngine) -> None:
    with pytest.raises(EngineError, match=r"refused the admin token \(HTTP 401\)"):
        issue_code(EngineEndpoint.parse(engine.url), "not-the-admin")


def test_list_and_revoke_devices(engine: FakeEngine) -> None:
    endpoint = EngineEndpoint.parse(engine.url)
    first = enroll(endpoint, engine.issue(), hostname="a", os_user="u1")
    enroll(endpoint, engine.issue(), hostname="b", os_user="u2")

    revoke_device(endpoint, ADMIN, first.device_id)
    devices = {d["device_id"]: d for d in list_devices(endpoint, ADMIN)}

    assert len(devices) == 2
    assert devices[first.device_id]["revoked_at"] is not None
    assert engine.devices[first.device_id].revoked


def test_revoking_an_unknown_device_says_so(engine: FakeEngine) -> None:
    with pytest.raises(EngineError, match="does not exist"):
        revoke_device(EngineEndpoint.parse(engine.url), ADMIN, "dev_nope")


def test_an_engine_without_enrollment_gives_a_clear_error() -> None:
    with FakeEngine() as plain, pytest.raises(EngineError, match=r"upgrade the engine"):
        enroll(EngineEndpoint.parse(plain.url), "c", hostname="h", os_user="u")


def test_an_unreachable_engine_says_to_check_the_url() -> None:
    endpoint = EngineEndpoint.parse("http://127.0.0.1:9")  # discard port: nothing
    with pytest.raises(EngineError, match="cannot be reached"):
        enroll(endpoint, "c", hostname="h", os_user="u")


@pytest.mark.parametrize(
    "url", ["http://engine.example.com", "http://10.1.2.3:8878", "ftp://127.0.0.1"]
)
def test_plain_http_is_refused_except_on_loopback(url: str) -> None:
    with pytest.raises(ConfigError):
        EngineEndpoint.parse(url)


def test_tls_needs_the_engines_ca_when_it_is_not_public(pki: TestPKI) -> None:
    with FakeEngine(tls=(pki.leaf_cert, pki.leaf_key), admin_token=ADMIN) as engine:
        with pytest.raises(EngineError, match=r"not trusted.*--ca-bundle"):
            enroll(EngineEndpoint.parse(engine.url), "c", hostname="h", os_user="u")
        endpoint = EngineEndpoint.parse(engine.url, pki.ca_cert)
        got = enroll(endpoint, engine.issue(), hostname="h", os_user="u")

    assert got.engine_url.startswith("https://")
    assert got.ca_bundle == pki.ca_cert


def test_a_missing_ca_bundle_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        EngineEndpoint.parse("https://e.example.com", tmp_path / "none.pem")


def test_credentials_file_is_user_only_and_round_trips(tmp_path: Path) -> None:
    creds = DeviceCredentials(
        "https://e.example.com", "dev_1", "tok-123", tmp_path / "ca.pem", "2026-01-01"
    )

    path = save_credentials(tmp_path / "data", creds)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_credentials(tmp_path / "data") == creds
    assert json.loads(path.read_text())["token"] == "tok-123"


def test_a_too_open_credentials_file_is_tightened(tmp_path: Path) -> None:
    creds = DeviceCredentials("https://e.example.com", "dev_1", "t", None, "")
    path = save_credentials(tmp_path, creds)
    path.chmod(0o644)

    assert load_credentials(tmp_path) == creds
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_damaged_credentials_file_says_how_to_enroll_again(tmp_path: Path) -> None:
    (tmp_path / "device-token.json").write_text("{not json")
    with pytest.raises(ConfigError, match="enroll again"):
        load_credentials(tmp_path)


def test_collector_target_falls_back_to_the_enrollment(tmp_path: Path) -> None:
    creds = DeviceCredentials("https://e.example.com", "dev_1", "tok", None, "")
    save_credentials(tmp_path, creds)

    stored = resolve_target(tmp_path, None, None, None)
    same_engine = resolve_target(tmp_path, "https://e.example.com/", None, None)
    explicit = resolve_target(tmp_path, None, "other-token", None)
    elsewhere = resolve_target(tmp_path, "https://other.example.com", None, None)

    assert (stored.engine_url, stored.token, stored.device_id) == (
        "https://e.example.com",
        "tok",
        "dev_1",
    )
    assert same_engine.token == "tok"
    assert explicit.token == "other-token"
    assert (elsewhere.engine_url, elsewhere.token) == (
        "https://other.example.com",
        None,
    )


def test_no_enrollment_means_the_command_line_alone(tmp_path: Path) -> None:
    target = resolve_target(tmp_path, "http://127.0.0.1:1", "t", None)
    assert (target.engine_url, target.token) == ("http://127.0.0.1:1", "t")
    assert resolve_target(tmp_path, None, None, None).engine_url is None
