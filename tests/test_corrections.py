"""Analysts' corrections: applied before cleaning with an audit, or the build fails loudly."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipeline.cli import main
from pipeline.columns import CANONICAL_NAMES
from pipeline.diff import context_lines
from pipeline.paths import REPO_ROOT
from pipeline.stages.correct import (
    CorrectionError,
    FileByFileCorrections,
    load_corrections,
)
from tests.conftest import TODAY, build, write_log

ROW = {"record_id": "", "documented_on": "2016-01-10", "documented_in": "Iraq", "site": "Mosul",
       "category": "cartridge", "country_of_manufacture": "", "quantity": "1"}
LOG_A = [
    {**ROW, "record_id": "R-1", "country_of_manufacture": "Bulgria", "quantity": "10"},
    {**ROW, "record_id": "R-2", "quantity": "5"},
    {**ROW, "record_id": "R-3", "country_of_manufacture": "Russia", "quantity": "7"},
    {**ROW, "record_id": "R-4", "documented_on": "2099-01-01",
     "country_of_manufacture": "Rusia", "quantity": "3"},
]
LOG_B = [{**ROW, "record_id": "R-3", "documented_on": "2016-02-11", "site": "Basra",
          "country_of_manufacture": "Russia", "quantity": "8"}]

CORRECTIONS = """\
corrections:
  - record_id: R-1
    field: country_of_manufacture
    expect: "Bulgria"
    value: "Bulgaria"
    reason: "Typo; headstamp photo <IMG_2231> shows factory 10"
    decided_by: "J. Smith"
    decided_on: 2017-03-02
  - record_id: R-2
    field: country_of_manufacture
    expect: null
    value: "China"
    reason: "Headstamp 71 in the photo"
    decided_by: "J. Smith"
    decided_on: 2017-03-02
  - record_id: R-3
    source_file: items/team/a.csv
    field: country_of_manufacture
    expect: "Russia"
    value: "Serbia"
    reason: "Serbian lot marking"
    decided_by: "A. Analyst"
    decided_on: 2017-03-03
  - record_id: R-4
    field: country_of_manufacture
    expect: "Rusia"
    value: "Russia"
    reason: "Typo"
    decided_by: "A. Analyst"
    decided_on: 2017-03-03
"""

ENTRY = """\
corrections:
  - record_id: R-1
    field: country_of_manufacture
    expect: "Bulgria"
    value: "Bulgaria"
    reason: "Typo"
    decided_by: "J. Smith"
    decided_on: 2017-03-02
"""


def write_inputs(root: Path, corrections: str = CORRECTIONS) -> tuple[Path, Path]:
    raw, folder = root / "raw", root / "corrections"
    write_log(raw / "items" / "team" / "a.csv", LOG_A)
    write_log(raw / "items" / "team" / "b.csv", LOG_B)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "2017-03-team.yaml").write_text(corrections, encoding="utf-8")
    return raw, folder


def run(root: Path, raw: Path, folder: Path) -> int:
    return main(["build", "--raw", str(raw), "--curated", str(root / "curated"), "--reports",
                 str(root / "reports"), "--today", TODAY, "--corrections", str(folder)])


@pytest.fixture(scope="module")
def corrected_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Root, raw folder and corrections folder of one build with CORRECTIONS applied."""
    root = tmp_path_factory.mktemp("corrected")
    raw, folder = write_inputs(root)
    build(raw, root, "--corrections", str(folder))
    return root, raw, folder


def query(root: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(root / "curated" / "armtrace.duckdb"), read_only=True) as con:
        return con.sql(sql).fetchall()


def test_correction_is_applied_before_cleaning_and_rescues_a_quarantined_row(
        corrected_build: tuple[Path, Path, Path]) -> None:
    root = corrected_build[0]
    # "Bulgria" would have been quarantined as an unknown country; corrected, it is an item.
    assert query(root, "SELECT origin, origin_recorded FROM items WHERE record_id = 'R-1'") == [
        ("Bulgaria", "Bulgaria")]
    assert query(root, "SELECT origin FROM items WHERE record_id = 'R-2'") == [("China",)]
    assert query(root, "SELECT count(*) FROM quarantine WHERE record_id IN ('R-1', 'R-2')") == [
        (0,)]
    accounting = query(root, """
        SELECT (SELECT sum(rows_read) FROM source_files),
               (SELECT count(*) FROM items) + (SELECT count(*) FROM record_versions)
               + (SELECT count(*) FROM dedup_decisions) + (SELECT count(*) FROM quarantine)""")
    assert accounting == [(5, 5)]


def test_correction_limited_to_one_file_leaves_the_same_record_elsewhere(
        corrected_build: tuple[Path, Path, Path]) -> None:
    rows = query(corrected_build[0], """
        SELECT source_file, origin FROM items WHERE record_id = 'R-3'
        UNION ALL SELECT source_file, origin FROM record_versions WHERE record_id = 'R-3'
        ORDER BY source_file""")
    assert rows == [("items/team/a.csv", "Serbia"), ("items/team/b.csv", "Russia")]


def test_original_cells_stay_as_the_log_holds_them(
        corrected_build: tuple[Path, Path, Path]) -> None:
    # R-4 is corrected but still quarantined (documented in the future): its cells are evidence.
    ((cells, reasons),) = query(corrected_build[0],
                                "SELECT cells, reasons FROM quarantine WHERE record_id = 'R-4'")
    assert json.loads(cells)["country_of_manufacture"] == "Rusia"
    assert reasons == ["future_date"]  # no unknown_country: the corrected text was cleaned


def test_audit_table_lists_each_row_changed(corrected_build: tuple[Path, Path, Path]) -> None:
    rows = query(corrected_build[0], """
        SELECT corrections_file, entry, corrections_line, record_id, field, expected, value,
               decided_by, decided_on::VARCHAR, source_file, source_line
        FROM corrections ORDER BY corrections_file, entry, row_number""")
    assert rows == [
        ("2017-03-team.yaml", 1, 2, "R-1", "country_of_manufacture", "Bulgria", "Bulgaria",
         "J. Smith", "2017-03-02", "items/team/a.csv", 2),
        ("2017-03-team.yaml", 2, 9, "R-2", "country_of_manufacture", None, "China",
         "J. Smith", "2017-03-02", "items/team/a.csv", 3),
        ("2017-03-team.yaml", 3, 16, "R-3", "country_of_manufacture", "Russia", "Serbia",
         "A. Analyst", "2017-03-03", "items/team/a.csv", 4),
        ("2017-03-team.yaml", 4, 24, "R-4", "country_of_manufacture", "Rusia", "Russia",
         "A. Analyst", "2017-03-03", "items/team/a.csv", 5),
    ]


def test_report_and_fingerprint_show_the_corrections(
        corrected_build: tuple[Path, Path, Path]) -> None:
    root, _, folder = corrected_build
    html = (root / "reports" / "index.html").read_text(encoding="utf-8")
    assert "Corrections applied" in html
    assert "&lt;IMG_2231&gt;" in html and "<IMG_2231>" not in html
    statistics = json.loads((root / "reports" / "statistics.json").read_text(encoding="utf-8"))
    file_hash = hashlib.sha256((folder / "2017-03-team.yaml").read_bytes()).hexdigest()
    assert statistics["input"]["correction_files"] == [
        {"path": "2017-03-team.yaml", "sha256": file_hash, "corrections": 4, "rows_changed": 4}]
    # A changed corrections file changes the fingerprint, and `armtrace diff` names it.
    changed = copy.deepcopy(statistics)
    changed["input"]["correction_files"][0]["sha256"] = "0" * 64
    changed["input"]["sha256"] = "1" * 64
    assert context_lines(statistics, changed) == ["corrections changed: 2017-03-team.yaml"]


def test_guard_fails_when_the_log_changed_and_nothing_is_published(
        corrected_build: tuple[Path, Path, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    root, _, folder = corrected_build
    database = root / "curated" / "armtrace.duckdb"
    statistics = root / "reports" / "statistics.json"
    before = database.read_bytes(), statistics.read_bytes()
    # The team re-exported with R-1 fixed their own way: the correction no longer fits.
    changed_raw = tmp_path / "raw"
    write_log(changed_raw / "items" / "team" / "a.csv",
              [{**LOG_A[0], "country_of_manufacture": "Bulgaria (factory 10)"}, *LOG_A[1:]])
    write_log(changed_raw / "items" / "team" / "b.csv", LOG_B)
    capsys.readouterr()
    assert run(root, changed_raw, folder) == 1
    err = capsys.readouterr().err
    assert "published database and reports were left as they were" in err
    assert f"{folder / '2017-03-team.yaml'}, entry 1 (line 2)" in err
    assert ("record_id 'R-1', field country_of_manufacture: the correction expects 'Bulgria' "
            "but items/team/a.csv, line 2 now holds 'Bulgaria (factory 10)'") in err
    assert "update or delete the correction" in err
    assert "entry 2" not in err  # the other corrections still fit
    assert "Traceback" not in err
    assert (database.read_bytes(), statistics.read_bytes()) == before


def test_correction_that_matches_no_row_fails(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    raw, folder = write_inputs(tmp_path, ENTRY.replace("R-1", "R-9").replace(
        "field:", "source_file: items/team/b.csv\n    field:"))
    assert run(tmp_path, raw, folder) == 1
    err = capsys.readouterr().err
    assert "no row has record_id 'R-9' in items/team/b.csv" in err
    assert "renamed or removed" in err
    assert not (tmp_path / "curated" / "armtrace.duckdb").exists()


def apply_file_by_file(parsed: pl.DataFrame, folder: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The corrections applied to each file's rows in turn, as a build applies them."""
    by_file = FileByFileCorrections(load_corrections(folder), folder)
    corrected = [by_file.apply(rows)
                 for rows in parsed.partition_by("source_file", maintain_order=True)]
    return pl.concat(corrected), by_file.audit()


def apply_at_once(parsed: pl.DataFrame, folder: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The corrections applied to every file's rows together."""
    all_files = FileByFileCorrections(load_corrections(folder), folder)
    corrected = all_files.apply(parsed)
    return corrected, all_files.audit()


APPLY = [apply_at_once, apply_file_by_file]


@pytest.mark.parametrize("apply", APPLY)
def test_correction_limited_to_a_file_without_the_record_fails(tmp_path: Path, apply) -> None:
    """The record is in a.csv, read before b.csv: the message must still say where it is."""
    _, folder = write_inputs(tmp_path, ENTRY.replace(
        "field:", "source_file: items/team/b.csv\n    field:"))
    with pytest.raises(CorrectionError, match=r"no row has record_id 'R-1' in items/team/b\.csv "
                                              r"\(it is in items/team/a\.csv\)"):
        apply(parsed_frame(), folder)


def parsed_frame() -> pl.DataFrame:
    """Parsed rows as the read stage gives them for LOG_A and LOG_B (only what matching needs)."""
    rows = [{**row, "source_file": f"items/team/{name}", "source_sheet": None,
             "source_line": line, "cells": json.dumps(row)}
            for name, log in (("a.csv", LOG_A), ("b.csv", LOG_B))
            for line, row in enumerate(log, 2)]
    frame = pl.DataFrame(rows).with_columns(
        pl.col(pl.String).replace("", None),
        *[pl.lit(None, pl.String).alias(c) for c in CANONICAL_NAMES if c not in ROW])
    return frame.with_row_index("row_number").with_columns(pl.col("row_number").cast(pl.Int64))


@pytest.mark.parametrize("apply", APPLY)
def test_two_corrections_of_the_same_cell_fail(tmp_path: Path, apply) -> None:
    second = ENTRY.split("\n", 1)[1].replace('"Bulgaria"', '"Belarus"')
    _, folder = write_inputs(tmp_path, ENTRY + second)
    with pytest.raises(CorrectionError) as failure:
        apply(parsed_frame(), folder)
    message = str(failure.value)
    assert "entry 1 (line 2) and" in message and "entry 2 (line 9)" in message
    assert "change field country_of_manufacture of record_id 'R-1'" in message


@pytest.mark.parametrize("apply", APPLY)
def test_apply_leaves_cells_and_other_rows_alone(tmp_path: Path, apply) -> None:
    _, folder = write_inputs(tmp_path)
    parsed = parsed_frame()
    corrected, audit = apply(parsed, folder)
    assert corrected["cells"].equals(parsed["cells"])
    changed = corrected.filter(
        pl.col("country_of_manufacture").ne_missing(parsed["country_of_manufacture"]))
    assert changed["record_id"].to_list() == ["R-1", "R-2", "R-3", "R-4"]
    assert corrected.drop("country_of_manufacture").equals(parsed.drop("country_of_manufacture"))
    assert audit.height == 4


def test_file_by_file_gives_what_applying_at_once_gives(tmp_path: Path) -> None:
    _, folder = write_inputs(tmp_path)
    by_file, by_file_audit = apply_file_by_file(parsed_frame(), folder)
    at_once, at_once_audit = apply_at_once(parsed_frame(), folder)
    assert by_file_audit.height == 4
    assert by_file.equals(at_once) and by_file_audit.equals(at_once_audit)


@pytest.mark.parametrize(("corrections", "expected"), [
    ("corrections:\n  - record_id: [R-1\n", "line 3, column 1: not valid YAML"),
    (ENTRY.replace("country_of_manufacture", "origin_country"),
     "entry 1 (line 2): field: 'origin_country' is not a column of the item-log contract"),
    (ENTRY.replace('    reason: "Typo"\n', ""), "entry 1 (line 2): missing key 'reason'"),
    (ENTRY.replace("    decided_by", "    approved: yes\n    decided_by"),
     "entry 1 (line 2): unknown key 'approved'"),
    (ENTRY.replace('"Bulgria"', "1975"), "expect: Input should be a valid string (got 1975); "
                                          "write the value in quotes"),
    (ENTRY.replace('"Typo"', '"Typo"\n    reason: "Other"'), "key given twice: reason"),
    (ENTRY.replace('"Bulgaria"', '" Bulgria "'), "the correction changes nothing"),
    ("- record_id: R-1\n", "expected a mapping with one key, `corrections:`"),
])
def test_malformed_corrections_give_a_clear_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], corrections: str,
        expected: str) -> None:
    raw, folder = write_inputs(tmp_path, corrections)
    assert run(tmp_path, raw, folder) == 1
    err = capsys.readouterr().err
    assert str(folder / "2017-03-team.yaml") in err
    assert expected in err
    assert "Traceback" not in err


def test_missing_corrections_folder_is_a_usage_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw, _ = write_inputs(tmp_path)
    assert run(tmp_path, raw, tmp_path / "no-such-folder") == 2
    assert "no corrections folder at" in capsys.readouterr().err


def test_shipped_corrections_folder_changes_nothing() -> None:
    assert load_corrections(REPO_ROOT / "data" / "corrections").height == 0
