from __future__ import annotations

import hashlib
import hmac
import logging
import re
import stat
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spendtap.context.device import auth_from_headers, credential_hint, load_device
from spendtap.errors import ConfigError
from spendtap.event import AuthKind

SALT = bytes(range(32))
OTHER_SALT = bytes(range(1, 33))
HINT = re.compile(r"^h1:[0-9a-f]{12}$")


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def expected_hint(secret: str, salt: bytes) -> str:
    return "h1:" + hmac.new(salt, secret.encode(), hashlib.sha256).hexdigest()[:12]


def test_device_id_is_made_once_private_and_reused(tmp_path: Path) -> None:
    first = load_device(tmp_path / "data")
    second = load_device(tmp_path / "data")

    id_file = tmp_path / "data" / "device-id"
    assert first.device_id == second.device_id
    assert uuid.UUID(first.device_id).version == 4
    assert id_file.read_text().strip() == first.device_id
    assert mode_of(id_file) == 0o600


def test_each_data_dir_gets_its_own_device_id(tmp_path: Path) -> None:
    assert (
        load_device(tmp_path / "a").device_id != load_device(tmp_path / "b").device_id
    )


def test_credential_salt_is_random_private_and_reused(tmp_path: Path) -> None:
    first = load_device(tmp_path / "data")
    second = load_device(tmp_path / "data")

    salt_file = tmp_path / "data" / "credential-salt"
    assert len(first.credential_salt) == 32
    assert first.credential_salt == second.credential_salt
    assert bytes.fromhex(salt_file.read_text().strip()) == first.credential_salt
    assert mode_of(salt_file) == 0o600
    assert load_device(tmp_path / "other").credential_salt != first.credential_salt


def test_salt_never_appears_in_the_repr(tmp_path: Path) -> None:
    device = load_device(tmp_path / "data")

    assert device.credential_salt.hex() not in repr(device)


def test_device_knows_host_and_os_user(tmp_path: Path) -> None:
    device = load_device(tmp_path / "data")

    assert device.hostname
    assert device.os_user


def test_corrupt_device_id_is_replaced_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "device-id").write_bytes(b"\xff\xfe not an id")

    with caplog.at_level(logging.WARNING):
        device = load_device(data)

    assert uuid.UUID(device.device_id)
    assert load_device(data).device_id == device.device_id
    assert "context.device.file_replaced" in caplog.text


def test_loose_file_mode_is_tightened(tmp_path: Path) -> None:
    data = tmp_path / "data"
    load_device(data)
    (data / "device-id").chmod(0o644)

    load_device(data)

    assert mode_of(data / "device-id") == 0o600


def test_unusable_data_dir_is_a_config_error_naming_it(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")

    with pytest.raises(ConfigError, match=re.escape(str(blocker / "data"))):
        load_device(blocker / "data")


def test_credential_hint_is_a_salted_hmac_prefix() -> None:
    secret = "sk-ant-api03-abcdefghijklmnop"

    assert credential_hint(secret, SALT) == expected_hint(secret, SALT)
    assert credential_hint(secret, SALT) == credential_hint(secret, SALT)
    assert credential_hint(secret, SALT) != credential_hint(secret, OTHER_SALT)
    assert credential_hint(secret, SALT) != credential_hint(secret + "x", SALT)


@given(secret=st.text(min_size=8, max_size=200))
def test_credential_hint_never_contains_the_secret(secret: str) -> None:
    hint = credential_hint(secret, SALT)

    assert HINT.match(hint)
    assert secret not in hint


@pytest.mark.parametrize(
    ("headers", "query", "kind", "hinted"),
    [
        ({"x-api-key": "sk-ant-api03-KEY"}, "", AuthKind.API_KEY, "sk-ant-api03-KEY"),
        (
            {"authorization": "Bearer sk-ant-oat01-TOKEN"},
            "",
            AuthKind.OAUTH,
            "sk-ant-oat01-TOKEN",
        ),
        ({"Authorization": "Bearer sk-proj-KEY"}, "", AuthKind.API_KEY, "sk-proj-KEY"),
        ({"authorization": "Bearer ya29.a0AfH6SM"}, "", AuthKind.GCP, "ya29.a0AfH6SM"),
        (
            {"authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"},
            "",
            AuthKind.OAUTH,
            "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
        ),
        (
            {
                "authorization": (
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/"
                    "bedrock/aws4_request, SignedHeaders=host;x-amz-date, "
                    "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
                )
            },
            "",
            AuthKind.AWS_SIGV4,
            "AKIDEXAMPLE",
        ),
        ({"api-key": "azure-KEY"}, "", AuthKind.API_KEY, "azure-KEY"),
        ({"x-goog-api-key": "AIzaSyKEY"}, "", AuthKind.API_KEY, "AIzaSyKEY"),
        ({}, "alt=sse&key=AIzaSyQUERY", AuthKind.API_KEY, "AIzaSyQUERY"),
        (
            {},
            "X-Amz-Credential=AKIDQUERY%2F20250101%2Fus-east-1%2Fbedrock%2Faws4_request",
            AuthKind.AWS_SIGV4,
            "AKIDQUERY",
        ),
        (
            {
                "cookie": (
                    "cf_clearance=abc; sessionKey=sk-ant-sid01-SESSION; lastActiveOrg=x"
                )
            },
            "",
            AuthKind.COOKIE,
            "sk-ant-sid01-SESSION",
        ),
        (
            {"cookie": "__Secure-next-auth.session-token=CHATGPT; oai-did=d"},
            "",
            AuthKind.COOKIE,
            "CHATGPT",
        ),
    ],
)
def test_auth_kind_and_hint_from_request_headers(
    headers: dict[str, str], query: str, kind: AuthKind, hinted: str
) -> None:
    found = auth_from_headers(headers, SALT, query)

    assert found == (kind, expected_hint(hinted, SALT))
    assert hinted not in repr(found)


def test_aws_signature_is_not_what_is_hinted() -> None:
    signature = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    header = (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/"
        f"aws4_request, SignedHeaders=host, Signature={signature}"
    )

    _, hint = auth_from_headers({"authorization": header}, SALT)

    assert hint != expected_hint(header, SALT)
    assert hint != expected_hint(signature, SALT)


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ({}, ""),
        ({"user-agent": "curl/8.5.0"}, "beta=true"),
        ({"cookie": "cf_clearance=abc; theme=dark"}, ""),
        ({"cookie": ";;=;garbage"}, ""),
        ({"x-api-key": "   "}, ""),
    ],
)
def test_no_credential_gives_no_kind_and_no_hint(
    headers: dict[str, str], query: str
) -> None:
    assert auth_from_headers(headers, SALT, query) == (None, None)


def test_sigv4_without_credential_part_has_a_kind_but_no_hint() -> None:
    found = auth_from_headers({"authorization": "AWS4-HMAC-SHA256 garbage"}, SALT)

    assert found == (AuthKind.AWS_SIGV4, None)
