"""EngineServer and serve(): uvicorn on a loopback port, and database URL errors."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from spendtap.engine.app import DB_URL_ENV, TOKEN_ENV, app_from_environment, create_app
from spendtap.engine.server import EngineServer, close_app, serve
from spendtap.errors import ConfigError, EngineError

from .conftest import EventFactory


def test_server_in_a_thread_answers_on_its_bound_port(
    db_url: str, make_event: EventFactory
) -> None:
    server = EngineServer(db_url, "127.0.0.1", 0, ingest_token="tok")
    server.start_in_thread()
    try:
        assert server.url.startswith("http://127.0.0.1:")
        assert not server.url.endswith(":0")
        health = httpx.get(server.url + "/healthz", timeout=5)
        ingest = httpx.post(
            server.url + "/v1/events",
            json={"events": [make_event()]},
            headers={"Authorization": "Bearer tok"},
            timeout=5,
        )
    finally:
        server.stop()

    assert health.json() == {"status": "ok"}
    assert ingest.json() == {
        "accepted": 1,
        "duplicates": 0,
        "cross_source_duplicates": 0,
    }
    assert not server.server.started or server.server.should_exit


def test_serve_returns_an_unstarted_uvicorn_server(db_url: str) -> None:
    server = serve(db_url, "127.0.0.1", 0)
    close_app(server)

    assert isinstance(server, uvicorn.Server)
    assert not server.started
    assert (server.config.host, server.config.port) == ("127.0.0.1", 0)


def test_taken_port_is_an_engine_error(db_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = EngineServer(db_url, "127.0.0.1", port)

        with pytest.raises(EngineError, match=f"127.0.0.1:{port}"):
            server.start_in_thread(timeout=5)


@pytest.mark.parametrize(
    "url",
    ["sqlite://", "sqlite:///:memory:", "mysql://db/x", "not a url"],
)
def test_unusable_database_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="sqlite:///"):
        create_app(url)


def test_nested_database_folder_is_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "engine.sqlite3"

    create_app(f"sqlite:///{path}")

    assert path.is_file()


def test_app_from_environment_reads_the_database_url(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DB_URL_ENV, raising=False)
    with pytest.raises(ConfigError, match=DB_URL_ENV):
        app_from_environment()

    monkeypatch.setenv(DB_URL_ENV, db_url)
    monkeypatch.setenv(TOKEN_ENV, "env-token")
    with TestClient(app_from_environment()) as client:
        assert client.get("/v1/report").status_code == 401
        assert client.get("/healthz").json() == {"status": "ok"}
