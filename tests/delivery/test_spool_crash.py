"""The spool keeps every event whose put returned, even when the process is killed."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from spendtap.delivery.spool import Spool

WRITER = textwrap.dedent(
    """
    import sys
    from spendtap.delivery.spool import Spool

    spool = Spool(sys.argv[1])
    prefix = sys.argv[2]
    n = 0
    while True:
        if n % 3 == 2:  # now and then a batch in one commit
            ids = [f"{prefix}-{n + i}" for i in range(10)]
            spool.put_many({"event_id": i, "pad": "x" * 300} for i in ids)
            n += 10
        else:
            ids = [f"{prefix}-{n}"]
            spool.put({"event_id": ids[0], "pad": "x" * 300})
            n += 1
        sys.stdout.write("".join(i + "\\n" for i in ids))
        sys.stdout.flush()
    """
)


def run_writer_and_kill(path: Path, prefix: str, after_lines: int) -> list[str]:
    """Start a writer, SIGKILL it mid-stream, return every id it reported stored."""
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), prefix],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    reported = []
    for line in child.stdout:
        reported.append(line.strip())
        if len(reported) >= after_lines:
            break
    os.kill(child.pid, signal.SIGKILL)
    reported += [line.strip() for line in child.stdout if line.strip()]
    child.stdout.close()
    assert child.wait(10) == -signal.SIGKILL
    return reported


def test_every_reported_event_survives_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite3"
    reported: list[str] = []

    for run, after in enumerate([150, 401, 77]):
        reported += run_writer_and_kill(path, f"run{run}", after)

    spool = Spool(path)
    stored: set[str] = set()
    while batch := spool.take(1000):
        stored.update(e.event_id for e in batch)
        spool.ack(e.seq for e in batch)
    spool.close()
    assert len(reported) >= 150 + 401 + 77
    assert set(reported) <= stored
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
