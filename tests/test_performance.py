"""Behaviour that only shows at scale: charts of thousands of rows, and the resolve stage's
windows (the benchmark itself is `make bench`, see docs/performance.md)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from benchmarks import run as benchmark
from benchmarks.floor import floor_query
from benchmarks.run import END, SAMPLE_ROWS, START, _rss_bytes, _tree_rss_bytes
from pipeline.cli import build_run_config, run_build
from pipeline.paths import REPO_ROOT, Paths
from pipeline.report.charts import MAX_CHAIN_BARS, _days_to_recovery, render
from pipeline.stages.resolve import _supersede_old_versions
from tests.conftest import SHIPPED_SAMPLE, TODAY, write_dirty_raw_folder


def chains(count: int) -> pl.DataFrame:
    return pl.DataFrame({
        "record_id": [f"R{i:05d}" for i in range(count)], "model": ["PG-9"] * count,
        "lot_number": ["12-14-451"] * count, "transfer_id": ["RO-US-2014-017"] * count,
        "days_to_recovery": list(range(count)),
    })


def test_thousands_of_diversion_chains_render_as_the_first_few_with_a_title_saying_so() -> None:
    svg, png = render(_days_to_recovery(chains(2_000), synthetic=False))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"first {MAX_CHAIN_BARS} of 2,000 chains" in svg
    labels = set(re.findall(r"R\d{5}", svg))
    assert labels == {f"R{i:05d}" for i in range(MAX_CHAIN_BARS)}  # the first ones, in order


def test_few_chains_are_all_drawn_in_row_order_with_the_plain_title() -> None:
    frame = chains(5).reverse()  # row order, not record order, decides the bars' order
    svg, _ = render(_days_to_recovery(frame, synthetic=False))
    assert "chains by shipment" not in svg
    assert re.findall(r"R\d{5}", svg)[:5] == frame["record_id"].to_list()


def test_supersede_picks_the_latest_dated_version_among_many_records() -> None:
    """Many record ids at once (the window once ran per record): each id's latest version by
    updated_at wins; an id with an undated version falls back to the later row."""
    ids = [f"R{i}" for i in range(300) for _ in range(2)]
    day = dt.datetime(2016, 1, 1)
    updated = [day + dt.timedelta(days=(1 - n % 2) if i % 3 else n % 2)
               for i in range(300) for n in range(2)]
    updated[1] = None  # R0: one version undated -> the later row (row 1) wins
    frame = pl.DataFrame({
        "row_number": list(range(600)), "team": [""] * 600, "record_id_key": ids,
        "updated_at_parsed": updated,
        "disposition": [None] * 600, "rule": [None] * 600, "resolved_to_row": [None] * 600,
    }, schema_overrides={"disposition": pl.String, "rule": pl.String,
                         "resolved_to_row": pl.Int64})
    out = _supersede_old_versions(frame)
    winners = out.filter(pl.col("disposition").is_null())["row_number"].to_list()
    expected = [1] + [2 * i + (0 if i % 3 else 1) for i in range(1, 300)]
    assert winners == expected
    superseded = out.filter(pl.col("disposition") == "superseded")
    assert superseded.height == 300
    assert (superseded["resolved_to_row"] - superseded["row_number"]).abs().to_list() == [1] * 300


def test_a_build_publishes_without_keeping_stage_outputs_in_memory(tmp_path: Path) -> None:
    """execute_in_process keeps every step's output for the result; the CLI's run must not
    (at a million rows that held 7 GiB), yet still run every step and publish."""
    raw = write_dirty_raw_folder(tmp_path / "raw")
    paths = Paths.resolve(raw, tmp_path / "curated", tmp_path / "reports")
    result = run_build(paths, build_run_config(TODAY, None), max_quarantined_share=1.0)
    assert result.success
    assert {event.step_key for event in result.get_step_success_events()} >= {
        "raw_files", "normalised_rows", "resolved_rows", "curated_tables", "published"}
    assert paths.database.exists()
    with pytest.raises(dg.DagsterInvariantViolationError):
        result.output_for_node("resolved_rows")


def test_loading_the_definitions_imports_neither_the_chart_libraries_nor_gx() -> None:
    """altair (0.75 s) and GX (4 s) are imported where a build has a core to spare for them:
    altair while the build waits for the items suite, GX in the suites' process."""
    code = ("import sys, pipeline.cli, pipeline.definitions; "
            "print(sorted({'altair', 'vl_convert', 'great_expectations'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=REPO_ROOT)
    assert done.stdout.strip() == "[]"


def test_the_floor_reads_every_item_row_of_the_shipped_sample() -> None:
    """The floor covers the same rows as the build: delimited logs and workbooks, not the
    workbooks' read-me sheets, not the transfer records."""
    floor = floor_query(SHIPPED_SAMPLE)
    assert (floor["rows"], floor["workbooks"], floor["delimited_files"]) == (SAMPLE_ROWS, 4, 13)


def test_a_benchmark_run_replaces_only_its_table_in_the_performance_doc(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text(f"# intro\n{START}\nold table\n{END}\n## after\n", encoding="utf-8")
    monkeypatch.setattr(benchmark, "DOC", doc)
    monkeypatch.setattr(benchmark, "table", lambda results: f"table of {results['n']}")
    benchmark.write_doc({"n": 1})
    benchmark.write_doc({"n": 2})
    assert doc.read_text() == f"# intro\n{START}\ntable of 2\n{END}\n## after\n"


def test_the_benchmark_counts_the_memory_of_child_processes() -> None:
    """A large build validates items in a child process: its memory is the build's too."""
    megabytes = 300
    child = subprocess.Popen(
        [sys.executable, "-c", f"import sys, time; b = b'x' * ({megabytes} << 20); "
                               "print(flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE)
    try:
        child.stdout.readline()
        assert _tree_rss_bytes(os.getpid()) >= _rss_bytes(os.getpid()) + (megabytes << 20)
    finally:
        child.kill()
        child.wait()



def test_the_benchmark_counts_the_cpu_time_of_child_processes(tmp_path: Path) -> None:
    """A large build validates in child processes: their CPU time is the build's too, once
    they have ended (the benchmark's `build CPU time`)."""
    burn = "import time\nstart = time.process_time()\nwhile time.process_time() - start < 0.5: pass"
    parent = ("import subprocess, sys\n"
              f"subprocess.run([sys.executable, '-c', {burn!r}], check=True)")
    measured = benchmark.timed([sys.executable, "-c", parent], tmp_path, dict(os.environ))
    assert measured["cpu_seconds"] >= 0.5


def test_the_benchmark_table_names_the_machine_speed_at_both_ends_of_the_run(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two runs of the benchmark compare only on machines of the same speed; the table says
    what the probe measured before the first build and after the last."""
    results = json.loads(benchmark.RESULTS.read_text())
    results["machine"]["probe_seconds"] = [1.25, 2.5]
    header = benchmark.table(results).splitlines()[0]
    assert "1.25 s at the start of the run, 2.50 s at its end" in header
    del results["machine"]["probe_seconds"]
    assert "probe" not in benchmark.table(results).splitlines()[0]
    monkeypatch.setattr(benchmark, "PROBE_STEPS", 200_000)  # some milliseconds
    assert benchmark.speed_probe() > 0


def test_the_benchmark_gives_the_size_of_the_logs_and_of_the_published_database() -> None:
    """The scale section's storage figures (MB per million rows) come from the run's table."""
    results = json.loads(benchmark.RESULTS.read_text())
    results["scales"] = results["scales"][-1:]
    results["scales"][0].update(raw_item_log_bytes=1_600e6, database_bytes=409e6)
    lines = benchmark.table(results).splitlines()
    assert "| raw item logs, MB | 1,600 |" in lines
    assert "| published database, MB | 409 |" in lines
    del results["scales"][0]["database_bytes"]  # a run from before the sizes were recorded
    assert not any("MB" in line for line in benchmark.table(results).splitlines())
