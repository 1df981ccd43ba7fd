"""A large backfill read by several processes: how its files are cut into runs, and
what a failing child costs."""

from __future__ import annotations

import io
import os
import random
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from spendtap.agentlogs import parallel, sinks
from spendtap.agentlogs.claude_code import ClaudeCodeFormat
from spendtap.agentlogs.context import AgentHomes, LogContext
from spendtap.agentlogs.events import EventFactory, ImportedEvent
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


def test_a_child_that_fails_midway_costs_neither_an_event_nor_a_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "projects"
    for seed in range(60):  # sessions that copy each other's lines, across runs
        write_transcripts(random.Random(seed), root / f"{seed:02d}")
    parent_pid = os.getpid()

    def split(
        importer: LogImporter, factory: EventFactory, sink: sinks.JsonLinesSink
    ) -> None:
        shards = parallel.plan(importer.discover(), 2).shards
        batcher = sinks._Batcher(sink)
        read = sinks._shard_reader(importer, factory, None)

        def failing(
            paths: Sequence[Path],
            emit: Callable[[list[ImportedEvent]], None],
            report: bool,
        ) -> None:
            events = 0

            def counted(batch: list[ImportedEvent]) -> None:
                nonlocal events
                emit(batch)
                events += len(batch)
                if os.getpid() != parent_pid and events >= 10:
                    raise RuntimeError("the child fails after passing on some")

            read(paths, counted, report)

        parallel.run_sharded(
            importer, shards, failing, batcher.add_lines, batcher.add_block
        )
        batcher.flush()

    alone = _read(root, tmp_path / "data", split_with=None)
    assert alone[1]["cross_file_duplicates"] > 0  # copies across runs, too
    assert _read(root, tmp_path / "data", split_with=split) == alone
    failed = [r.getMessage() for r in caplog.records if "child_failed" in r.msg]
    assert len(failed) == 1 and "passed_on=0 " not in failed[0], failed
