"""Publishing: readers never block a rebuild, and a killed rebuild changes nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipeline.cli import EXIT_BUSY, main
from pipeline.fingerprint import MANIFEST_FILE
from pipeline.outputs import write_marker
from pipeline.paths import Paths
from pipeline.reference import Reference
from pipeline.stages.clean import normalise_rows
from pipeline.stages.discover import discover_raw_files
from pipeline.stages.publish import (
    RESOLVED_TABLES,
    finish_interrupted_publish,
    stage_database,
    write_resolved_tables,
)
from pipeline.stages.read import read_dataset
from pipeline.tables import DEDUP_DECISIONS, Column
from tests.conftest import TODAY, write_dirty_raw_folder, write_log

EXTRA_LOG = ("id,date,country,site,category,qty\n"
             "N-1,2016-02-01,Iraq,Baiji,cartridge,7\n")


def build(raw: Path, curated: Path) -> int:
    return main(["build", "--raw", str(raw), "--curated", str(curated), "--reports",
                 str(curated.parent / "reports"), "--today", TODAY])


def count_items(database: Path) -> int:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.sql("SELECT count(*) FROM items").fetchall()[0][0]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def _built_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("publish")
    assert build(write_dirty_raw_folder(root / "raw"), root / "curated") == 0
    return root


@pytest.fixture
def built(_built_once: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of one build of the dirty folder: raw, curated and reports."""
    shutil.copytree(_built_once, tmp_path / "copy")
    return tmp_path / "copy" / "raw", tmp_path / "copy" / "curated"


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


NO_NETWORK = """
import socket, sys
def refuse(*args, **kwargs):
    raise OSError("network access attempted during a build")
socket.socket.connect = socket.socket.connect_ex = refuse
socket.create_connection = socket.getaddrinfo = refuse
from pipeline.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _network_namespace() -> list[str]:
    """A network namespace with no interfaces, where `unshare` is allowed here."""
    command = ["unshare", "--net", "--map-root-user"]
    allowed = shutil.which("unshare") and subprocess.run([*command, "true"]).returncode == 0
    return command if allowed else []


def build_process(raw: Path, curated: Path, *flags: str) -> subprocess.Popen[str]:
    """`armtrace build` in a process of its own, its progress lines readable as they come.

    Every such build runs with no network: in an empty network namespace where allowed, and
    with every socket call refused, so each of these tests also shows a build needs none.
    """
    return subprocess.Popen(
        [*_network_namespace(), sys.executable, "-c", NO_NETWORK, "build", "--raw", str(raw),
         "--curated", str(curated), "--reports", str(curated.parent / "reports"),
         "--today", TODAY, *flags],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for_line(process: subprocess.Popen[str], fragment: str) -> str:
    """Read the process's stderr until a line holds `fragment`; fail if it ends first."""
    assert process.stderr is not None
    for line in process.stderr:
        if fragment in line:
            return line
    raise AssertionError(f"the build ended (code {process.wait()}) before printing {fragment!r}")


def published_set(curated: Path) -> tuple[str, str | None]:
    """The published database's fingerprint and the reports folder's: equal when both come
    from one build."""
    with duckdb.connect(str(curated / "armtrace.duckdb"), read_only=True) as con:
        ((database,),) = con.sql("SELECT value FROM build_manifest "
                                 "WHERE component = 'build/fingerprint'").fetchall()
    manifest = curated.parent / "reports" / MANIFEST_FILE
    reports = json.loads(manifest.read_text())["fingerprint"] if manifest.exists() else None
    return database, reports


def assert_one_published_set(curated: Path) -> str:
    database, reports = published_set(curated)
    assert database == reports, "the database and the reports come from different builds"
    return database


# Each stage's progress line is printed when the stage ends: killing then lands in the next.
@pytest.mark.parametrize("after_stage", ["clean", "figures", "report"])
def test_build_killed_at_a_stage_leaves_the_previous_set(built: tuple[Path, Path],
                                                         after_stage: str) -> None:
    raw, curated = built
    database = curated / "armtrace.duckdb"
    before = sha256(database), assert_one_published_set(curated)
    (raw / "items" / "new.csv").write_text(EXTRA_LOG)
    builder = build_process(raw, curated)
    wait_for_line(builder, f"  {after_stage} ")
    builder.kill()
    builder.wait(timeout=60)
    journal = curated / ".armtrace.duckdb.publishing"
    if journal.exists():  # killed past the commit point: the next build finishes the publish
        finish_interrupted_publish(Paths.resolve(raw, curated, curated.parent / "reports"))
        assert count_items(database) == 16
    else:
        assert (sha256(database), assert_one_published_set(curated)) == before
        assert count_items(database) == 15
    assert_one_published_set(curated)
    # The next build recovers from whatever the killed one left behind.
    assert build(raw, curated) == 0
    assert count_items(database) == 16
    assert_one_published_set(curated)
    assert sorted(p.name for p in curated.iterdir()) == [".armtrace-outputs", ".armtrace.lock",
                                                         ".work", "armtrace.duckdb"]


def test_a_publish_interrupted_after_its_commit_is_finished_by_the_next_build(
        built: tuple[Path, Path]) -> None:
    """Killed between the two renames: the database is new, the reports are old. The journal
    says the new set was committed, and the next build completes it before doing anything."""
    raw, curated = built
    reports = curated.parent / "reports"
    old = assert_one_published_set(curated)
    newer = curated.parent / "newer"
    shutil.copytree(raw, newer / "raw")
    (newer / "raw" / "items" / "new.csv").write_text(EXTRA_LOG)
    assert build(newer / "raw", newer / "curated") == 0
    new = assert_one_published_set(newer / "curated")
    # Stage the newer set beside the published one, commit, and do only the first rename.
    staged_db = stage_database(newer / "curated" / "armtrace.duckdb", curated / "armtrace.duckdb")
    staged_reports = reports.with_name(".reports.building")
    shutil.copytree(newer / "reports", staged_reports)
    journal = curated / ".armtrace.duckdb.publishing"
    journal.write_text(json.dumps({"database": [str(staged_db), str(curated / "armtrace.duckdb")],
                                   "reports": [str(staged_reports), str(reports)]}))
    os.replace(staged_db, curated / "armtrace.duckdb")
    assert published_set(curated) == (new, old)
    assert main(["build", "--raw", str(newer / "raw"), "--curated", str(curated),
                 "--reports", str(reports), "--today", TODAY]) == 0
    assert assert_one_published_set(curated) == new
    assert not journal.exists() and not staged_reports.exists()


def test_while_a_build_runs_readers_read_and_a_second_build_waits(
        built: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    raw, curated = built
    reports = curated.parent / "reports"
    first = build_process(raw, curated, "--force")
    wait_for_line(first, "building ")  # printed with the lock held
    try:
        # `armtrace sql` reads the published database while the build writes its own.
        assert main(["sql", "SELECT count(*) AS n FROM items", "--curated", str(curated),
                     "--format", "csv"]) == 0
        assert capsys.readouterr().out == "n\n15\n"
        code = main(["build", "--raw", str(raw), "--curated", str(curated), "--reports",
                     str(reports), "--today", TODAY])
        assert code == EXIT_BUSY
        err = capsys.readouterr().err
        # the locks are taken in path order: the reports folder's, beside it, comes first
        assert f"another build is writing to {reports} (pid {first.pid}, started " in err
        assert "--wait SECONDS" in err and "Traceback" not in err
        # Queued behind the first, the second finds the same inputs published and stops there.
        assert main(["build", "--raw", str(raw), "--curated", str(curated), "--reports",
                     str(reports), "--today", TODAY, "--wait", "120"]) == 0
        assert first.wait(timeout=60) == 0, "the build with no network failed"
        assert first.stderr is not None
        assert "network access attempted" not in first.stderr.read()
        assert "up to date" in capsys.readouterr().err
    finally:
        first.kill()
        first.wait(timeout=60)
    assert_one_published_set(curated)


def test_reports_swap_replaces_the_folder_and_clears_leftovers(tmp_path: Path) -> None:
    from pipeline.stages.publish import swap_in_reports

    published, built = tmp_path / "reports", tmp_path / ".reports.building"
    published.mkdir()
    (published / "statistics.json").write_text("old")
    write_marker(published, "reports", ["statistics.json"])
    leftover = tmp_path / ".reports.999.old"  # a build killed between the two renames
    (leftover / "tables").mkdir(parents=True)
    (leftover / "tables" / "a.csv").write_text("old")
    write_marker(leftover, "reports", ["tables/a.csv"])
    built.mkdir()
    (built / "statistics.json").write_text("new")
    assert swap_in_reports(built, published) == []
    assert (published / "statistics.json").read_text() == "new"
    assert not built.exists() and not leftover.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reports"]


def test_every_column_of_the_tables_duckdb_fills_has_a_sql_source() -> None:
    for table in (*(t for t, _ in RESOLVED_TABLES), DEDUP_DECISIONS):
        assert all(c.sql_expr().endswith(f' AS "{c.name}"') for c in table.columns)
    with pytest.raises(ValueError, match="give it as `sql`"):
        Column("day", "A day.", pl.col("stamp").dt.date()).sql_expr()


def test_resolved_tables_are_stored_in_row_order(dirty_build: Path) -> None:
    """items, record_versions and quarantine read back in row_number order without ORDER BY:
    the items suite reads items in stored order and places its examples by it."""
    with duckdb.connect(str(dirty_build / "armtrace.duckdb"), read_only=True) as con:
        for table in ("items", "record_versions", "quarantine"):
            stored = [n for (n,) in con.sql(f"SELECT row_number FROM {table}").fetchall()]
            assert stored == sorted(stored), table
            assert len(stored) > 1 or table == "record_versions", table


def write_decided_rows(folder: Path, reference: Reference, dispositions: list[str],
                       decision_order: list[int] | None = None) -> tuple[Path, Path]:
    """A log of one row per disposition, normalised, and decisions giving each row its
    disposition (a merge or supersession points at row 0): the two Parquet files
    write_resolved_tables reads. decision_order: the order of the decision rows."""
    write_log(folder / "raw" / "items" / "log.csv", [
        {"record_id": f"R-{n}", "documented_on": "2016-11-03", "documented_in": "Iraq",
         "site": "Mosul", "category": "cartridge"} for n in range(len(dispositions))])
    parsed, _ = read_dataset(folder / "raw", discover_raw_files(folder / "raw"))
    normalised, decisions = folder / "normalised.parquet", folder / "decisions.parquet"
    normalise_rows(parsed, reference, dt.date.fromisoformat(TODAY)).write_parquet(normalised)
    decided = pl.DataFrame({
        "row_number": parsed["row_number"], "disposition": dispositions,
        "rule": [d if d in ("merged", "superseded") else None for d in dispositions],
        "resolved_to_row": [0 if d in ("merged", "superseded") else None for d in dispositions],
    }, schema_overrides={"resolved_to_row": pl.Int64})
    order = decision_order or list(range(len(dispositions)))
    decided[order].write_parquet(decisions)
    return normalised, decisions


RESOLVED_ROWS_SQL = {"items": "SELECT record_id FROM items",
                     "superseded": "SELECT record_id FROM record_versions",
                     "quarantined": "SELECT record_id FROM quarantine",
                     "merged": "SELECT dropped_record_id, kept_record_id, kept_line, rule "
                               "FROM dedup_decisions"}


@pytest.mark.parametrize("dispositions", [
    ["item", "item", "item"],  # nothing to leave out: no bit set at all
    ["item", "merged", "item"],
    ["quarantined", "superseded", "merged"],  # no items
    ["merged", "item", "quarantined"],
    ["item", "superseded", "merged", "quarantined", "merged", "superseded", "item"],
])
def test_each_resolved_table_holds_the_rows_of_its_disposition_in_row_order(
        tmp_path: Path, reference: Reference, dispositions: list[str]) -> None:
    normalised, decisions = write_decided_rows(tmp_path, reference, dispositions)
    with duckdb.connect() as con:
        write_resolved_tables(con, normalised, decisions)
        stored = {d: con.sql(sql).fetchall() for d, sql in RESOLVED_ROWS_SQL.items()}
    chosen = {d: [n for n, each in enumerate(dispositions) if each == d]
              for d in ("item", "superseded", "quarantined", "merged")}
    assert stored["items"] == [(f"R-{n}",) for n in chosen["item"]]
    assert stored["superseded"] == [(f"R-{n}",) for n in chosen["superseded"]]
    assert stored["quarantined"] == [(f"R-{n}",) for n in chosen["quarantined"]]
    # the kept row is row 0, line 2 of the log
    assert stored["merged"] == [(f"R-{n}", "R-0", 2, "merged") for n in chosen["merged"]]


def test_resolved_tables_pair_rows_with_decisions_by_row_number(
        tmp_path: Path, reference: Reference) -> None:
    """Decisions stored in another order than the rows still decide their own rows."""
    dispositions = ["item", "quarantined", "item", "superseded"]
    normalised, decisions = write_decided_rows(tmp_path, reference, dispositions,
                                               decision_order=[3, 1, 2, 0])
    with duckdb.connect() as con:
        write_resolved_tables(con, normalised, decisions)
        assert con.sql(RESOLVED_ROWS_SQL["items"]).fetchall() == [("R-0",), ("R-2",)]
        assert con.sql(RESOLVED_ROWS_SQL["quarantined"]).fetchall() == [("R-1",)]
        assert con.sql(RESOLVED_ROWS_SQL["superseded"]).fetchall() == [("R-3",)]
