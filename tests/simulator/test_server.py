from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from spendtap.errors import ConfigError
from spendtap.simulator import RunningSimulator, TestPKI, read_ledger, start_simulator
from tests.simulator.conftest import trusting


def test_head_and_get_root_answer_200(sim: RunningSimulator, pki: TestPKI) -> None:
    with httpx.Client(base_url=sim.url, verify=trusting(pki.ca_cert)) as client:
        assert client.head("/").status_code == 200
        assert client.get("/").status_code == 200


def test_url_names_the_bound_port(sim: RunningSimulator) -> None:
    assert sim.port > 0
    assert sim.url == f"https://127.0.0.1:{sim.port}"


def test_provider_host_header_is_recorded_without_port(
    sim: RunningSimulator, pki: TestPKI, ledger_path: Path
) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(verify=trusting(pki.ca_cert)) as client:
        response = client.post(
            f"{sim.url}/v1/chat/completions",
            json=body,
            headers={"host": f"api.openai.com:{sim.port}"},
        )

    entry = [
        e for e in read_ledger(ledger_path) if e.response_id == response.json()["id"]
    ]
    assert [e.host for e in entry] == ["api.openai.com"]


def test_a_busy_port_is_a_config_error_naming_it(pki: TestPKI) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"127.0.0.1:{port}"):
            start_simulator(pki, port=port)


def test_a_missing_certificate_is_a_config_error(tmp_path: Path) -> None:
    missing = TestPKI(tmp_path / "ca.pem", tmp_path / "no.pem", tmp_path / "no-key.pem")

    with pytest.raises(ConfigError, match="make_test_pki"):
        start_simulator(missing)


def test_stop_is_idempotent_and_frees_the_port(pki: TestPKI) -> None:
    running = start_simulator(pki)
    running.stop()
    running.stop()

    with socket.create_server(("127.0.0.1", running.port)):
        pass  # binds: nothing listens there any more


def test_module_entry_point_prints_port_and_ca_then_serves(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    command = [
        sys.executable,
        "-m",
        "spendtap.simulator",
        "--port",
        "0",
        "--cert-dir",
        str(tmp_path / "certs"),
        "--ledger",
        str(ledger),
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as process:
        try:
            assert process.stdout is not None
            ready = json.loads(process.stdout.readline())
            body = {"model": "gpt-4.1", "input": "hi"}
            with httpx.Client(verify=trusting(ready["ca_cert"])) as client:
                url = f"https://127.0.0.1:{ready['port']}/v1/responses"
                answer = client.post(url, json=body).json()
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=15)

    assert ready["ca_cert"] == str(tmp_path / "certs" / "ca.pem")
    assert code == 0
    assert [e.response_id for e in read_ledger(ledger)] == [answer["id"]]
    assert answer["usage"]["input_tokens"] == 1


def test_ledger_path_keeps_beta_but_drops_other_query_values(
    sim: RunningSimulator, pki: TestPKI, ledger_path: Path
) -> None:
    body = {
        "model": "m",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}],
    }
    with httpx.Client(verify=trusting(pki.ca_cert)) as client:
        answer = client.post(
            f"{sim.url}/v1/messages?beta=true&key=sk-secret-value", json=body
        ).json()

    entry = [e for e in read_ledger(ledger_path) if e.response_id == answer["id"]]
    assert [e.path for e in entry] == ["/v1/messages?beta=true"]
