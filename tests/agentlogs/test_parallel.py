"""A large backfill read by several processes: how its files are cut into runs, and
what a failing child costs."""

from __future__ import annotations

import io
import os
import random
import resource
import signal
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from spendtap.agentlogs import parallel, sinks
from spendtap.agentlogs.claude_code import ClaudeCodeFormat
from spendtap.agentlogs.context import AgentHomes, LogContext
from spendtap.agentlogs.events import EventFactory, EventLine, ImportedEvent
from spendtap.agentlogs.importer import LogImporter
from spendtap.agentlogs.stats import ImportStats
from tests.agentlogs.test_claude_code_native import write_transcripts


def files(tmp_path: Path, sizes: list[int]) -> list[Path]:
    paths = []
    for index, size in enumerate(sizes):
        path = tmp_path / f"{index:03d}.jsonl"
        path.write_bytes(b"x" * size)
        paths.append(path)
    return paths


@pytest.mark.parametrize("workers", [1, 2, 3, 4])
def test_runs_keep_every_file_once_in_reading_order(
    tmp_path: Path, workers: int
) -> None:
    paths = files(tmp_path, [1000 + 37 * i for i in range(50)])
    layout = parallel.plan(paths, workers)
    assert [p for shard in layout.shards for p in shard] == paths
    assert len(layout.shards) == workers
    assert layout.total_bytes == sum(os.path.getsize(p) for p in paths)


def test_the_parent_reads_less_by_what_passing_on_costs_it(tmp_path: Path) -> None:
    # 200 files of 1,000 bytes, two processes: the parent reads p of the bytes
    # and passes on the child's 1 - p at PASS_ON_COST; equal work when
    # p + (1 - p) * cost = 1 - p, so p = (1 - cost) / (2 - cost).
    paths = files(tmp_path, [1000] * 200)
    cost = parallel.PASS_ON_COST
    parent, child = parallel.plan(paths, 2).shards
    share = (1 - cost) / (2 - cost)
    assert len(parent) == pytest.approx(200 * share, abs=1)
    assert len(parent) < len(child)


def test_children_get_equal_runs(tmp_path: Path) -> None:
    paths = files(tmp_path, [1000] * 300)
    parent, *children = parallel.plan(paths, 4).shards
    assert max(len(c) for c in children) - min(len(c) for c in children) <= 1
    # Each child's run, plus the parent's share of passing it on, is about the
    # parent's own reading: the parent is not the last to finish.
    cost = parallel.PASS_ON_COST
    parent_work = len(parent) + cost * sum(len(c) for c in children)
    assert parent_work == pytest.approx(len(children[0]), abs=2)


def _read(
    root: Path, data_dir: Path, *, split_with: Callable[..., None] | None
) -> tuple[list[bytes], dict[str, int]]:
    stats = ImportStats()
    importer = LogImporter(ClaudeCodeFormat(stats), [root])
    factory = EventFactory(LogContext(data_dir, homes=AgentHomes(home=root)))
    out = io.BytesIO()
    sink = sinks.JsonLinesSink(out)
    if split_with is None:
        sinks.run_import(importer, factory, sink, workers=1)
    else:
        split_with(importer, factory, sink)
    return out.getvalue().splitlines(), stats.as_dict()


#: Run first thing in the child.
ChildStart = Callable[[], None]
#: Wraps the callback a reader hands its events to (in parent and child alike).
EmitWrap = Callable[
    [Callable[[list[ImportedEvent]], None]], Callable[[list[ImportedEvent]], None]
]


def split_reading(
    child_start: ChildStart | None = None,
    wrap: EmitWrap | None = None,
    forked: list[parallel._Child] | None = None,
) -> Callable[..., None]:
    """A split import (two processes whatever the size) with hooks in it."""
    parent_pid = os.getpid()

    def split(
        importer: LogImporter, factory: EventFactory, sink: sinks.EventSink
    ) -> None:
        shards = parallel.plan(importer.discover(), 2).shards
        batcher = sinks._Batcher(sink)
        read = sinks._shard_reader(importer, factory, None)

        def hooked(
            paths: Sequence[Path],
            emit: Callable[[list[ImportedEvent]], None],
            report: bool,
        ) -> None:
            read(paths, emit if wrap is None else wrap(emit), report)

        real_fork, real_child_main = parallel._fork, parallel._child_main

        def child_main(*args: Any) -> None:
            assert os.getpid() != parent_pid
            if child_start is not None:
                child_start()
            real_child_main(*args)

        def fork(*args: Any) -> parallel._Child:
            child = real_fork(*args)
            if forked is not None:
                forked.append(child)
            return child

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(parallel, "_fork", fork)
            patch.setattr(parallel, "_child_main", child_main)
            parallel.run_sharded(
                importer, shards, hooked, batcher.add_lines, batcher.add_block
            )
        batcher.flush()

    return split


def in_parent_after_each(action: Callable[[], None]) -> EmitWrap:
    """A wrap that runs ``action`` in the parent after it hands on each batch."""
    parent_pid = os.getpid()

    def wrap(
        emit: Callable[[list[ImportedEvent]], None],
    ) -> Callable[[list[ImportedEvent]], None]:
        def write(batch: list[ImportedEvent]) -> None:
            emit(batch)
            if os.getpid() == parent_pid:
                action()

        return write

    return wrap


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Transcripts that copy each other's lines across the split; the temporary
    files of the split go to ``tmp_path / "tmp"``."""
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    projects = tmp_path / "projects"
    for seed in range(60):
        write_transcripts(random.Random(seed), projects / f"{seed:02d}")
    return projects


def left_over(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "tmp").iterdir())


def test_a_child_that_fails_midway_costs_neither_an_event_nor_a_count(
    root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    parent_pid = os.getpid()

    def failing_after_some(
        emit: Callable[[list[ImportedEvent]], None],
    ) -> Callable[[list[ImportedEvent]], None]:
        events = 0

        def counted(batch: list[ImportedEvent]) -> None:
            nonlocal events
            emit(batch)
            events += len(batch)
            if os.getpid() != parent_pid and events >= 10:
                raise RuntimeError("the child fails after passing on some")

        return counted

    alone = _read(root, tmp_path / "data", split_with=None)
    assert alone[1]["cross_file_duplicates"] > 0  # copies across runs, too
    split = split_reading(wrap=failing_after_some)
    assert _read(root, tmp_path / "data", split_with=split) == alone
    failed = [r.getMessage() for r in caplog.records if "child_failed" in r.msg]
    assert len(failed) == 1 and "passed_on=0 " not in failed[0], failed
    assert left_over(tmp_path) == []


def test_a_child_slow_to_start_is_waited_for(root: Path, tmp_path: Path) -> None:
    # The parent may look for the child's events before the child has written
    # (or, before, even made) its files.
    alone = _read(root, tmp_path / "data", split_with=None)
    split = split_reading(child_start=lambda: time.sleep(0.5))
    assert _read(root, tmp_path / "data", split_with=split) == alone
    assert left_over(tmp_path) == []


def test_a_launcher_that_ignores_sigchld_changes_nothing(
    root: Path, tmp_path: Path
) -> None:
    # Children would be reaped before they could be waited for.
    alone = _read(root, tmp_path / "data", split_with=None)
    before = signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    try:
        assert _read(root, tmp_path / "data", split_with=split_reading()) == alone
        assert signal.getsignal(signal.SIGCHLD) == signal.SIG_IGN  # as it was
    finally:
        signal.signal(signal.SIGCHLD, before)
    assert left_over(tmp_path) == []


def test_a_child_that_cannot_write_its_file_costs_only_time(
    root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A full disk, or a file-size limit: here 20 kB for the child's files.
    def limited() -> None:
        _soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, hard))

    alone = _read(root, tmp_path / "data", split_with=None)
    split = split_reading(child_start=limited)
    assert _read(root, tmp_path / "data", split_with=split) == alone
    assert any("child_failed" in r.msg for r in caplog.records)
    assert left_over(tmp_path) == []


def test_an_interrupted_split_leaves_no_child_and_no_file(
    root: Path, tmp_path: Path
) -> None:
    # `spendtap import ... | head`: the parent's first write fails.
    def reader_gone() -> None:
        raise BrokenPipeError("the reader left")

    forked: list[parallel._Child] = []
    split = split_reading(wrap=in_parent_after_each(reader_gone), forked=forked)
    with pytest.raises(BrokenPipeError):
        _read(root, tmp_path / "data", split_with=split)
    assert [child.reaped for child in forked] == [True]
    with pytest.raises(ProcessLookupError):
        os.kill(forked[0].pid, 0)
    assert left_over(tmp_path) == []


@pytest.mark.parametrize("ending", [signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT])
def test_a_signal_that_ends_a_split_stops_the_child_and_removes_its_files(
    root: Path, tmp_path: Path, ending: signal.Signals
) -> None:
    terminated = in_parent_after_each(lambda: os.kill(os.getpid(), ending))
    before = signal.getsignal(ending)
    forked: list[parallel._Child] = []
    with pytest.raises(SystemExit) as exit_:
        _read(
            root,
            tmp_path / "data",
            split_with=split_reading(wrap=terminated, forked=forked),
        )
    assert exit_.value.code == 128 + ending
    assert signal.getsignal(ending) == before  # put back
    assert [child.reaped for child in forked] == [True]
    assert left_over(tmp_path) == []


class _LinesOnly:
    """A sink that takes events only one line each (as the spool does)."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []

    def put_lines(self, lines: Sequence[EventLine]) -> None:
        for line in lines:
            assert line.data.endswith(b"\n") and line.data.count(b"\n") == 1
            assert orjson.loads(line.data)["event_id"] == line.event_id
            self.lines.append(line.data.rstrip(b"\n"))


def test_a_sink_of_single_lines_gets_the_childs_events_cut_apart(
    root: Path, tmp_path: Path
) -> None:
    alone = _read(root, tmp_path / "data", split_with=None)
    stats = ImportStats()
    importer = LogImporter(ClaudeCodeFormat(stats), [root])
    factory = EventFactory(LogContext(tmp_path / "data", homes=AgentHomes(home=root)))
    sink = _LinesOnly()
    split_reading()(importer, factory, sink)
    assert (sink.lines, stats.as_dict()) == alone


def test_a_signal_the_launcher_ignores_stays_ignored(
    root: Path, tmp_path: Path
) -> None:
    # `nohup spendtap import ...`: closing the terminal must not end the import.
    hang_up = in_parent_after_each(lambda: os.kill(os.getpid(), signal.SIGHUP))
    alone = _read(root, tmp_path / "data", split_with=None)
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        split = split_reading(wrap=hang_up)
        assert _read(root, tmp_path / "data", split_with=split) == alone
    finally:
        signal.signal(signal.SIGHUP, before)
    assert left_over(tmp_path) == []
