"""Reading JSON Lines files a chunk at a time, and going on from where we were."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from spendtap.agentlogs import lines
from spendtap.agentlogs.lines import ReadState, read_lines


def read_all(path: Path, state: ReadState) -> list[bytes]:
    return [line for batch in read_lines(path, state) for line in batch.split()]


def test_lines_split_across_chunks_come_out_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lines, "CHUNK_BYTES", 7)
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"a":1}\n{"bb":22}\n\n{"ccc":333}\n{"tail"')
    state = ReadState()

    assert read_all(path, state) == [b'{"a":1}', b'{"bb":22}', b"", b'{"ccc":333}']
    assert state.tail == b'{"tail"'
    assert state.offset == len(b'{"a":1}\n{"bb":22}\n\n{"ccc":333}\n')


def test_reading_again_goes_on_after_the_last_complete_line(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"one\ntw")
    state = ReadState()
    assert read_all(path, state) == [b"one"]

    with path.open("ab") as handle:
        handle.write(b"o\nthree\n")

    assert read_all(path, state) == [b"two", b"three"]
    assert state.tail == b""


def test_a_rewritten_shorter_file_is_read_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"first line\nsecond line\n")
    state = ReadState()
    read_all(path, state)

    path.write_bytes(b"new\n")

    assert read_all(path, state) == [b"new"]


def test_overlong_line_is_skipped_and_counted_and_the_next_one_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(lines, "CHUNK_BYTES", 4)
    monkeypatch.setattr(lines, "MAX_LINE_BYTES", 10)
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"ok\n" + b"x" * 40 + b"\nafter\n")
    state = ReadState()

    with caplog.at_level(logging.WARNING):
        assert read_all(path, state) == [b"ok", b"after"]
    assert state.overlong == 1
    assert state.offset == path.stat().st_size
    assert "agentlogs.line.overlong" in caplog.text


def test_missing_file_reads_as_nothing(tmp_path: Path) -> None:
    assert read_all(tmp_path / "gone.jsonl", ReadState()) == []
