"""The Great Expectations suites: they pass on clean builds, a failing ERROR check blocks
publishing and is named with examples, a broken expectation is a programming error."""

from __future__ import annotations

import atexit
import csv
import datetime as dt
import io
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from pipeline import checks, suite_process
from pipeline.assets import ASSETS
from pipeline.checks import ASSET_CHECKS
from pipeline.cli import main
from pipeline.definitions import build_definitions
from pipeline.paths import Paths
from pipeline.resources import ValidationSettings
from pipeline.suite_process import (
    in_own_process,
    in_spare_process,
    start_spare_for_small_build,
    start_spare_process,
    stop_spare_process,
)
from pipeline.validation import (
    PARSED_ROWS_SUITE,
    Expectation,
    ExpectationError,
    gx_dtypes,
    items_frame,
    items_suite,
    run_suite,
    validate_items,
    validate_items_at,
)
from tests.conftest import TODAY, write_dirty_raw_folder

DIRTY_QUARANTINED, DIRTY_ROWS_IN = 9, 28


def _items_and_suite(curated: Path) -> tuple[pl.DataFrame, list[Expectation]]:
    with duckdb.connect(str(curated / "armtrace.duckdb"), read_only=True) as con:
        items = con.sql("SELECT * FROM items ORDER BY row_number").pl()
        categories = con.sql("SELECT category, item_kind FROM ref_categories").pl()
        names = [n for (n,) in con.sql("SELECT name FROM ref_countries").fetchall()]
    return items_frame(items), items_suite(categories, names, dt.date.fromisoformat(TODAY))


def test_items_suite_passes_on_the_dirty_build(dirty_build: Path) -> None:
    items, suite = _items_and_suite(dirty_build)
    result = run_suite("items", items, suite)
    assert result.passed and not result.failed(), result.failed()
    assert len(result.outcomes) == len(suite)


def test_suite_names_failed_expectations_with_examples(dirty_build: Path) -> None:
    items, suite = _items_and_suite(dirty_build)
    first, second = items.row(0, named=True), items.row(1, named=True)
    broken = items.with_columns(
        site=pl.when(pl.col("row_number") == first["row_number"]).then(None)
        .otherwise(pl.col("site")),
        row_number=pl.when(pl.col("row_number") == second["row_number"])
        .then(first["row_number"]).otherwise(pl.col("row_number")),
    )
    result = run_suite("items", broken, suite)
    assert not result.passed
    failed = {(o.expectation.type, o.expectation.column): o for o in result.failed()}
    assert set(failed) == {("ExpectColumnValuesToNotBeNull", "site"),
                           ("ExpectColumnValuesToBeUnique", "row_number")}
    null_site = failed[("ExpectColumnValuesToNotBeNull", "site")]
    assert null_site.unexpected_count == 1
    assert null_site.examples == [(f"{first['source_file']}:{first['source_line']}", "None")]
    assert failed[("ExpectColumnValuesToBeUnique", "row_number")].unexpected_count == 2


def test_a_warn_expectation_does_not_fail_the_suite(dirty_build: Path) -> None:
    items, suite = _items_and_suite(dirty_build)
    unknown = items.with_columns(origin=pl.when(pl.col("row_number") % 5 == 0)
                                 .then(pl.col("origin")))  # most origins unknown: WARN
    result = run_suite("items", unknown, suite)
    assert result.passed
    assert [(o.expectation.column, o.expectation.severity) for o in result.failed()] == [
        ("origin", "WARN")]
    assert items["origin"].null_count() == 1  # near miss: 14 of 15 known passes (test above)


def test_a_broken_expectation_is_a_programming_error_not_bad_data() -> None:
    frame = pl.DataFrame({"row_number": [1, 2], "source_file": ["a", "b"],
                          "source_line": [2, 3]})
    wrong_kwarg = [Expectation("ExpectColumnValuesToBeBetween",
                               {"column": "row_number", "minimum": 1}, "typo")]
    with pytest.raises(ExpectationError, match="not a valid expectation"):
        run_suite("broken", frame, wrong_kwarg)
    wrong_type = [Expectation("ExpectColumnValuesToBeBetween",
                              {"column": "source_file", "min_value": 1}, "text vs number")]
    with pytest.raises(ExpectationError, match="could not be evaluated"):
        run_suite("broken", frame, wrong_type)
    assert run_suite("parsed_rows", frame, PARSED_ROWS_SUITE).passed  # near miss


def test_a_suite_that_stops_early_leaves_nothing_reading_its_frame() -> None:
    """The suite collects the next columns while GX validates these; when an expectation
    raises, the collection under way ends before the error reaches the caller (who may use
    the DuckDB connection the frame reads, which refuses a second call)."""
    running, collected = [], []

    def slowly(values: pl.Series) -> pl.Series:
        running.append(values.name)
        time.sleep(0.3)
        running.remove(values.name)
        collected.append(values.name)
        return values

    frame = pl.LazyFrame({"a": [1, 2], "b": [3, 4], "c": [5, 6]}).with_columns(
        pl.all().map_batches(slowly, return_dtype=pl.Int64))
    not_null = "ExpectColumnValuesToNotBeNull"
    suite = [Expectation(not_null, {"column": "a"}, ""),
             Expectation("ExpectColumnValuesToBeBetween", {"column": "b", "minimum": 1}, "typo"),
             Expectation(not_null, {"column": "c"}, "")]
    with pytest.raises(ExpectationError, match="not a valid expectation"):
        run_suite("stops", frame, suite)
    assert not running and collected == ["a", "b", "c"]


def _build(raw: Path, root: Path, share: str) -> int:
    return main(["build", "--raw", str(raw), "--curated", str(root / "curated"),
                 "--reports", str(root / "reports"), "--today", TODAY,
                 "--max-quarantined-share", share])


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_quarantined_share_above_the_threshold_blocks_publishing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = write_dirty_raw_folder(tmp_path / "raw")
    at_threshold = str(DIRTY_QUARANTINED / DIRTY_ROWS_IN)
    assert _build(raw, tmp_path, at_threshold) == 0  # near miss: exactly at the limit passes
    database, reports = tmp_path / "curated" / "armtrace.duckdb", tmp_path / "reports"
    published, report_files = database.read_bytes(), _files(reports)
    assert "data-docs/items/index.html" in report_files
    assert 'href="data-docs/items/index.html"' in (reports / "index.html").read_text()
    capsys.readouterr()

    assert _build(raw, tmp_path, "0.3") == 1
    err = capsys.readouterr().err
    assert "row_accounting: quarantined_share_at_most_max: 9 unexpected" in err
    assert "quarantined share 0.3214 > --max-quarantined-share 0.3" in err
    # which files and reasons, and how to look at the rows the build left behind
    assert "quarantined rows by file (4 of 4 files):\n" in err
    assert ("       5  items/team-a/2016-01-export.csv: future_date 1, unknown_category 1, "
            "unparseable_date 1, weapon_quantity 1, year_out_of_range 1\n") in err
    assert "       1  items/team-b/2016/photo.csv: unreadable_file 1\n" in err
    assert "by reason (5 of 8; a row may have more than one):\n" in err
    assert "       2  duplicate_record_id\n" in err
    work_database = tmp_path / "curated" / ".work" / "armtrace.duckdb"
    assert f"the blocked build's database, kept until the next build: {work_database}\n" in err
    inspect = next(line for line in err.splitlines() if "every quarantined row: " in line)
    command = shlex.split(inspect.split("every quarantined row: ", 1)[1])
    assert command[:2] == ["armtrace", "sql"]
    assert main(command[1:]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == DIRTY_QUARANTINED
    assert rows[0]["reasons"].startswith('["')  # a list column, as JSON text
    assert "left as they were" in err
    assert f"Data Docs of the checks: {tmp_path / 'curated' / '.work' / 'data-docs'}" in err
    assert "Traceback" not in err
    assert database.read_bytes() == published
    assert _files(reports) == report_files


# what a page loads: a stylesheet, a script, an image or icon, a url() in a style
_LOADED = re.compile(r'<(?:link|script|img)\b[^>]*?\s(?:href|src)="([^"]*)"'
                     r'|url\(\s*[\'"]?([^\'")]*)', re.IGNORECASE)
# http:, https:, //host and any other scheme but data:
_REMOTE = re.compile(r"^\s*(?:(?!data:)[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)


def _loaded_files(text: str, folder: Path, site: Path) -> list[Path]:
    """The files of `site` that `text` (in `folder`) loads; fails on any other reference."""
    files = []
    for match in _LOADED.finditer(text):
        reference = match.group(1) if match.group(1) is not None else match.group(2)
        assert not _REMOTE.match(reference), f"{folder}: loads {reference!r}"
        if reference.startswith("data:"):
            continue
        target = (folder / reference.split("?")[0].split("#")[0]).resolve()
        assert target.is_file() and target.is_relative_to(site.resolve()), \
            f"{folder}: {reference!r} is no file of the site"
        files.append(target)
    return files


def test_data_docs_need_no_network(dirty_build: Path) -> None:
    docs = dirty_build.parent / "reports" / "data-docs"
    pages = list(docs.rglob("*.html"))
    assert {p.relative_to(docs).as_posix() for p in pages} >= {"items/index.html",
                                                               "parsed_rows/index.html"}
    for page in pages:
        html = page.read_text(encoding="utf-8")
        site = docs / page.relative_to(docs).parts[0]
        loaded = {f.relative_to(site.resolve()).as_posix()
                  for f in _loaded_files(html, page.parent, site)}
        # styled by the local stylesheet, with GX's logo from the site
        assert {"static/styles/armtrace-offline.css", "static/images/logo-long.png"} <= loaded
        assert "<script" not in html, page  # GX's scripts all need jQuery from a CDN
        assert 'href="http' not in html, page
    for sheet in docs.rglob("*.css"):
        _loaded_files(sheet.read_text(encoding="utf-8"), sheet.parent, docs)
    # one suite per column (or pair of columns) the expectations read, each with its results
    columns = {"parsed_rows": {"row_number", "source_file", "source_line"},
               "items": {"record_id", "origin", "documented_year/year_of_manufacture"}}
    for suite, some_columns in columns.items():
        index = (docs / suite / "index.html").read_text(encoding="utf-8")
        for column in some_columns:
            page = docs / suite / "expectations" / suite / f"{column}.html"
            assert column.split("/")[-1] in page.read_text(encoding="utf-8")
            results = list((docs / suite / "validations" / suite / column).rglob("*.html"))
            assert len(results) == 1, column
            assert f'href="{results[0].relative_to(docs / suite).as_posix()}"' in index
        # the index's list of results, drawn by a CDN script in GX, is a table with a status
        rows = re.findall(r'<tr><td><a href="validations/[^"]*">(.*?)</a></td>', index, re.S)
        assert len(rows) == len(list((docs / suite / "validations").rglob("*.html")))
        for status in rows:
            assert re.search(r'class="fas fa-(check-circle|times)', status), status
            assert re.search(r'class="ge-status">(Success|Failed)</span>', status), status


def test_materialize_stops_before_publishing_when_a_blocking_check_fails(
        tmp_path: Path) -> None:
    raw = write_dirty_raw_folder(tmp_path / "raw")
    paths = Paths.resolve(raw, tmp_path / "curated", tmp_path / "reports")
    resources = {**build_definitions(paths).resources,
                 "validation": ValidationSettings(max_quarantined_share=0.05)}
    result = dg.materialize(
        [*ASSETS, *ASSET_CHECKS], resources=resources, instance=dg.DagsterInstance.ephemeral(),
        run_config={"ops": {"normalised_rows": {"config": {"today": TODAY}}}},
        raise_on_error=False,
    )
    assert not result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not evaluations["row_accounting"].passed
    assert evaluations["items_expectations"].passed
    assert evaluations["parsed_rows_expectations"].passed
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "curated_tables" in materialized
    assert not materialized & {"figures", "report", "published_database", "published_reports"}
    assert not paths.database.exists() and not paths.reports_dir.exists()


def test_dates_outside_nanosecond_range_are_still_checked() -> None:
    """gx_dtypes casts dates to datetime64[ns] for GX's vectorised path; a date that does not
    fit (before 1677) must keep its dtype and still be judged, not crash the check."""
    frame = pl.DataFrame({"documented_on": [dt.date(1015, 3, 2), dt.date(2015, 1, 1)],
                          "source_file": ["a.csv", "a.csv"], "source_line": [2, 3]})
    suite = [Expectation("ExpectColumnValuesToBeBetween",
                         {"column": "documented_on", "min_value": dt.datetime(1850, 1, 1)}, "")]
    assert gx_dtypes(frame)["documented_on"].dtype == pl.Date
    failed = run_suite("dates", frame, suite).failed()
    assert [(o.unexpected_count, o.examples) for o in failed] == [(1, [("a.csv:2", "1015-03-02")])]


def test_gx_gets_dates_and_numbers_in_dtypes_it_compares_vectorised() -> None:
    frame = pl.DataFrame({"on": [dt.date(2015, 1, 1)], "year": pl.Series([1990], dtype=pl.Int16),
                          "lat": pl.Series([1.5], dtype=pl.Float32), "site": ["x"]})
    assert gx_dtypes(frame).schema == pl.Schema(
        {"on": pl.Datetime("ns"), "year": pl.Int64, "lat": pl.Float64, "site": pl.String})


def test_a_table_level_expectation_sees_every_row() -> None:
    frame = pl.DataFrame({"a": [1, 2, 3], "source_file": ["f"] * 3, "source_line": [2, 3, 4]})
    suite = [Expectation("ExpectTableRowCountToEqual", {"value": 3}, ""),
             Expectation("ExpectColumnValuesToNotBeNull", {"column": "a"}, "")]
    assert run_suite("table", frame.lazy(), suite).passed
    assert not run_suite("table", frame.head(2), suite).passed


def test_gx_does_not_hash_the_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """The batch fingerprint cost more than the expectations on a column of ten million
    strings (validation._no_batch_fingerprints); this fails if GX computes it again."""
    from great_expectations.execution_engine import pandas_execution_engine

    def fingerprint(frame: object) -> str:
        raise AssertionError("GX fingerprinted a batch")

    monkeypatch.setattr(pandas_execution_engine, "hash_pandas_dataframe", fingerprint)
    monkeypatch.setattr(pandas_execution_engine, "HASH_THRESHOLD", 1e9)  # GX's own value
    frame = pl.DataFrame({"record_id": ["a", "b"], "source_file": ["f"] * 2,
                          "source_line": [2, 3]})
    suite = [Expectation("ExpectColumnValuesToBeUnique", {"column": "record_id"}, "")]
    assert run_suite("ids", frame, suite).passed


def test_items_suite_in_its_own_process_finds_what_it_finds_in_this_one(
        dirty_build: Path, tmp_path: Path) -> None:
    """Large builds validate items in a process of their own (checks.in_own_process): the
    outcomes, failures and examples must be those of the suite run in the build's process."""
    database = tmp_path / "broken.duckdb"
    database.write_bytes((dirty_build / "armtrace.duckdb").read_bytes())
    with duckdb.connect(str(database)) as con:
        con.execute("UPDATE items SET site = NULL WHERE row_number = "
                    "(SELECT min(row_number) FROM items)")
    today = dt.date.fromisoformat(TODAY)
    with duckdb.connect(str(database), read_only=True) as con:
        here = validate_items(con, today, None)
    there = in_own_process(validate_items_at, str(database), {"memory_limit": "1GB"}, today,
                           None)
    assert [(o.expectation.column, o.success, o.unexpected_count, o.examples)
            for o in there.outcomes] == [(o.expectation.column, o.success, o.unexpected_count,
                                         o.examples) for o in here.outcomes]
    (failed,) = there.failed()
    assert failed.expectation.column == "site" and failed.unexpected_count == 1


def test_a_build_above_the_threshold_runs_each_suite_in_its_own_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spawned = []
    monkeypatch.setattr(checks, "SUITES_IN_OWN_PROCESS_ABOVE", 0)
    monkeypatch.setattr(checks, "in_own_process", lambda *call, **options: spawned.append(
        call[0]) or in_own_process(*call, **options))
    raw = write_dirty_raw_folder(tmp_path / "raw")
    assert main(["build", "--raw", str(raw), "--curated", str(tmp_path / "curated"),
                 "--reports", str(tmp_path / "reports"), "--today", TODAY]) == 0
    assert spawned == [run_suite, validate_items_at]
    assert suite_process._spare is None  # the items suite ran in the spare, which has ended
    for suite in ("parsed_rows", "items"):
        assert (tmp_path / "reports" / "data-docs" / suite / "index.html").is_file()


def test_the_spare_process_runs_the_next_suite_only() -> None:
    """start_spare_process starts the process the next in_own_process call runs in; the call
    after that starts one of its own."""
    start_spare_process()
    assert suite_process._spare is not None
    spare_pids = set(suite_process._spare._processes)  # started at once, to import GX
    ran_in = in_own_process(os.getpid)
    assert spare_pids == {ran_in}
    assert suite_process._spare is None
    assert in_own_process(os.getpid) not in (ran_in, os.getpid())


def _exit_slowly() -> int:
    """This process's id, once its exit is made to take a minute."""
    atexit.register(time.sleep, 60)
    return os.getpid()


def test_in_own_process_ends_the_process_without_waiting_for_its_exit() -> None:
    """GX's and pandas' teardown took 1.5 s that the build waited for: the process is ended
    once its result is back, and its memory goes with it."""
    start = time.monotonic()
    pid = in_own_process(_exit_slowly)
    assert time.monotonic() - start < 30  # not the minute its exit would take
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_stopping_the_spare_does_not_wait_for_what_it_is_doing() -> None:
    """A build that fails early stops the spare while it imports GX; the failure is reported
    at once, not after the import."""
    start_spare_process()
    (pid,) = suite_process._spare._processes
    suite_process._spare.submit(time.sleep, 60)
    start = time.monotonic()
    stop_spare_process()
    assert time.monotonic() - start < 30
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


SPARE_THEN_WAIT = """
import time
from pipeline import suite_process
suite_process.start_spare_process()
print(*suite_process._spare._processes, flush=True)
time.sleep(600)
"""


def test_a_killed_build_leaves_no_suite_process_behind() -> None:
    """A build killed with SIGKILL while its spare imports GX: the spare exits too, where it
    waited for work for good, holding its memory."""
    build = subprocess.Popen([sys.executable, "-c", SPARE_THEN_WAIT], stdout=subprocess.PIPE,
                             text=True)
    assert build.stdout is not None
    spare = int(build.stdout.readline())
    build.kill()
    build.wait(timeout=30)
    deadline = time.monotonic() + 30
    while _running(spare) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _running(spare)


def _running(pid: int) -> bool:
    """Whether pid is a live process (not gone, nor a zombie waiting for its parent)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_suite_leaves_no_multiprocessing_lock_behind() -> None:
    """GX's tqdm bars would make a multiprocessing lock, which the resource tracker reports as
    leaked when a suite's process is ended (validation._no_multiprocessing_lock)."""
    from tqdm import tqdm

    frame = pl.DataFrame({"row_number": [0, 1], "source_file": ["f"] * 2, "source_line": [2, 3]})
    assert run_suite("parsed", frame, PARSED_ROWS_SUITE).passed
    assert not hasattr(tqdm.get_lock(), "mp_lock")


def test_in_spare_process_keeps_the_spare_for_the_next_call() -> None:
    """A small build runs both suites in the one spare: in_spare_process leaves it running,
    and in_own_process then ends it."""
    with pytest.raises(RuntimeError, match="no spare process"):
        in_spare_process(os.getpid)
    suite_process._spare = suite_process._new_process()  # a spare that skips the GX import
    first = in_spare_process(os.getpid)
    assert first != os.getpid()
    assert in_spare_process(os.getpid) == first
    assert in_own_process(os.getpid) == first
    assert suite_process._spare is None


def test_a_small_build_starts_the_spare_only_when_it_saves_the_gx_import(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command line starts the spare for a small build in a process without GX; not
    where GX is imported already, and not for item logs above SMALL_BUILD_LOG_BYTES."""
    started = []
    monkeypatch.setattr(suite_process, "start_spare_process", lambda: started.append(True))
    raw = write_dirty_raw_folder(tmp_path / "raw")
    size = suite_process.item_log_bytes(raw)
    assert size == sum(p.stat().st_size for p in (raw / "items").rglob("*.*"))
    import great_expectations  # noqa: F401  (as in a test session that validated before)
    assert not start_spare_for_small_build(raw)
    monkeypatch.delitem(sys.modules, "great_expectations")  # as in a new process
    monkeypatch.setattr(suite_process, "SMALL_BUILD_LOG_BYTES", size - 1)
    assert not start_spare_for_small_build(raw)
    assert not started
    monkeypatch.setattr(suite_process, "SMALL_BUILD_LOG_BYTES", size)
    assert start_spare_for_small_build(raw)
    assert started == [True]


def test_meanwhile_runs_while_the_process_works() -> None:
    """The parsed-rows check starts the spare process this way, so that it imports GX while
    the suite runs rather than during the steps after."""
    ran_at = []
    start = time.monotonic()
    in_own_process(time.sleep, 1.5, meanwhile=lambda: ran_at.append(time.monotonic()))
    (meanwhile_at,) = ran_at
    assert time.monotonic() - meanwhile_at > 1.0  # not after the process returned
    assert meanwhile_at - start < 1.0


def _record_where_suites_run(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, object]]:
    """The checks' calls of in_spare_process and in_own_process, as ('spare' or 'own', the
    function run), in the order made; each call still runs."""
    ran: list[tuple[str, object]] = []
    monkeypatch.setattr(checks, "in_spare_process", lambda *call: ran.append(
        ("spare", call[0])) or in_spare_process(*call))
    monkeypatch.setattr(checks, "in_own_process", lambda *call, **options: ran.append(
        ("own", call[0])) or in_own_process(*call, **options))
    return ran


def _unparseable_corrections(folder: Path) -> Path:
    """A corrections folder whose one file is not YAML: a build fails before its suites."""
    folder.mkdir()
    (folder / "wrong.yaml").write_text("not: [a list of corrections\n", encoding="utf-8")
    return folder


def test_a_small_build_with_a_spare_validates_in_it_and_stops_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a spare started (as the command line does for a small build), both suites run
    in it, the parsed-rows suite leaving it for the items suite, and the build then ends it."""
    ran = _record_where_suites_run(monkeypatch)
    start_spare_process()
    raw = write_dirty_raw_folder(tmp_path / "raw")
    assert main(["build", "--raw", str(raw), "--curated", str(tmp_path / "curated"),
                 "--reports", str(tmp_path / "reports"), "--today", TODAY]) == 0
    assert ran == [("spare", run_suite), ("own", validate_items_at)]
    assert suite_process._spare is None
    for suite in ("parsed_rows", "items"):
        assert (tmp_path / "reports" / "data-docs" / suite / "index.html").is_file()


def test_a_failed_build_stops_the_spare(tmp_path: Path) -> None:
    """A build that fails before its suites does not leave the spare running."""
    suite_process._spare = suite_process._new_process()  # a spare that skips the GX import
    raw = write_dirty_raw_folder(tmp_path / "raw")
    corrections = _unparseable_corrections(tmp_path / "corrections")
    assert main(["build", "--raw", str(raw), "--curated", str(tmp_path / "curated"),
                 "--reports", str(tmp_path / "reports"), "--today", TODAY,
                 "--corrections", str(corrections)]) == 1
    assert suite_process._spare is None


def test_a_dagster_run_of_a_small_build_validates_in_a_spare_it_starts_and_ends(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run the UI, the sensor or the schedule launches has no command line to start the
    spare: the `suite_process` resource starts it as the run starts, both suites run in it,
    and it is gone when the run ends."""
    monkeypatch.delitem(sys.modules, "great_expectations")  # as in a run's new process
    ran = _record_where_suites_run(monkeypatch)
    raw = write_dirty_raw_folder(tmp_path / "raw")
    paths = Paths.resolve(raw, tmp_path / "curated", tmp_path / "reports")
    result = dg.materialize(
        [*ASSETS, *ASSET_CHECKS], resources=build_definitions(paths).resources,
        instance=dg.DagsterInstance.ephemeral(),
        run_config={"ops": {"normalised_rows": {"config": {"today": TODAY}}}})
    assert result.success
    assert ran == [("spare", run_suite), ("own", validate_items_at)]
    assert suite_process._spare is None


def test_a_failed_dagster_run_ends_the_spare_it_started(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that fails before the items suite does not leave its spare waiting."""
    monkeypatch.delitem(sys.modules, "great_expectations")
    started = []
    monkeypatch.setattr(suite_process, "start_spare_process", lambda: started.append(True)
                        or start_spare_process())
    raw = write_dirty_raw_folder(tmp_path / "raw")
    corrections = _unparseable_corrections(tmp_path / "corrections")
    paths = Paths.resolve(raw, tmp_path / "curated", tmp_path / "reports",
                          corrections_dir=corrections)
    result = dg.materialize(
        [*ASSETS, *ASSET_CHECKS], resources=build_definitions(paths).resources,
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False,
        run_config={"ops": {"normalised_rows": {"config": {"today": TODAY}}}})
    assert not result.success
    assert started == [True]
    assert suite_process._spare is None
