"""Bounded, incremental content decoding for the parser's copy of a body."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import brotli
import pytest
import zstandard

from spendtap.capture.decoding import DecodingError, StreamDecoder

MIB = 1024 * 1024
BOMB_SIZE = 64 * MIB  # decoded size; the compressed forms are a few KiB


def compress(encoding: str, data: bytes) -> bytes:
    match encoding:
        case "gzip":
            return gzip.compress(data)
        case "deflate":
            return zlib.compress(data)
        case "br":
            return bytes(brotli.compress(data, quality=1))
        case "zstd":
            return zstandard.ZstdCompressor().compress(data)
    raise AssertionError(encoding)


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
def test_round_trip_in_small_reads(encoding: str) -> None:
    body = b"data: " + bytes(range(256)) * 400 + b"\n\n"
    wire = compress(encoding, body)
    decoder = StreamDecoder(encoding)

    out = b"".join(decoder.decode(wire[i : i + 7]) for i in range(0, len(wire), 7))

    assert out == body


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
def test_a_bomb_stops_at_the_limit_without_inflating_memory(encoding: str) -> None:
    wire = compress(encoding, bytes(BOMB_SIZE))
    assert len(wire) < BOMB_SIZE // 100
    decoder = StreamDecoder(encoding, limit=1 * MIB)

    tracemalloc.start()
    with pytest.raises(DecodingError, match="over"):
        decoder.decode(wire)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert peak < 12 * MIB  # nowhere near the 64 MiB the bomb expands to


def test_zstd_bodies_of_several_frames_are_decoded_whole() -> None:
    first, second = b"a" * 1000, b"b" * 1000
    wire = compress("zstd", first) + compress("zstd", second)

    assert StreamDecoder("zstd").decode(wire) == first + second


def test_an_encoding_chain_is_undone_last_first() -> None:
    body = b'{"usage": {}}'
    wire = compress("br", compress("gzip", body))

    assert StreamDecoder("gzip, br").decode(wire) == body


def test_unknown_and_corrupt_encodings_are_decoding_errors() -> None:
    with pytest.raises(DecodingError, match="unsupported"):
        StreamDecoder("compress")
    with pytest.raises(DecodingError, match="corrupt"):
        StreamDecoder("gzip").decode(b"\x1f\x8bnot gzip at all")
