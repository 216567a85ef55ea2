"""Twenty SIGKILLs at random moments of a build's run (seeded, uniform between taking the lock
and finishing): after each, the published database and reports are one complete set. Slow
(about two minutes), so it runs with `make soak`, not in the default suite;
tests/test_publish.py kills a build at each stage on every run."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.paths import Paths
from pipeline.stages.publish import finish_interrupted_publish, journal_path
from tests.conftest import TODAY, write_dirty_raw_folder
from tests.test_publish import assert_one_published_set, build, count_items

KILLS = 20
SEED = 2017


def _start(raw: Path, curated: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "build", "--raw", str(raw), "--curated",
             str(curated), "--reports", str(curated.parent / "reports"), "--today", TODAY],
            stdout=subprocess.DEVNULL, stderr=handle)


def _wait_for_run(log: Path, builder: subprocess.Popen[bytes]) -> float:
    """Wait until the build has taken the lock and started its run; return when that was."""
    while "building " not in log.read_text() and builder.poll() is None:
        time.sleep(0.01)
    return time.monotonic()


@pytest.mark.soak
def test_twenty_random_kills_lose_nothing(tmp_path: Path) -> None:
    raw = write_dirty_raw_folder(tmp_path / "raw")
    curated = tmp_path / "curated"
    paths = Paths.resolve(raw, curated, tmp_path / "reports")
    assert build(raw, curated) == 0
    # One full build in a process of its own sets the range: kills land anywhere between the
    # moment it holds the lock and the moment it would have finished.
    (raw / "items" / "extra-0.csv").write_text("id,date,country,site,category,qty\n"
                                               "X-0,2016-02-01,Iraq,Site 0,cartridge,1\n")
    timing = _start(raw, curated, tmp_path / "timing.log")
    started = _wait_for_run(tmp_path / "timing.log", timing)
    assert timing.wait(timeout=300) == 0
    run_seconds = time.monotonic() - started
    rng = random.Random(SEED)
    outcomes = []
    for kill in range(1, KILLS + 1):
        published = assert_one_published_set(curated)
        items = count_items(curated / "armtrace.duckdb")
        (raw / "items" / f"extra-{kill}.csv").write_text(  # one more item each time
            "id,date,country,site,category,qty\n"
            f"X-{kill},2016-02-01,Iraq,Site {kill},cartridge,1\n")
        log = tmp_path / f"kill-{kill}.log"
        builder = _start(raw, curated, log)
        _wait_for_run(log, builder)
        time.sleep(rng.uniform(0.0, run_seconds))
        builder.send_signal(signal.SIGKILL)
        builder.wait(timeout=60)
        stages = [line.split()[0] for line in log.read_text().splitlines()
                  if line.startswith("  ") and line.split()[-2:-1] == ["ok"]]
        committed = journal_path(paths.database).exists()
        if committed:  # killed between the commit and the renames: the next build finishes it
            finish_interrupted_publish(paths)
        now = assert_one_published_set(curated)
        new_items = count_items(curated / "armtrace.duckdb")
        # Either nothing was published, or the whole new build was (every extra log so far).
        assert (now, new_items) == (published, items) or new_items == 16 + kill, (kill, stages)
        outcomes.append((kill, stages[-1] if stages else "start", committed,
                         "new" if now != published else "previous"))
    assert build(raw, curated) == 0
    assert count_items(curated / "armtrace.duckdb") == 15 + 1 + KILLS
    assert_one_published_set(curated)
    print("\nkill  last stage done   committed  published set")
    for kill, stage, committed, which in outcomes:
        print(f"{kill:>4}  {stage:<17} {committed!s:<10} {which}")
