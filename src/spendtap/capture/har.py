"""HTTP exchanges from a HAR 1.2 file, as browsers and mitmproxy export them.

Each entry becomes a ``HarExchange``: the request and response head in the same shapes
the proxy hands the parsers, and the response body as bytes. HAR holds bodies already
decoded of their content-encoding, as text, or as base64 when
``content.encoding`` says so. A malformed file raises ``InputError`` naming the file,
the entry and what is wrong with it.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from spendtap.errors import InputError
from spendtap.providers.base import RequestInfo, ResponseHead

log = logging.getLogger(__name__)

BASE64 = "base64"


@dataclass(frozen=True, slots=True)
class HarExchange:
    """One request and its response, read from a HAR entry."""

    request: RequestInfo
    response: ResponseHead
    #: The response body, decoded of any content-encoding.
    body: bytes
    #: When the request started (UTC).
    started_at: datetime
    #: The entry's total time in milliseconds; None when the HAR does not know it.
    time_ms: float | None


def read_har(path: Path) -> Iterator[HarExchange]:
    """Every entry of the HAR file at ``path``, in file order."""
    entries = _entries(path, _load(path))
    for index, entry in enumerate(entries):
        yield _EntryReader(path, index).exchange(entry)


def _load(path: Path) -> object:
    try:
        with path.open("rb") as handle:
            return json.load(handle)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the HAR file ({exc.strerror})") from exc
    except (ValueError, RecursionError) as exc:
        raise InputError(
            f"{path}: not a HAR file: the content is not valid JSON ({exc}); "
            "export it again as HAR from the browser or mitmproxy"
        ) from exc


def _entries(path: Path, document: object) -> list[Any]:
    log_object = document.get("log") if isinstance(document, dict) else None
    entries = log_object.get("entries") if isinstance(log_object, dict) else None
    if not isinstance(entries, list):
        raise InputError(
            f"{path}: not a HAR file: expected a JSON object with log.entries as a "
            "list; export it again as HAR from the browser or mitmproxy"
        )
    return entries


class _EntryReader:
    """Reads one entry; every complaint names the file and the entry's index."""

    def __init__(self, path: Path, index: int) -> None:
        self._path = path
        self._index = index

    def exchange(self, entry: object) -> HarExchange:
        entry = self._object(entry, "the entry")
        request = self._object(entry.get("request"), "request")
        response = self._object(entry.get("response"), "response")
        return HarExchange(
            request=self._request(request),
            response=ResponseHead(
                status=self._status(response.get("status")),
                headers=self._headers(response.get("headers"), "response.headers"),
            ),
            body=self._content(self._object(response.get("content", {}), "content")),
            started_at=self._started_at(entry.get("startedDateTime")),
            time_ms=self._time(entry.get("time")),
        )

    def _request(self, request: Mapping[str, Any]) -> RequestInfo:
        method = request.get("method")
        url = request.get("url")
        if not isinstance(method, str) or not method:
            raise self._error(f"request.method is {method!r}, expected a method name")
        if not isinstance(url, str):
            raise self._error(f"request.url is {url!r}, expected an absolute URL")
        parts = urlsplit(url)
        if not parts.hostname:
            raise self._error(f"request.url {url!r} has no host name")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        post_data = self._object(request.get("postData", {}), "request.postData")
        return RequestInfo(
            method=method.upper(),
            host=parts.hostname,
            path=path,
            headers=self._headers(request.get("headers"), "request.headers"),
            body=self._text(post_data, "request.postData"),
        )

    def _headers(self, value: object, where: str) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, list):
            raise self._error(f"{where} is {type(value).__name__}, expected a list")
        headers: dict[str, str] = {}
        for item in value:
            name, text = self._header(item, where)
            if name.startswith(":"):  # HTTP/2 pseudo-headers are not headers
                continue
            headers[name] = f"{headers[name]}, {text}" if name in headers else text
        return headers

    def _header(self, item: object, where: str) -> tuple[str, str]:
        header = self._object(item, f"an item of {where}")
        name, value = header.get("name"), header.get("value")
        if not isinstance(name, str) or not isinstance(value, str):
            raise self._error(f"{where} has an item without string name and value")
        return name.lower(), value

    def _content(self, content: Mapping[str, Any]) -> bytes:
        return self._text(content, "response.content")

    def _text(self, holder: Mapping[str, Any], where: str) -> bytes:
        text = holder.get("text")
        if text is None:
            return b""
        if not isinstance(text, str):
            raise self._error(f"{where}.text is {type(text).__name__}, expected text")
        if holder.get("encoding") != BASE64:
            return text.encode("utf-8", "surrogatepass")
        try:
            return base64.b64decode(text, validate=True)
        except binascii.Error as exc:
            raise self._error(f"{where}.text is not valid base64 ({exc})") from exc

    def _status(self, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self._error(f"response.status is {value!r}, expected an HTTP status")
        return value

    def _started_at(self, value: object) -> datetime:
        if not isinstance(value, str):
            raise self._error(
                f"startedDateTime is {value!r}, expected an ISO 8601 date and time"
            )
        try:
            started = datetime.fromisoformat(value)
        except ValueError as exc:
            raise self._error(
                f"startedDateTime {value!r} is not an ISO 8601 date and time"
            ) from exc
        if started.tzinfo is None:
            raise self._error(
                f"startedDateTime {value!r} has no time zone; HAR requires one "
                "(for example 2025-01-31T09:30:00.000Z)"
            )
        return started.astimezone(UTC)

    def _time(self, value: object) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value) if value >= 0 else None  # HAR writes -1 for unknown

    def _object(self, value: object, what: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self._error(f"{what} is {type(value).__name__}, expected an object")
        return value

    def _error(self, problem: str) -> InputError:
        return InputError(f"{self._path}: entry {self._index}: {problem}")
