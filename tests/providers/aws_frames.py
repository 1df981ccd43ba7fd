"""AWS event-stream messages for tests: a plain writer of the layout, and the loader of
the Bedrock stream fixtures, whose ``response.messages`` list the messages.

The writer follows the layout in AWS's documentation (big-endian lengths, CRC32 from
zlib) and shares no code with the decoder under test. A fixture message is one of:

- ``event: NAME`` with ``json: {...}``: a ConverseStream event;
- ``event: chunk`` with ``chunk: {...}``: an invoke-stream chunk, whose payload carries
  the model's own event base64-encoded in ``bytes``;
- ``exception: NAME`` with ``json: {...}``: an exception message.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import struct
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tests.providers.exchanges import FIXTURES, Exchange, load_path

STREAMS = FIXTURES / "bedrock" / "streams"


def encode_message(
    headers: Mapping[str, str | bytes | int | bool], payload: bytes
) -> bytes:
    """One message: prelude, prelude CRC, headers, payload, message CRC."""
    block = b"".join(_header(name, value) for name, value in headers.items())
    total = 12 + len(block) + len(payload) + 4
    prelude = struct.pack(">II", total, len(block))
    head = prelude + struct.pack(">I", zlib.crc32(prelude)) + block + payload
    return head + struct.pack(">I", zlib.crc32(head))


def _header(name: str, value: str | bytes | int | bool) -> bytes:
    raw_name = name.encode()
    start = struct.pack(">B", len(raw_name)) + raw_name
    if isinstance(value, bool):
        return start + (b"\x00" if value else b"\x01")
    if isinstance(value, int):
        return start + b"\x04" + struct.pack(">i", value)
    kind, raw = (
        (b"\x07", value.encode()) if isinstance(value, str) else (b"\x06", value)
    )
    return start + kind + struct.pack(">H", len(raw)) + raw


def fixture_message(spec: Mapping[str, Any]) -> bytes:
    if "exception" in spec:
        headers = {
            ":exception-type": spec["exception"],
            ":content-type": "application/json",
            ":message-type": "exception",
        }
        return encode_message(headers, json.dumps(spec["json"]).encode())
    headers = {
        ":event-type": spec["event"],
        ":content-type": "application/json",
        ":message-type": "event",
    }
    if "chunk" in spec:
        inner = base64.b64encode(json.dumps(spec["chunk"]).encode()).decode()
        payload = json.dumps({"bytes": inner, "p": "abcdefgh"}).encode()
    else:
        payload = json.dumps(spec["json"]).encode()
    return encode_message(headers, payload)


def load_stream(name: str) -> Exchange:
    """A Bedrock stream fixture under ``bedrock/streams``, its messages framed."""
    path = STREAMS / f"{name}.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    body = b"".join(fixture_message(m) for m in document["response"]["messages"])
    exchange = load_path(path)
    return dataclasses.replace(exchange, name=f"bedrock/streams/{name}", body=body)


def stream_names() -> list[str]:
    return sorted(p.stem for p in STREAMS.glob("*.yaml"))


def stream_paths() -> list[Path]:
    return sorted(STREAMS.glob("*.yaml"))
