"""Schemathesis fuzzes every operation of the OpenAPI spec against the app in process.

Each answer must match the spec (status code, content type, body schema) and no
request, however odd, may make the engine fail with a 5xx. The live feed is left
out (it streams until told to stop). The app is built at import, on a SQLite file
in a temporary folder removed after the module's tests.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

from spendtap.engine.access import AccessPolicy, ApiToken
from spendtap.engine.app import create_app
from spendtap.engine.credentials import Role
from spendtap.engine.state import EngineConfig

FUZZ_EXAMPLES = 25
ADMIN = "fuzz-admin-token-0123456789"
SHARED = "fuzz-shared-token-0123456789"
#: Operations only a sender of events may call (the admin token may not ingest).
INGEST = {("POST", "/v1/events"), ("POST", "/v1/drops")}
_FOLDER = Path(tempfile.mkdtemp(prefix="spendtap-fuzz-"))
APP = create_app(
    f"sqlite:///{_FOLDER / 'engine.sqlite3'}",
    ingest_token=SHARED,
    config=EngineConfig(
        access=AccessPolicy(api_tokens=(ApiToken("fuzz", Role.ADMIN, ADMIN),))
    ),
)
schema = schemathesis.openapi.from_asgi(
    "/openapi.json", APP, headers={"Authorization": f"Bearer {ADMIN}"}
).exclude(path="/v1/feed")


@pytest.fixture(scope="module", autouse=True)
def _remove_the_database() -> Iterator[None]:
    yield
    APP.state.spendtap.db.dispose()
    shutil.rmtree(_FOLDER, ignore_errors=True)


@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_its_spec_says(case: schemathesis.Case) -> None:
    operation = (case.method.upper(), case.operation.path)
    token = SHARED if operation in INGEST else ADMIN
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"})
