"""Recorded-shape provider exchanges stored as fixture files, and ways to replay them.

A fixture is a YAML file holding ``request`` (method, url, headers, and ``json`` or a
text ``body``) and ``response`` (status, headers, and ``json`` or a text ``body``; an
event stream is kept verbatim in a ``|+`` block so its blank lines survive).
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from spendtap.providers.base import (
    ParsedCall,
    RequestInfo,
    ResponseHead,
    ResponseReader,
)
from spendtap.providers.registry import default_registry

FIXTURES = Path(__file__).parents[1] / "fixtures" / "providers"


@dataclass(frozen=True)
class Exchange:
    name: str
    request: RequestInfo
    head: ResponseHead
    body: bytes

    def reader(self) -> ResponseReader:
        route = default_registry().route(self.request)
        assert route is not None, f"no route for {self.request.host}{self.request.path}"
        return route.reader(self.request, self.head)


def fixture_paths() -> list[Path]:
    return sorted(FIXTURES.glob("*/*.yaml"))


def load(relative: str) -> Exchange:
    """A fixture by its path under tests/fixtures/providers, e.g. ``openai_chat/x``."""
    return load_path(FIXTURES / f"{relative}.yaml")


def load_path(path: Path) -> Exchange:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    request, response = document["request"], document["response"]
    url = urlsplit(request["url"])
    return Exchange(
        name=f"{path.parent.name}/{path.stem}",
        request=RequestInfo(
            method=request["method"],
            host=url.hostname or "",
            path=url.path + (f"?{url.query}" if url.query else ""),
            headers=_headers(request.get("headers", {})),
            body=_body(request),
        ),
        head=ResponseHead(
            status=response["status"], headers=_headers(response.get("headers", {}))
        ),
        body=_body(response),
    )


def parse(
    exchange: Exchange,
    chunks: Iterable[bytes] | None = None,
    *,
    complete: bool = True,
) -> ParsedCall:
    """Feed the response body (whole, or in the given pieces) and finish."""
    reader = exchange.reader()
    for chunk in [exchange.body] if chunks is None else chunks:
        reader.feed(chunk)
    return reader.finish(complete=complete)


def one_byte_at_a_time(data: bytes) -> Iterator[bytes]:
    return (data[i : i + 1] for i in range(len(data)))


def random_splits(data: bytes, rng: random.Random, pieces: int = 12) -> list[bytes]:
    cuts = sorted(rng.randrange(len(data) + 1) for _ in range(pieces - 1))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def _headers(raw: Mapping[str, Any]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in raw.items()}


def _body(message: Mapping[str, Any]) -> bytes:
    if "json" in message:
        return json.dumps(message["json"]).encode()
    return str(message.get("body", "")).encode()


def inline(
    url: str,
    request_json: dict[str, Any],
    status: int,
    content_type: str,
    body: str,
) -> Exchange:
    """A small exchange written in the test itself, for edge cases of one field."""
    parts = urlsplit(url)
    return Exchange(
        name=f"inline {url}",
        request=RequestInfo(
            method="POST",
            host=parts.hostname or "",
            path=parts.path + (f"?{parts.query}" if parts.query else ""),
            headers={"content-type": "application/json"},
            body=json.dumps(request_json).encode(),
        ),
        head=ResponseHead(status=status, headers={"content-type": content_type}),
        body=body.encode(),
    )
