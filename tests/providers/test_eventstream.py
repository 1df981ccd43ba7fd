"""The AWS binary event-stream decoder and its response reader."""

from __future__ import annotations

import itertools
import logging
import struct
import time
import zlib
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from spendtap.event import Api, CallStatus, Usage, UsageSource
from spendtap.providers.base import ParsedCall
from spendtap.providers.eventstream import (
    EventStreamDecoder,
    EventStreamMessage,
    EventStreamMessageReader,
    FramingFailure,
)
from tests.providers.aws_frames import encode_message

#: AWS's published event-stream test vectors: an empty message, and one with a payload
#: and no headers.
EMPTY_MESSAGE = b"\x00\x00\x00\x10\x00\x00\x00\x00\x05\xc2H\xeb}\x98\xc8\xff"
PAYLOAD_NO_HEADERS = b"\x00\x00\x00\x1d\x00\x00\x00\x00\xfdR\x8cZ{'foo':'bar'}\xc3e96"

CORPUS = Path(__file__).parents[2] / ".." / "shared" / "corpus" / "recorded"
RECORDED_STREAM = CORPUS / "test_bedrock" / "test_bedrock_model_stream.yaml"


def _decode(*chunks: bytes, max_message: int = 1024 * 1024) -> list[EventStreamMessage]:
    decoder = EventStreamDecoder(max_message)
    return [message for chunk in chunks for message in decoder.feed(chunk)]


def _events(count: int) -> bytes:
    return b"".join(
        encode_message({":event-type": "chunk", "n": i}, b'{"i": %d}' % i)
        for i in range(count)
    )


def test_aws_test_vectors_decode() -> None:
    assert _decode(EMPTY_MESSAGE) == [EventStreamMessage({}, b"")]
    assert _decode(PAYLOAD_NO_HEADERS) == [EventStreamMessage({}, b"{'foo':'bar'}")]


def test_every_header_value_type_decodes() -> None:
    block = (
        b"\x01t\x00"  # true
        + b"\x01f\x01"  # false
        + b"\x01b\x02\xff"  # byte -1
        + b"\x01s\x03\x01\x00"  # short 256
        + b"\x01i\x04\xff\xff\xff\xfe"  # integer -2
        + b"\x01l\x05" + struct.pack(">q", 2**40)
        + b"\x01a\x06\x00\x02\x00\xff"  # byte array
        + b"\x01z\x07\x00\x03h\xc3\xa9"  # string "hé"
        + b"\x01d\x08" + struct.pack(">q", 1_700_000_000_000)  # timestamp
        + b"\x01u\x09" + bytes(range(16))  # uuid
    )  # fmt: skip
    prelude = struct.pack(">II", 16 + len(block) + 2, len(block))
    head = prelude + struct.pack(">I", zlib.crc32(prelude)) + block + b"{}"
    frame = head + struct.pack(">I", zlib.crc32(head))

    [message] = _decode(frame)

    assert message.payload == b"{}"
    assert message.headers == {
        "t": True,
        "f": False,
        "b": -1,
        "s": 256,
        "i": -2,
        "l": 2**40,
        "a": b"\x00\xff",
        "z": "hé",
        "d": 1_700_000_000_000,
        "u": bytes(range(16)),
    }
    assert message.text_header("z") == "hé"
    assert message.text_header("i") is None


@pytest.mark.skipif(not RECORDED_STREAM.is_file(), reason="the shared corpus is absent")
def test_a_recorded_bedrock_stream_decodes_whole_and_byte_by_byte() -> None:
    document = yaml.safe_load(RECORDED_STREAM.read_text(encoding="utf-8"))
    body = document["interactions"][0]["response"]["body"]["string"]
    decoder = EventStreamDecoder()

    whole = decoder.feed(body)
    by_byte = _decode(*(body[i : i + 1] for i in range(len(body))))

    kinds = [m.text_header(":event-type") for m in whole]
    assert (kinds[0], kinds[-2], kinds[-1]) == (
        "messageStart",
        "messageStop",
        "metadata",
    )
    assert decoder.failure is None and decoder.buffered_bytes == 0
    assert by_byte == whole


def test_a_message_is_returned_only_once_whole() -> None:
    frame = encode_message({":event-type": "chunk"}, b"{}")
    decoder = EventStreamDecoder()

    assert decoder.feed(frame[:-1]) == []
    assert decoder.feed(frame[-1:]) == [
        EventStreamMessage({":event-type": "chunk"}, b"{}")
    ]


@given(cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=30))
@settings(max_examples=100, deadline=None, database=None)
def test_any_split_gives_the_same_messages(cuts: list[int]) -> None:
    body = _events(12)
    bounds = [0, *sorted(c % (len(body) + 1) for c in cuts), len(body)]
    chunks = [body[a:b] for a, b in itertools.pairwise(bounds)]

    assert _decode(*chunks) == _decode(body)


def test_a_bad_prelude_crc_stops_the_decoder() -> None:
    frame = bytearray(encode_message({}, b"{}"))
    frame[9] ^= 0xFF
    decoder = EventStreamDecoder()

    assert decoder.feed(bytes(frame) + _events(2)) == []
    assert decoder.failure is FramingFailure.PRELUDE_CRC
    assert decoder.buffered_bytes == 0
    assert decoder.feed(_events(1)) == []


def test_a_bad_message_crc_keeps_the_messages_before_it() -> None:
    bad = bytearray(encode_message({}, b'{"x": 1}'))
    bad[-6] ^= 0x01  # a payload byte
    decoder = EventStreamDecoder()

    messages = decoder.feed(_events(2) + bytes(bad) + _events(1))

    assert len(messages) == 2
    assert decoder.failure is FramingFailure.MESSAGE_CRC


def test_a_message_longer_than_the_limit_is_refused_from_its_prelude() -> None:
    prelude = struct.pack(">II", 1 << 30, 0)
    decoder = EventStreamDecoder(max_message=1024)

    decoder.feed(prelude + struct.pack(">I", zlib.crc32(prelude)) + b"x" * 4096)

    assert decoder.failure is FramingFailure.LENGTH
    assert decoder.buffered_bytes == 0


def test_a_total_shorter_than_its_headers_is_a_length_failure() -> None:
    prelude = struct.pack(">II", 20, 10)
    decoder = EventStreamDecoder()

    decoder.feed(prelude + struct.pack(">I", zlib.crc32(prelude)) + b"y" * 40)

    assert decoder.failure is FramingFailure.LENGTH


def test_an_unknown_header_type_is_a_headers_failure() -> None:
    block = b"\x01q\x0a"
    prelude = struct.pack(">II", 16 + len(block), len(block))
    head = prelude + struct.pack(">I", zlib.crc32(prelude)) + block
    decoder = EventStreamDecoder()

    decoder.feed(head + struct.pack(">I", zlib.crc32(head)))

    assert decoder.failure is FramingFailure.HEADERS


def test_a_header_running_past_its_block_is_a_headers_failure() -> None:
    block = b"\x05ab"  # a name of five bytes, two given
    prelude = struct.pack(">II", 16 + len(block), len(block))
    head = prelude + struct.pack(">I", zlib.crc32(prelude)) + block
    decoder = EventStreamDecoder()

    decoder.feed(head + struct.pack(">I", zlib.crc32(head)))

    assert decoder.failure is FramingFailure.HEADERS


@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(min_value=0)))
@settings(max_examples=200, deadline=None, database=None)
def test_random_bytes_never_raise_and_stay_bounded(
    data: bytes, cuts: list[int]
) -> None:
    decoder = EventStreamDecoder(max_message=512)
    bounds = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]

    for a, b in itertools.pairwise(bounds):
        decoder.feed(data[a:b])
        assert decoder.buffered_bytes <= 512 + 12


def test_feeding_one_byte_at_a_time_is_linear() -> None:
    body = encode_message({":event-type": "chunk"}, b"z" * 400_000)
    decoder = EventStreamDecoder()
    started = time.perf_counter()

    messages = [m for i in range(len(body)) for m in decoder.feed(body[i : i + 1])]

    assert len(messages) == 1
    assert time.perf_counter() - started < 5.0


class _Counting:
    """A message parser that counts messages, or raises on the first."""

    def __init__(self, *, explode: bool = False) -> None:
        self.seen = 0
        self._explode = explode

    @property
    def content_started(self) -> bool:
        return self.seen > 0

    def on_message(self, message: EventStreamMessage) -> None:
        if self._explode:
            raise KeyError("boom")
        self.seen += 1

    def result(self, *, complete: bool) -> ParsedCall:
        return _TEMPLATE


_TEMPLATE = ParsedCall(
    provider="aws.bedrock",
    api=Api.INVOKE,
    streaming=True,
    status=CallStatus.OK,
    usage=Usage(),
    usage_source=UsageSource.ABSENT,
)


def test_the_reader_hands_each_message_to_the_parser() -> None:
    parser = _Counting()
    reader = EventStreamMessageReader(_TEMPLATE, parser)

    for i, byte in enumerate(_events(3)):
        reader.feed(bytes([byte]))
        if i == 0:
            assert reader.content_started is False

    assert parser.seen == 3
    assert reader.content_started is True
    assert reader.finish(complete=True) is _TEMPLATE


def test_a_parser_fault_costs_the_usage_not_the_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reader = EventStreamMessageReader(_TEMPLATE, _Counting(explode=True))

    with caplog.at_level(logging.WARNING):
        reader.feed(_events(2))
        call = reader.finish(complete=False)

    assert call.status is CallStatus.TRUNCATED
    assert "providers.reader.failed api=invoke error=KeyError" in caplog.text


def test_lost_framing_is_logged_once_and_is_not_a_parser_fault(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reader = EventStreamMessageReader(_TEMPLATE, _Counting())

    with caplog.at_level(logging.WARNING):
        reader.feed(b"\x00" * 12 + b"garbage")
        reader.feed(b"more garbage")

    assert caplog.text.count("providers.eventstream.framing_lost") == 1
    assert "reason=prelude_crc" in caplog.text
    assert "providers.reader.failed" not in caplog.text


class _FailingResult(_Counting):
    def result(self, *, complete: bool) -> ParsedCall:
        raise ValueError("boom")


def test_a_fault_in_the_result_costs_the_usage_not_the_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reader = EventStreamMessageReader(_TEMPLATE, _FailingResult())
    reader.feed(_events(1))

    with caplog.at_level(logging.WARNING):
        call = reader.finish(complete=True)

    assert call.status is CallStatus.OK
    assert "providers.reader.failed api=invoke error=ValueError" in caplog.text


def test_after_a_fault_the_reader_reads_no_more() -> None:
    parser = _Counting(explode=True)
    reader = EventStreamMessageReader(_TEMPLATE, parser)
    reader.feed(_events(1))

    reader.feed(_events(1))

    assert parser.seen == 0
