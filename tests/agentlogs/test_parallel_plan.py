"""How a large backfill's files are cut into one run per process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spendtap.agentlogs import parallel


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
