"""Reading HAR files into exchanges the parsers can take."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from spendtap.capture.har import HarExchange, read_har
from spendtap.errors import InputError
from spendtap.providers.registry import default_registry

HAR_FIXTURES = Path(__file__).parents[1] / "fixtures" / "har"
GOOD = HAR_FIXTURES / "text_and_base64_bodies.har"
PNG_START = bytes.fromhex("89504e470d0a1a0a")


def _exchanges() -> list[HarExchange]:
    return list(read_har(GOOD))


def test_every_entry_becomes_an_exchange_in_file_order() -> None:
    hosts = [e.request.host for e in _exchanges()]

    assert hosts == ["api.anthropic.com", "api.openai.com", "t3.ftcdn.net"]


def test_request_line_and_headers_are_in_the_parsers_shape() -> None:
    first, second, _ = _exchanges()

    assert (first.request.method, first.request.path) == (
        "POST",
        "/v1/messages?beta=true",
    )
    assert first.request.headers["anthropic-version"] == "2023-06-01"
    assert first.request.headers["anthropic-beta"] == (
        "claude-code-20250219, interleaved-thinking-2025-05-14"
    )
    assert second.request.method == "POST"  # written in lower case in the file
    assert ":authority" not in second.request.headers
    assert (
        second.response.headers["x-request-id"]
        == "req_5d2c0f7e9a3b4c1d8e6f2a0b9c7d5e3f"
    )


def test_request_body_comes_from_post_data() -> None:
    first, _, image = _exchanges()

    assert json.loads(first.request.body)["model"] == "claude-sonnet-4-5"
    assert image.request.body == b""


def test_text_body_is_the_content_text() -> None:
    first = _exchanges()[0]

    assert first.response.status == 200
    assert json.loads(first.body)["usage"]["cache_read_input_tokens"] == 2455


def test_base64_bodies_are_decoded() -> None:
    _, stream, image = _exchanges()

    assert stream.body.startswith(
        b'data: {"id":"chatcmpl-Dx0XpqH8w09uBXwq1zFGYdETjtnEl"'
    )
    assert stream.body.endswith(b"data: [DONE]\n\n")
    assert image.body.startswith(PNG_START)


def test_start_times_are_utc_and_times_are_milliseconds() -> None:
    first, second, image = _exchanges()

    assert first.started_at == datetime(2025, 10, 1, 9, 30, 0, 125000, tzinfo=UTC)
    assert second.started_at == datetime(2025, 10, 1, 9, 31, 2, 500000, tzinfo=UTC)
    assert second.started_at.utcoffset() is not None
    assert (first.time_ms, second.time_ms, image.time_ms) == (1234.5, 2877.0, None)


def test_exchanges_feed_the_parsers() -> None:
    _, stream, _ = _exchanges()
    route = default_registry().route(stream.request)
    assert route is not None
    reader = route.reader(stream.request, stream.response)
    reader.feed(stream.body)

    call = reader.finish(complete=True)

    assert (call.usage.input_tokens, call.usage.output_tokens) == (53, 15)


def test_a_malformed_entry_names_the_file_the_entry_and_the_field() -> None:
    path = HAR_FIXTURES / "missing_response_status.har"
    exchanges = read_har(path)

    assert next(exchanges).request.host == "api.anthropic.com"
    with pytest.raises(InputError) as caught:
        next(exchanges)

    message = str(caught.value)
    assert str(path) in message
    assert "entry 1" in message
    assert "response.status" in message


def _good() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(GOOD.read_text())
    return document


def _entry(document: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = document["log"]["entries"][0]
    return entry


def _set(path: list[str | int], value: object) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        target: Any = _entry(document)
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: d.pop("log"), "log.entries"),
        (lambda d: d["log"].update(entries={}), "log.entries"),
        (lambda d: d["log"]["entries"].insert(0, "entry"), "entry 0: the entry is str"),
        (_set(["startedDateTime"], "yesterday"), "startedDateTime 'yesterday'"),
        (_set(["startedDateTime"], "2025-10-01T09:30:00"), "has no time zone"),
        (_set(["response", "status"], "200"), "response.status is '200'"),
        (_set(["request", "url"], "/v1/messages"), "has no host name"),
        (_set(["request", "method"], None), "request.method is None"),
        (_set(["request", "url"], None), "request.url is None"),
        (_set(["startedDateTime"], 1759311000), "startedDateTime is 1759311000"),
        (
            _set(["request", "headers", 0], {"name": "Host"}),
            "request.headers has an item",
        ),
        (_set(["request", "headers"], {"Host": "x"}), "request.headers is dict"),
        (_set(["response", "content", "encoding"], "base64"), "not valid base64"),
        (_set(["response", "content", "text"], 42), "response.content.text is int"),
    ],
)
def test_malformed_har_raises_input_error(
    tmp_path: Path, edit: Callable[[dict[str, Any]], None], expected: str
) -> None:
    document = copy.deepcopy(_good())
    edit(document)
    path = tmp_path / "bad.har"
    path.write_text(json.dumps(document))

    with pytest.raises(InputError, match=r"bad\.har") as caught:
        list(read_har(path))

    assert expected in str(caught.value)


def test_a_file_that_is_not_json_raises_input_error(tmp_path: Path) -> None:
    path = tmp_path / "export.har"
    path.write_text("<html>not a HAR</html>")

    with pytest.raises(InputError, match=r"export\.har: not a HAR file"):
        list(read_har(path))


def test_a_missing_file_raises_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read the HAR file"):
        list(read_har(tmp_path / "absent.har"))


def test_missing_headers_and_odd_times_are_tolerated(tmp_path: Path) -> None:
    document = _good()
    del _entry(document)["request"]["headers"]
    _entry(document)["time"] = True
    path = tmp_path / "lenient.har"
    path.write_text(json.dumps(document))

    first = next(read_har(path))

    assert first.request.headers == {}
    assert first.time_ms is None
