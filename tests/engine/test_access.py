"""Access: open on a lone laptop, else every request needs the right token."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from spendtap.cli.commands import _engine_config
from spendtap.cli.main import build_parser, main
from spendtap.engine import credentials
from spendtap.engine.access import AccessPolicy, ApiToken
from spendtap.engine.app import create_app
from spendtap.engine.credentials import Role
from spendtap.engine.database import open_database
from spendtap.engine.server import serve
from spendtap.engine.state import EngineConfig
from spendtap.errors import ConfigError

from .conftest import EventFactory

VIEWER = "viewer-token-0123456789"
ADMIN = "admin-token-0123456789ab"
GUARDED = EngineConfig(
    access=AccessPolicy(
        api_tokens=(
            ApiToken("grafana", Role.VIEWER, VIEWER),
            ApiToken("ops", Role.ADMIN, ADMIN),
        ),
        enrollment=True,
    )
)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def guarded(db_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(db_url, config=GUARDED)) as test_client:
        yield test_client


def enroll_device(client: TestClient, admin: dict[str, str]) -> dict[str, Any]:
    code = client.post("/v1/devices/codes", json={"note": "ana"}, headers=admin)
    assert code.status_code == 201, code.text
    body = {"code": code.json()["code"], "hostname": "ana-mac", "os_user": "ana"}
    enrolled = client.post("/v1/devices/enroll", json=body)
    assert enrolled.status_code == 200, enrolled.text
    device: dict[str, Any] = enrolled.json()
    return device


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/report"),
        ("GET", "/v1/spend"),
        ("GET", "/v1/events"),
        ("GET", "/v1/events/x"),
        ("GET", "/v1/feed"),
        ("POST", "/v1/events"),
        ("POST", "/v1/drops"),
        ("GET", "/v1/devices"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/no/such/path"),
    ],
)
def test_an_unauthenticated_request_gets_nothing_but_a_401(
    guarded: TestClient, method: str, path: str
) -> None:
    response = guarded.request(method, path, headers=bearer("made-up"))
    anonymous = guarded.request(method, path)

    for answer in (response, anonymous):
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"] == "Bearer"
        assert list(answer.json()) == ["error"]
        assert answer.json()["error"]["code"] == "unauthorized"


def test_health_and_enrollment_need_no_token(guarded: TestClient) -> None:
    assert guarded.get("/healthz").json() == {"status": "ok"}
    bad_code = {"code": "NOPE-NOPE", "hostname": "h", "os_user": "u"}
    response = guarded.post("/v1/devices/enroll", json=bad_code)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "enrollment_code_invalid"


def test_viewer_reads_but_may_not_ingest_or_manage_devices(
    guarded: TestClient, make_event: EventFactory
) -> None:
    viewer = bearer(VIEWER)

    assert guarded.get("/v1/report", headers=viewer).status_code == 200
    assert guarded.get("/metrics", headers=viewer).status_code == 200
    for response in (
        guarded.post("/v1/events", json={"events": [make_event()]}, headers=viewer),
        guarded.get("/v1/devices", headers=viewer),
        guarded.post("/v1/devices/codes", json={}, headers=viewer),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"


def test_enrolled_device_ingests_and_nothing_else(
    guarded: TestClient, make_event: EventFactory
) -> None:
    device = enroll_device(guarded, bearer(ADMIN))
    token = bearer(device["token"])

    ingest = guarded.post("/v1/events", json={"events": [make_event()]}, headers=token)
    report = guarded.get("/v1/report", headers=token)
    listed = guarded.get("/v1/devices", headers=bearer(ADMIN)).json()["devices"]
    stored = guarded.get("/v1/events", headers=bearer(VIEWER)).json()["events"]

    assert ingest.status_code == 200
    assert report.status_code == 403
    assert [(d["device_id"], d["hostname"], d["note"]) for d in listed] == [
        (device["device_id"], "ana-mac", "ana")
    ]
    assert stored[0]["shipped_by"] == device["device_id"]


def test_revoked_and_unknown_devices_are_refused_by_name(
    guarded: TestClient, make_event: EventFactory
) -> None:
    device = enroll_device(guarded, bearer(ADMIN))
    revoked = guarded.post(
        f"/v1/devices/{device['device_id']}/revoke", headers=bearer(ADMIN)
    )
    batch = {"events": [make_event()]}

    after = guarded.post("/v1/events", json=batch, headers=bearer(device["token"]))
    forged = device["token"].rsplit(".", 1)[0] + ".wrong-secret"
    unknown = guarded.post("/v1/events", json=batch, headers=bearer(forged))
    no_device = guarded.post("/v1/devices/dev_nothing/revoke", headers=bearer(ADMIN))

    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert after.status_code == 401
    assert after.json()["error"]["code"] == "device_revoked"
    assert unknown.status_code == 401
    assert unknown.json()["error"]["code"] == "device_unknown"
    assert no_device.status_code == 404


def test_a_code_is_good_once_and_until_it_expires(
    guarded: TestClient, db_url: str
) -> None:
    code = guarded.post(
        "/v1/devices/codes", json={"ttl_seconds": 600}, headers=bearer(ADMIN)
    ).json()["code"]
    body = {"code": code.lower().replace("-", ""), "hostname": "h", "os_user": "u"}
    engine = open_database(db_url)
    try:
        old = credentials.issue_code(
            engine, datetime.now(UTC) - timedelta(hours=2), timedelta(hours=1), None
        )
    finally:
        engine.dispose()

    first = guarded.post("/v1/devices/enroll", json=body)
    second = guarded.post("/v1/devices/enroll", json=body)
    expired = guarded.post("/v1/devices/enroll", json=body | {"code": old.code})

    assert first.status_code == 200  # codes are read without case or dashes
    assert second.status_code == 401
    assert expired.status_code == 401
    assert expired.json()["error"]["code"] == "enrollment_code_invalid"


def test_one_code_enrolls_one_device_across_replicas(db_url: str) -> None:
    with (
        TestClient(create_app(db_url, config=GUARDED)) as one,
        TestClient(create_app(db_url, config=GUARDED)) as two,
    ):
        code = one.post("/v1/devices/codes", json={}, headers=bearer(ADMIN)).json()
        body = {"code": code["code"], "hostname": "h", "os_user": "u"}
        statuses: list[int] = []
        start = threading.Barrier(4)

        def enroll(client: TestClient) -> None:
            start.wait()
            statuses.append(client.post("/v1/devices/enroll", json=body).status_code)

        threads = [threading.Thread(target=enroll, args=(c,)) for c in (one, two) * 2]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)

    assert sorted(statuses) == [200, 401, 401, 401]


def test_open_laptop_engine_closes_once_a_device_enrolls(
    client: TestClient,
) -> None:
    assert client.get("/v1/report").status_code == 200

    code = client.post("/v1/devices/codes", json={}).json()["code"]
    enrolled = client.post(
        "/v1/devices/enroll", json={"code": code, "hostname": "h", "os_user": "u"}
    ).json()

    assert client.get("/v1/report").status_code == 401
    device = bearer(enrolled["token"])
    assert (
        client.post("/v1/events", json={"events": []}, headers=device).status_code
        == 200
    )


def test_api_token_stored_in_the_database_works(db_url: str) -> None:
    engine = open_database(db_url)
    with TestClient(create_app(db_url, config=GUARDED)) as app_client:
        token = credentials.create_api_token(
            engine, "bi", Role.VIEWER, datetime.now(UTC)
        )
        engine.dispose()
        ok = app_client.get("/v1/report", headers=bearer(token))
        wrong = app_client.get("/v1/report", headers=bearer(token[:-2] + "xx"))

    assert ok.status_code == 200
    assert wrong.status_code == 401


def test_engine_beyond_loopback_refuses_to_start_without_enrollment(
    db_url: str,
) -> None:
    with pytest.raises(ConfigError, match="--enrollment"):
        serve(db_url, "0.0.0.0", 0)
    with pytest.raises(ConfigError, match="--enrollment"):
        serve(db_url, "10.1.2.3", 0, ingest_token="shared-secret-1234")

    AccessPolicy(enrollment=True, loopback_only=False).check_exposure("0.0.0.0")
    AccessPolicy(loopback_only=True).check_exposure("127.0.0.1")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("ops:root:abcdefghijklmnopq", "ROLE one of viewer, admin"),
        ("ops:admin", "NAME:ROLE:TOKEN"),
        (":admin:abcdefghijklmnopq", "NAME:ROLE:TOKEN"),
        ("ops:admin:short", "at least 16"),
    ],
)
def test_bad_api_token_flag_says_how_to_write_it(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ApiToken.parse(spec)


def test_api_token_repr_hides_the_token() -> None:
    token = ApiToken.parse("ops:admin:abcdefghijklmnopqrstu")

    assert "abcdefghijklmnopqrstu" not in repr(token)


def test_serve_flags_build_the_engine_config() -> None:
    args = build_parser().parse_args(
        [
            "serve",
            "--api-token",
            "ops:admin:abcdefghijklmnopqrstu",
            "--api-token",
            "bi:viewer:zyxwvutsrqponmlkjih",
            "--enrollment",
            "--retain-events",
            "90d",
            "--no-migrate",
        ]
    )

    config = _engine_config(args)

    assert [(t.name, t.role) for t in config.access.api_tokens] == [
        ("ops", Role.ADMIN),
        ("bi", Role.VIEWER),
    ]
    assert config.access.enrollment is True
    assert config.retain_events == timedelta(days=90)
    assert config.migrate is False


def test_db_create_token_prints_a_working_viewer_token(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "create-token", "grafana", "viewer", "--db", db_url]) == 0
    token = capsys.readouterr().out.strip()

    with TestClient(create_app(db_url, config=GUARDED)) as app_client:
        report = app_client.get("/v1/report", headers=bearer(token))
        devices = app_client.get("/v1/devices", headers=bearer(token))

    assert token.startswith("sta1.tok_")
    assert report.status_code == 200
    assert devices.status_code == 403


def test_a_nul_in_device_fields_is_refused_not_a_database_error(
    guarded: TestClient,
) -> None:
    """PostgreSQL cannot store or compare NUL (these were 500 there)."""
    admin = bearer(ADMIN)
    note = guarded.post("/v1/devices/codes", json={"note": "a\u0000b"}, headers=admin)
    code = guarded.post("/v1/devices/codes", json={}, headers=admin).json()["code"]
    enroll = guarded.post(
        "/v1/devices/enroll",
        json={"code": code, "hostname": "h\u0000", "os_user": "ana"},
    )
    revoke = guarded.post("/v1/devices/a%00b/revoke", headers=admin)

    assert (note.status_code, enroll.status_code, revoke.status_code) == (
        422,
        422,
        404,
    )
