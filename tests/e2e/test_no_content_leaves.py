"""A unique prompt and API key sent through the collector are stored nowhere."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from spendtap.collector.trust import write_ca_bundle
from tests.support.tls import trusting


def files_under(*roots: Path) -> list[Path]:
    return [p for root in roots for p in root.rglob("*") if p.is_file()]


def test_prompt_and_key_appear_nowhere(
    wired: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    collector, engine, _ = wired
    prompt = f"canary-prompt-{uuid.uuid4().hex}"
    api_key = f"sk-ant-api03-canary{uuid.uuid4().hex}"
    openai_key = f"sk-proj-canary{uuid.uuid4().hex}"
    bundle = write_ca_bundle(collector.ca_cert, collector.config.data_dir)

    with httpx.Client(
        proxy=collector.proxy_url, verify=trusting(bundle), timeout=30
    ) as c:
        for stream in (False, True):
            c.post(
                f"https://api.anthropic.com/v1/messages?key={api_key}",
                headers={"x-api-key": api_key, "anthropic-version": "2023-06-01"},
                json={
                    "model": "claude-haiku-4-5",
                    "max_tokens": 20,
                    "stream": stream,
                    "messages": [{"role": "user", "content": prompt}],
                },
            ).raise_for_status()
        c.post(
            "https://api.openai.com/v1/chat/completions",
            headers={"authorization": f"Bearer {openai_key}"},
            json={
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": prompt}],
            },
        ).raise_for_status()
    engine.wait_for_calls(3, timeout=5.0)
    collector.stop()  # flush and close the spool before reading files

    needles = [prompt.encode(), api_key.encode(), openai_key.encode()]
    engine_files = engine.db_path.parent.glob(engine.db_path.name + "*")
    stored = files_under(collector.config.data_dir) + list(engine_files)
    assert any(p.name.startswith("spool") for p in stored)
    for path in stored:
        if path.name.endswith(".pem"):
            continue
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data, f"{needle[:20]!r}... found in {path}"
    # The test's own httpx client logs its request URLs; the product's loggers are the
    # rest (the CLI sets httpx to WARNING, see spendtap.cli.logs).
    for record in (r for r in caplog.records if not r.name.startswith("httpx")):
        text = record.getMessage()
        for needle in needles:
            assert needle.decode() not in text
    events = engine.rows()
    assert len(events) == 3
    assert all(
        e["credential_hint"] and "canary" not in e["credential_hint"] for e in events
    )
