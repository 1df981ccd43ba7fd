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


@pytest.mark.parametrize("workers", [2, 3, 4])
def test_runs_are_of_about_equal_size(tmp_path: Path, workers: int) -> None:
    # Equal runs finish together: the parent passes a child's events on only
    # once the child is done, so a smaller run of its own would only wait.
    paths = files(tmp_path, [1000] * 120)
    sizes = [len(shard) for shard in parallel.plan(paths, workers).shards]
    assert max(sizes) - min(sizes) <= 1, sizes
