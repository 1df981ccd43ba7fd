"""`spendtap import`: JSON Lines out, or into the spool and on to an engine."""

from __future__ import annotations

import io
import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from spendtap.agentlogs import claude_code
from spendtap.agentlogs.claude_code import ClaudeCodeFormat
from spendtap.agentlogs.formats import FORMATS
from spendtap.agentlogs.importer import LogImporter, Progress
from spendtap.agentlogs.progress import ProgressBar, render
from spendtap.cli import imports
from spendtap.cli.main import main
from spendtap.delivery.spool import Spool
from spendtap.engine.schema import parse_batch
from tests.agentlogs.conftest import (
    ClaudeCopier,
    import_json,
    import_to_engine,
    run_json,
)
from tests.support.fake_engine import FakeEngine, Reply

CASES = ("content_blocks", "streaming_snapshot", "request_ids")
CALLS_IN_CASES = 1 + 2 + 4


def test_json_prints_one_contract_event_per_call(
    claude_case: ClaudeCopier,
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    events = run_json(claude_case(*CASES), tmp_path / "data", capsysbinary)

    assert len(events) == CALLS_IN_CASES
    assert {e["capture_source"] for e in events} == {"claude_code_log"}
    assert all(len(str(e["event_id"])) == 36 for e in events)


def test_import_into_the_spool_adds_nothing_the_second_time(
    claude_case: ClaudeCopier, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    projects, data_dir = claude_case(*CASES), tmp_path / "data"

    assert (
        main(["import", "claude-code", str(projects), "--data-dir", str(data_dir)]) == 0
    )
    assert f"{CALLS_IN_CASES} new" in capsys.readouterr().err
    assert (
        main(["import", "claude-code", str(projects), "--data-dir", str(data_dir)]) == 0
    )
    assert "0 new" in capsys.readouterr().err

    spool = Spool.in_dir(data_dir)
    try:
        assert spool.depth() == CALLS_IN_CASES
    finally:
        spool.close()


def test_spooled_events_are_the_printed_events(
    claude_case: ClaudeCopier,
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    """The spool keeps each event's JSON as the import wrote it: the same objects
    ``--json`` prints, field for field."""
    projects, data_dir = claude_case(*CASES), tmp_path / "data"
    printed = run_json(projects, data_dir, capsysbinary)
    code = main(["import", "claude-code", str(projects), "--data-dir", str(data_dir)])

    spool = Spool.in_dir(data_dir)
    try:
        spooled = [taken.event for taken in spool.take(100)]
    finally:
        spool.close()

    assert code == 0
    assert sorted(spooled, key=str) == sorted(printed, key=str)
    assert len(spooled) == CALLS_IN_CASES


def test_import_with_engine_ships_every_event_once(
    claude_case: ClaudeCopier,
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    projects = claude_case(*CASES)
    printed = run_json(projects, tmp_path / "json-data", capsysbinary)

    with FakeEngine() as engine:
        code = import_to_engine(projects, engine.url, tmp_path / "data")
        shipped = engine.stored_ids()

    assert code == 0
    assert sorted(shipped) == sorted(str(e["event_id"]) for e in printed)


def test_events_pass_the_engines_batch_validation(
    claude_case: ClaudeCopier,
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    events = run_json(
        claude_case(*CASES, "timestamps", "compaction"), tmp_path, capsysbinary
    )

    parsed = parse_batch(json.dumps({"events": events}).encode(), max_events=1000)

    assert len(parsed) == len(events)


def test_a_missing_directory_is_an_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "import",
            "codex",
            str(tmp_path / "nope"),
            "--json",
            "--data-dir",
            str(tmp_path),
        ]
    )

    assert code == 2
    assert "nope is neither a folder nor a file" in capsys.readouterr().err


def test_every_format_has_a_command() -> None:
    assert set(imports.AGENTS) == set(FORMATS)


def test_progress_bar_draws_only_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    plain, terminal = io.StringIO(), Terminal()
    for stream in (plain, terminal):
        bar = ProgressBar(stream, "claude-code")
        bar(Progress(50_000_000, 100_000_000, 3, 3))
        bar.close()

    assert plain.getvalue() == ""
    assert (
        terminal.getvalue()
        == "\r" + render("claude-code", Progress(50_000_000, 100_000_000, 3, 3)) + "\n"
    )
    assert " 50% 3/3 files 50/100 MB" in terminal.getvalue()


def test_follow_picks_up_new_lines_and_new_files(
    claude_case: ClaudeCopier, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(claude_code, "SETTLE_S", 0.05)
    projects = claude_case("content_blocks")
    importer = LogImporter(ClaudeCodeFormat(), [projects])
    assert len(list(importer.backfill(then_follow=True))) == 1

    source = next(projects.rglob("*.jsonl")).read_text().splitlines()
    response_line = (
        source[1].replace("msg_01A", "msg_new").replace("req_01A", "req_new")
    )
    stop = threading.Event()
    seen: list[str | None] = []

    def follow() -> None:
        seen.extend(c.response_id for c in importer.follow(stop, interval=0.02))

    thread = threading.Thread(target=follow)
    thread.start()
    try:
        with next(projects.rglob("*.jsonl")).open("a") as handle:
            handle.write(response_line.replace("msg_new", "msg_appended") + "\n")
        (projects / "-home-dev-payments" / "new-session.jsonl").write_text(
            response_line + "\n"
        )
        deadline = time.monotonic() + 5
        while len(seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join(5)

    assert sorted(seen, key=str) == ["msg_appended", "msg_new"]


@pytest.mark.parametrize(
    ("cases", "calls"),
    [
        ((*CASES, "resumed", "sidechain", "context"), CALLS_IN_CASES + 3 + 3 + 2),
        # The resumed session's copy is read by the second process, its original
        # by the first: the copied calls cross the shards.
        (("content_blocks", "resumed"), 1 + 3),
    ],
)
def test_split_across_processes_gives_the_same_events(
    claude_case: ClaudeCopier, tmp_path: Path, cases: tuple[str, ...], calls: int
) -> None:
    projects = claude_case(*cases)

    split, split_log = import_json(projects, tmp_path / "data", split=True)
    whole, whole_log = import_json(projects, tmp_path / "data", split=False)

    assert split == whole
    assert len(whole) == calls
    summary = [line for line in whole_log.splitlines() if "spendtap import" in line]
    assert summary and summary[-1] in split_log  # the same counts, copies included
    assert "agentlogs.backfill.split shards=2" in split_log
    assert "agentlogs.backfill.split" not in whole_log


def test_a_folder_without_logs_is_named_with_what_to_give(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "nothing-here"
    empty.mkdir()

    code = main(
        ["import", "claude-code", str(empty), "--json", "--data-dir", str(tmp_path)]
    )

    assert code == 0
    err = capsys.readouterr().err
    assert f"no log files found in {empty}" in err
    assert "Claude Code transcripts" in err


def test_summary_counts_printed_events_in_words(
    claude_case: ClaudeCopier,
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    run_json(claude_case("content_blocks"), tmp_path / "data", capsysbinary)
    code = main(
        [
            "import",
            "claude-code",
            str(claude_case("content_blocks")),
            "--json",
            "--data-dir",
            str(tmp_path / "data"),
        ]
    )

    err = capsysbinary.readouterr().err.decode()
    assert code == 0
    assert "1 call from 1 file, 1 printed" in err  # --json stores nothing: no "new"


def test_one_transcript_file_can_be_imported_alone(
    claude_case: ClaudeCopier,
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    projects = claude_case(*CASES)
    everything = run_json(projects, tmp_path / "data", capsysbinary)
    first = sorted(projects.rglob("*.jsonl"))[0]

    printed = run_json(first, tmp_path / "data", capsysbinary)

    assert printed and len(printed) < len(everything)
    assert all(event in everything for event in printed)


def test_an_engine_that_takes_nothing_fails_the_import_and_keeps_the_events(
    claude_case: ClaudeCopier,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(imports, "SHIP_TIMEOUT_S", 0.5)
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data_dir = tmp_path / "data"

    code = import_to_engine(claude_case(*CASES), f"http://127.0.0.1:{port}", data_dir)

    err = capsys.readouterr().err
    assert code == 1
    assert f"{CALLS_IN_CASES} events could not all be shipped" in err
    assert "last error:" in err
    spool = Spool.in_dir(data_dir)
    try:
        assert spool.depth() == CALLS_IN_CASES  # nothing lost: they wait
    finally:
        spool.close()


def test_events_the_engine_refuses_fail_the_import_and_are_named(
    claude_case: ClaudeCopier,
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    """The engine refuses one event (422): the shipper sets it aside and ships the
    rest, and the import says so and exits 1 (it said nothing and exited 0)."""
    projects = claude_case(*CASES)
    printed = run_json(projects, tmp_path / "data", capsysbinary)
    refused = str(printed[0]["event_id"])

    def refuse_one(events: list[dict[str, Any]]) -> Reply:
        if any(e["event_id"] == refused for e in events):
            return Reply(422, body={"error": {"code": "invalid_batch"}})
        return Reply()

    with FakeEngine(refuse_one) as engine:
        code = import_to_engine(projects, engine.url, tmp_path / "data")
        shipped = engine.stored_ids()

    err = capsysbinary.readouterr().err.decode()
    assert code == 1
    assert "the engine refused 1 event" in err
    assert sorted(shipped) == sorted(
        str(e["event_id"]) for e in printed if e["event_id"] != refused
    )


def test_one_file_named_twice_or_through_a_link_is_read_once(
    claude_case: ClaudeCopier,
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    projects = claude_case(*CASES)
    first = sorted(projects.rglob("*.jsonl"))[0]
    alone = run_json(first, tmp_path / "data", capsysbinary)
    link = tmp_path / "link.jsonl"
    link.symlink_to(first)
    roundabout = first.parent / ".." / first.parent.name / first.name

    code = main(
        [
            "import",
            "claude-code",
            str(first),
            str(link),
            str(roundabout),
            "--json",
            "--data-dir",
            str(tmp_path / "data"),
        ]
    )

    out, err = capsysbinary.readouterr()
    assert code == 0
    assert [json.loads(x) for x in out.splitlines()] == alone
    assert "from 1 file," in err.decode()


def test_a_pipe_named_like_a_log_is_not_read(
    claude_case: ClaudeCopier,
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    """Opening a FIFO for reading waits for a writer: the import hung."""
    projects = claude_case(*CASES)
    expected = run_json(projects, tmp_path / "data", capsysbinary)
    os.mkfifo(projects / "pipe.jsonl")
    (projects / "folder.jsonl").mkdir()

    assert run_json(projects, tmp_path / "data", capsysbinary) == expected


def test_a_path_that_cannot_be_looked_at_is_a_clear_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As a user without search permission on a folder on the way (a traceback)."""
    closed = tmp_path / "closed" / "good.jsonl"

    def refuse(self: Path) -> bool:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "is_dir", refuse)
    code = main(
        ["import", "claude-code", str(closed), "--json", "--data-dir", str(tmp_path)]
    )

    assert code == 2
    assert f"cannot look at {closed}: Permission denied" in capsys.readouterr().err


def test_json_with_an_engine_is_refused_rather_than_ignored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "import",
            "claude-code",
            str(tmp_path),
            "--json",
            "--engine",
            "http://127.0.0.1:9",
            "--data-dir",
            str(tmp_path),
        ]
    )

    assert code == 2
    assert "--engine would be ignored" in capsys.readouterr().err
