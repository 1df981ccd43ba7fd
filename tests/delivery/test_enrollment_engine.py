"""Enrollment end to end against the real engine (`spendtap serve`), per the contract.

Skipped until the engine has the enrollment routes; it runs once both halves exist.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from spendtap.cli.main import main
from spendtap.delivery.credentials import resolve_target
from spendtap.delivery.drops import DropReason, DropRecord
from spendtap.delivery.shipper import ShipOutcome, Shipper
from spendtap.delivery.spool import Spool
from tests.faults.conftest import load_fleet
from tests.support.processes import EngineProcess, free_port

ADMIN = "admin-secret-token-1"
ROUTES = ("/v1/devices/enroll", "/v1/devices/codes", "/v1/drops")


def engine_routes() -> set[str]:
    """Paths the engine's routers declare; empty when the engine cannot be imported."""
    try:
        import fastapi

        import spendtap.engine as package

        paths: set[str] = set()
        for info in pkgutil.iter_modules(package.__path__, "spendtap.engine."):
            module = importlib.import_module(info.name)
            for value in vars(module).values():
                if isinstance(value, fastapi.APIRouter | fastapi.FastAPI):
                    paths.update(getattr(r, "path", "") for r in value.routes)
        return paths
    except Exception:  # the engine is being built: treat as "not there yet"
        return set()


pytestmark = pytest.mark.skipif(
    not set(ROUTES) <= engine_routes(),
    reason="the engine has no enrollment and drop routes yet (issue 6)",
)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[EngineProcess]:
    process = EngineProcess(
        tmp_path / "engine.sqlite3", free_port(), tmp_path / "engine.log"
    )
    process.args += ["--api-token", f"ops:admin:{ADMIN}"]
    process.start()
    yield process
    process.stop()


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def event(n: int) -> dict[str, object]:
    return dict(load_fleet().synthetic_event(42, n))


def test_enroll_ship_revoke_with_the_real_engine(
    engine: EngineProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = ("--engine", engine.url, "--admin-token", ADMIN)
    code = json.loads(cli(capsys, "devices", "issue-code", *admin, "--json"))["code"]
    data = tmp_path / "laptop"
    cli(
        capsys,
        "enroll",
        "--engine",
        engine.url,
        "--code",
        code,
        "--data-dir",
        str(data),
    )
    target = resolve_target(data, None, None, None)
    assert target.token is not None and target.device_id is not None

    # no token, or a wrong one: refused
    anonymous = httpx.post(f"{engine.url}/v1/events", json={"events": [event(0)]})
    assert anonymous.status_code == 401

    spool = Spool(tmp_path / "spool.sqlite3")
    spool.put_many(event(n) for n in range(5))
    spool.record_drops([DropRecord("drop-e2e-1", DropReason.QUEUE_FULL, 2, 1e9, 1e9)])
    shipper = Shipper(spool, engine.url, target.token, device_id=target.device_id)
    assert shipper.ship_once().outcome is ShipOutcome.SHIPPED
    assert shipper.ship_drops_once().outcome is ShipOutcome.SHIPPED
    assert len(engine.event_ids()) == 5

    cli(capsys, "devices", "revoke", target.device_id, *admin)
    spool.put(event(9))
    refused = shipper.ship_once()
    shipper.stop(0)

    assert refused.outcome is ShipOutcome.RETRY
    assert "device_revoked" in (shipper.stats().last_error or "")
    assert spool.depth() == 1  # kept for after a new enrollment
    listed = json.loads(cli(capsys, "devices", "list", *admin, "--json"))["devices"]
    mine = next(d for d in listed if d["device_id"] == target.device_id)
    assert mine.get("revoked_at")
    drops = httpx.get(
        f"{engine.url}/v1/drops", headers={"Authorization": f"Bearer {ADMIN}"}
    ).json()
    assert "drop-e2e-1" in json.dumps(drops)
    spool.close()
