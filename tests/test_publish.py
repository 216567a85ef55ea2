"""Publishing: readers never block a rebuild, and a killed rebuild changes nothing."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from pipeline.cli import main
from tests.conftest import TODAY, write_dirty_raw_folder

EXTRA_LOG = ("id,date,country,site,category,qty\n"
             "N-1,2016-02-01,Iraq,Baiji,cartridge,7\n")


def build(raw: Path, curated: Path) -> int:
    return main(["build", "--raw", str(raw), "--curated", str(curated), "--today", TODAY])


def count_items(database: Path) -> int:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.sql("SELECT count(*) FROM items").fetchall()[0][0]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, Path]:
    raw = write_dirty_raw_folder(tmp_path / "raw")
    curated = tmp_path / "curated"
    assert build(raw, curated) == 0
    return raw, curated


def test_open_reader_does_not_block_a_rebuild(built: tuple[Path, Path]) -> None:
    raw, curated = built
    database = curated / "armtrace.duckdb"
    with duckdb.connect(str(database), read_only=True) as reader:
        (raw / "items" / "new.csv").write_text(EXTRA_LOG)
        assert build(raw, curated) == 0
        # The open reader keeps its consistent snapshot of the old database...
        assert reader.sql("SELECT count(*) FROM items").fetchall() == [(15,)]
    # ...and a new reader sees the new one.
    assert count_items(database) == 16


def test_sql_command_reads_while_a_build_runs(built: tuple[Path, Path],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    raw, curated = built
    builder = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "build", "--raw", str(raw), "--curated",
         str(curated), "--today", TODAY], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    queries = 0
    try:
        while builder.poll() is None:
            assert main(["sql", "SELECT count(*) AS n FROM items", "--curated", str(curated),
                         "--format", "csv"]) == 0
            queries += 1
    finally:
        builder.wait(timeout=120)
    assert builder.returncode == 0
    assert queries > 0
    assert capsys.readouterr().out.count("n\n15\n") == queries


@pytest.mark.parametrize("kill_after", [0.5, 1.5, 2.5, 3.5, 4.5, 6.0])
def test_killed_rebuild_leaves_the_previous_database(built: tuple[Path, Path],
                                                     kill_after: float) -> None:
    raw, curated = built
    database = curated / "armtrace.duckdb"
    before = sha256(database)
    (raw / "items" / "new.csv").write_text(EXTRA_LOG)
    builder = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "build", "--raw", str(raw), "--curated",
         str(curated), "--today", TODAY], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(kill_after)
    finished = builder.poll() is not None
    if not finished:
        os.kill(builder.pid, signal.SIGKILL)
    builder.wait(timeout=60)
    # Either the old database, byte for byte, or (if the build got there) the complete new one.
    assert sha256(database) == before or count_items(database) == 16
    if not finished and sha256(database) == before:
        assert count_items(database) == 15
    # The next build recovers from whatever the killed one left behind.
    assert build(raw, curated) == 0
    assert count_items(database) == 16
    assert not list(curated.glob(".armtrace.duckdb.*.tmp"))


def test_reports_swap_replaces_the_folder_and_clears_leftovers(tmp_path: Path) -> None:
    from pipeline.stages.publish import swap_in_reports

    published, built = tmp_path / "reports", tmp_path / ".reports.building"
    published.mkdir()
    (published / "statistics.json").write_text("old")
    leftover = tmp_path / ".reports.999.old"  # a build killed between the two renames
    leftover.mkdir()
    built.mkdir()
    (built / "statistics.json").write_text("new")
    swap_in_reports(built, published)
    assert (published / "statistics.json").read_text() == "new"
    assert not built.exists() and not leftover.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reports"]
