"""Odd and hostile files (issue 21): workbooks out of proportion, CSV quirks, values per the
input contract's version 2, Unicode look-alikes in keys, record ids scoped by team. Every case
is a row of a table, and all of them share ONE build (module scope, in-process through the
CLI); each is asserted on its own, with its near miss beside it.
"""

from __future__ import annotations

import csv
import datetime as dt
import fcntl
import io
import json
import os
import random
import re
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl
import pytest
import xlsxwriter

from pipeline.cli import main
from pipeline.paths import REPO_ROOT
from pipeline.stages import read as read_stage
from pipeline.stages.clean import MAX_QUANTITY
from pipeline.stages.correct import ENV_MAX_CORRECTIONS_BYTES, CorrectionError, load_corrections
from pipeline.stages.figures import FigureSettings, compute_figures
from pipeline.stages.workbook_guard import LIMITS, SettingError
from pipeline.validation import MAX_QUANTITY as SUITE_MAX_QUANTITY
from tests.conftest import TODAY
from tests.test_figures import cluster_interval, same
from tests.test_hostile_input import captured_output, rows_placed_and_read

COLUMNS = ("record_id", "documented_on", "documented_in", "site", "category", "model",
           "country_of_manufacture", "year_of_manufacture", "serial_number", "quantity",
           "latitude", "notes")
# this build's workbook limits: small, so that each case needs only a few megabytes
BUILD_LIMITS = {"part_bytes": 2 * 1024**2, "shared_strings_bytes": 1024**2, "parts": 40,
                "file_cells": 100_000}


def record(record_id: str, **cells: str) -> dict[str, str]:
    """A valid cartridge record; its site is its id, so no two cases merge by accident."""
    return {"record_id": record_id, "documented_on": "2016-11-03", "documented_in": "Iraq",
            "site": f"Site {record_id}", "category": "cartridge", "model": "",
            "country_of_manufacture": "", "year_of_manufacture": "", "serial_number": "",
            "quantity": "1", "latitude": "", "notes": "ok", **cells}


def csv_bytes(rows: list[dict[str, str]], line_end: str = "\n") -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, COLUMNS, lineterminator=line_end)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


# --- workbooks --------------------------------------------------------------------------------

def workbook_parts(rows: list[list[str]]) -> dict[str, bytes]:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet("Items")
    for number, cells in enumerate(rows):
        sheet.write_row(number, 0, cells)
    book.close()
    with zipfile.ZipFile(buffer) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def zipped(parts: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def good_rows(record_id: str) -> list[list[str]]:
    return [list(COLUMNS), list(record(record_id).values())]


def sheet_patched(record_id: str, patch: Callable[[bytes], bytes],
                  extra: dict[str, bytes] | None = None) -> bytes:
    """A valid one-row workbook with its sheet's XML changed by `patch` and parts added."""
    parts = workbook_parts(good_rows(record_id))
    parts["xl/worksheets/sheet1.xml"] = patch(parts["xl/worksheets/sheet1.xml"])
    return zipped({**parts, **(extra or {})})


def with_dimension(ref: str | None) -> Callable[[bytes], bytes]:
    def patch(xml: bytes) -> bytes:
        new = b"" if ref is None else f'<dimension ref="{ref}"/>'.encode()
        return re.sub(rb'<dimension ref="[^"]*"/>', new, xml)
    return patch


def with_far_cell(xml: bytes) -> bytes:
    far = b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'
    return with_dimension(None)(xml).replace(b"</sheetData>", far + b"</sheetData>")


def with_inline_notes(text: str) -> Callable[[bytes], bytes]:
    """The data row's notes cell (column L) holding `text` as an inline string."""
    def patch(xml: bytes) -> bytes:
        cell = f'<c r="L3" t="inlineStr"><is><t>{text}</t></is></c>'.encode()
        return xml.replace(b"</sheetData>", b'<row r="3">' + cell + b"</row></sheetData>")
    return patch


def shared_strings_of(size: int) -> dict[str, bytes]:
    noise = random.Random(size).randbytes(size // 2).hex()
    return {"xl/sharedStrings.xml": (
        '<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/'
        f'spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>{noise}</t></si></sst>'
    ).encode()}


def error_cells_workbook() -> bytes:
    """Error values and formulas in the cells of rows E-*, with their near misses (N-*)."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet("Items")
    sheet.write_row(0, 0, COLUMNS)
    column = {name: n for n, name in enumerate(COLUMNS)}
    for row, (case, name, formula, value) in enumerate(ERROR_CELLS, start=1):
        sheet.write_row(row, 0, list(record(case).values()))
        sheet.write_formula(row, column[name], formula, None, value)
    sheet.write_row(len(ERROR_CELLS) + 1, 0, list(record("N-text", notes="#N/A").values()))
    # a row holding nothing but a formula with no result, past a blank row: calamine leaves
    # such a row out of the sheet; it must still be read
    sheet.write_formula(len(ERROR_CELLS) + 3, column["notes"], "=LEN(A2)", None, "")
    book.close()
    return buffer.getvalue()


ERROR_CELLS = [  # record_id, column, formula, its stored value ("" = none)
    ("E-na", "quantity", "=NA()", "#N/A"),
    ("E-ref", "site", "=#REF!", "#REF!"),
    ("E-div0", "year_of_manufacture", "=1/0", "#DIV/0!"),
    ("E-value", "notes", '="a"+1', "#VALUE!"),
    ("E-name", "notes", "=NOPE()", "#NAME?"),
    ("E-num", "notes", "=SQRT(-1)", "#NUM!"),
    ("E-null", "notes", "=A1 B1", "#NULL!"),
    ("E-formula", "quantity", "=2*3", ""),
    ("N-formula", "quantity", "=2*3", 6),  # near miss: a formula with its result is its result
]


def many_formulas_workbook(cells: int) -> bytes:
    """A sheet of `cells` formulas with no stored result: reading it takes seconds."""
    parts = workbook_parts(good_rows("T-1"))
    body = "".join(f'<row r="{r}"><c r="A{r}"><f>1</f></c></row>' for r in range(3, cells + 3))
    parts["xl/worksheets/sheet1.xml"] = with_dimension(None)(
        parts["xl/worksheets/sheet1.xml"]).replace(b"</sheetData>",
                                                   body.encode() + b"</sheetData>")
    return zipped(parts)


# --- the table of files ----------------------------------------------------------------------

@dataclass(frozen=True)
class FileCase:
    id: str
    name: str  # under items/files/
    content: bytes | Callable[[], bytes]
    status: str  # source_files.status
    fragment: str | None  # in source_files.problem (None: no problem)
    kept: dict[str, object] = field(default_factory=dict)  # near miss: record_id -> notes


FILE_CASES = [
    # workbooks out of proportion: refused by the check, or by the reader's process
    FileCase("far_cell_without_dimension", "far-cell.xlsx",
             lambda: sheet_patched("W-far", with_far_cell), "unreadable",
             "reading it needs more than the memory limit of 2,147,483,648 bytes "
             "($ARMTRACE_MAX_WORKBOOK_MEMORY)"),
    FileCase("declared_whole_grid", "whole-grid.xlsx",
             lambda: sheet_patched("W-grid", with_dimension("A1:XFD1048576")), "unreadable",
             "sheet 'Items' declares the range A1:XFD1048576 (1,048,576 rows x 16,384 columns "
             "= 17,179,869,184 cells), more than the limit of 25,000,000 cells"),
    FileCase("lying_dimension_is_harmless", "lying-dimension.xlsx",  # near miss
             lambda: sheet_patched("W-lie", with_dimension("A1:B2")), "ok", None,
             {"W-lie": "ok"}),
    FileCase("shared_strings_too_large", "shared-strings.xlsx",
             lambda: sheet_patched("W-sst", lambda x: x, shared_strings_of(1_200_000)),
             "unreadable", "the part 'xl/sharedStrings.xml' unpacks to 1,200,"),
    FileCase("part_too_large", "big-part.xlsx",
             lambda: sheet_patched("W-big", with_inline_notes(
                 random.Random(1).randbytes(1_100_000).hex())), "unreadable",
             "unpacks to 2,20"),
    FileCase("zip_bomb_ratio", "bomb.xlsx",
             lambda: sheet_patched("W-bomb", with_inline_notes("a" * 1_900_000)),
             "unreadable", "times larger than it is stored"),
    FileCase("small_part_compressing_like_a_bomb", "padded.xlsx",  # near miss: under 1 MiB
             lambda: sheet_patched("W-pad", lambda x: x.replace(
                 b"</sheetData>", b" " * 900_000 + b"</sheetData>")), "ok", None,
             {"W-pad": "ok"}),
    FileCase("too_many_parts", "many-parts.xlsx",
             lambda: sheet_patched("W-parts", lambda x: x, {
                 f"customXml/item{n}.xml": b"<x/>" for n in range(40)}), "unreadable",
             "the archive holds 50 parts, more than the limit of 40"),
    FileCase("damaged_sheet_xml", "damaged.xlsx",
             lambda: sheet_patched("W-damaged", lambda x: x[:x.index(b"<sheetData>") + 30]),
             "unreadable", "not a readable XLSX workbook ("),
    FileCase("sheet_of_more_cells_than_a_file_may_hold", "long-sheet.xlsx",
             lambda: sheet_patched("W-long", lambda x: x.replace(
                 b"</sheetData>", b'<row r="8400"><c r="L8400" t="inlineStr"><is><t>x</t></is>'
                                  b"</c></row></sheetData>")), "unreadable",
             "it holds 100,800 cells (1 sheet of 8,400 rows), more than the limit of 100,000 "
             "cells ($ARMTRACE_MAX_FILE_CELLS)"),
    # delimited text
    FileCase("lines_of_more_cells_than_a_file_may_hold", "many-cells.csv",
             csv_bytes([record("T-many")]) + b"\n" * 8_400, "unreadable",
             "it holds 100,824 cells (8,402 lines of 12 columns), more than the limit of "
             "100,000 cells ($ARMTRACE_MAX_FILE_CELLS): reading it would take more memory"),
    FileCase("lines_just_under_the_cell_limit", "just-under.csv",  # near miss
             csv_bytes([record("T-under")]) + b"\n" * 8_331, "ok", None, {"T-under": "ok"}),
    FileCase("cr_only_line_endings", "old-mac.csv",
             csv_bytes([record("T-cr1"), record("T-cr2", notes="second")], "\r"), "ok", None,
             {"T-cr1": "ok", "T-cr2": "second"}),
    FileCase("crlf_with_a_lone_cr", "mixed.csv",  # a lone CR among CRLFs is a line end too
             csv_bytes([record("T-mx1")], "\r\n") + csv_bytes([record("T-mx2")], "\r")[
                 len(csv_bytes([], "\r")):], "ok", None, {"T-mx1": "ok", "T-mx2": "ok"}),
    FileCase("nul_after_64_kib", "late-nul.csv",
             csv_bytes([record(f"T-nul{n}", notes="n" * 100) for n in range(800)])
             + b"T-nul,2016-11-03,Iraq,Mosul,cartridge,,,,,1,,x\x00y\n", "unreadable",
             "binary file (contains NUL bytes, the first at line 802, byte"),
    FileCase("nul_in_the_first_line", "early-nul.csv", b"record_id\x00,site\n1,x\n",
             "unreadable", "binary file (contains NUL bytes, the first at line 1, byte 9)"),
    FileCase("backslash_escaped_quotes", "backslash.csv",
             csv_bytes([record("T-bs")]).replace(b",ok\n", b',"He said \\"hi\\" twice"\n'),
             "ok", "backslash_quotes: the file writes a quote inside a quoted value as \\\"",
             {"T-bs": 'He said "hi" twice'}),
    FileCase("backslash_ending_a_standard_value", "windows-path.csv",  # near miss
             csv_bytes([record("T-path", notes="x, C:\\logs\\")]), "ok", None,
             {"T-path": "x, C:\\logs\\"}),
    FileCase("backslashes_that_explain_nothing", "bad-backslash.csv",
             csv_bytes([record("T-bb")]).replace(b",ok\n", b',"a \\"b" c"\n'), "unreadable",
             "malformed CSV in the record starting at line 2"),
]


# --- the table of rows: values (one file per team folder, all in team `values`) -------------

@dataclass(frozen=True)
class RowCase:
    id: str
    cells: dict[str, str]
    reason: str | None  # None: a near miss, kept as an item
    expected: str | dict[str, object]  # the problem's fragment, or the item's values


ARABIC_INDIC, PERSIAN, FULLWIDTH, DEVANAGARI = 0x0660, 0x06F0, 0xFF10, 0x0966


def in_script(text: str, zero: int) -> str:
    """`text` with its ASCII digits written in the script whose digit zero is `zero`."""
    return "".join(chr(zero + int(c)) if c.isdigit() else c for c in text)


ROW_CASES = [
    *[RowCase(f"year_in_{name}", {"year_of_manufacture": in_script("1984", zero)}, None,
              {"year_of_manufacture": 1984})
      for name, zero in (("arabic_indic", ARABIC_INDIC), ("persian", PERSIAN),
                         ("fullwidth", FULLWIDTH))],
    RowCase("arabic_headstamp_year", {"year_of_manufacture": in_script("84", ARABIC_INDIC)},
            None, {"year_of_manufacture": 1984}),
    RowCase("devanagari_year_is_not_a_number",  # near miss: a script the contract does not name
            {"year_of_manufacture": in_script("1984", DEVANAGARI)}, "invalid_year",
            f"year_of_manufacture '{in_script('1984', DEVANAGARI)}' is not a year"),
    RowCase("arabic_quantity", {"quantity": in_script("1200", ARABIC_INDIC)}, None,
            {"quantity": 1200}),
    RowCase("arabic_quantity_with_thousands", {"quantity": in_script("1,200", ARABIC_INDIC)},
            None, {"quantity": 1200}),
    RowCase("arabic_date", {"documented_on": in_script("03/11/2015", ARABIC_INDIC)}, None,
            {"documented_on": dt.date(2015, 11, 3)}),
    RowCase("fullwidth_iso_date", {"documented_on": in_script("2015-11-04", FULLWIDTH)}, None,
            {"documented_on": dt.date(2015, 11, 4)}),
    RowCase("persian_latitude", {"latitude": in_script("36.34", PERSIAN)}, None,
            {"latitude": 36.34}),
    RowCase("quantity_at_the_limit", {"quantity": "10,000,000"}, None, {"quantity": 10_000_000}),
    RowCase("quantity_over_the_limit", {"quantity": "10,000,001"}, "invalid_quantity",
            "quantity '10,000,001' is more than 10,000,000, the most one record may hold"),
    RowCase("quantity_of_the_issue", {"quantity": "1,200,000,000,000"}, "invalid_quantity",
            "quantity '1,200,000,000,000' is more than 10,000,000"),
    RowCase("quantity_past_int64", {"quantity": "9" * 30}, "invalid_quantity",
            "is more than 10,000,000"),
    RowCase("arabic_quantity_over_the_limit", {"quantity": in_script("10000001", ARABIC_INDIC)},
            "invalid_quantity", "is more than 10,000,000"),
    RowCase("nan_latitude", {"latitude": "NaN"}, "invalid_coordinate",
            "latitude 'NaN' is not decimal degrees"),
    RowCase("infinite_latitude", {"latitude": "-inf"}, "invalid_coordinate",
            "latitude '-inf' is not decimal degrees"),
]


# --- the table of keys: Unicode look-alikes and teams ----------------------------------------

RIFLE = {"category": "rifle", "model": "AKM", "country_of_manufacture": "Russia"}


@dataclass(frozen=True)
class PairCase:
    id: str
    first: tuple[str, dict[str, str]]  # (path under items/, cells)
    second: tuple[str, dict[str, str]]
    second_disposition: str  # of the second row: item, merged or superseded
    rule: str | None = None


def rifle(record_id: str, serial: str, day: int) -> dict[str, str]:
    return record(record_id, **RIFLE, serial_number=serial, documented_on=f"2016-11-{day:02d}")


PAIR_CASES = [
    # rule 2 across teams, after Unicode cleaning of the serial
    *[PairCase(f"serial_{name}", ("team-a/weapons.csv", rifle(f"A-{name}", plain, 3)),
               ("team-b/weapons.csv", rifle(f"B-{name}", odd, 5)), "merged",
               "re_documented_item")
      for name, plain, odd in (
          ("zero_width_space", "ZW-1001", "ZW-\u200b1001"),
          ("byte_order_mark", "BO-1002", "\ufeffBO-1002"),
          ("soft_hyphen", "SH-1003", "SH\u00ad-1003"),
          ("fullwidth", "FW-1004", "\uff26\uff37-\uff11\uff10\uff10\uff14"),
          ("greek_capitals", "AB-1005", "ΑΒ-1005"),
          ("cyrillic_capitals", "KM-1006", "КМ-1006"),
          ("no_break_space", "SP 1007", "SP\u00a01007"),
          ("en_dash", "ND-1010", "ND\u20131010"))],
    PairCase("serial_that_really_differs", ("team-a/weapons.csv", rifle("A-diff", "RD-1008", 3)),
             ("team-b/weapons.csv", rifle("B-diff", "RD-1009", 5)), "item"),  # near miss
    # rule 1: record ids within a team, after Unicode cleaning; case is kept
    *[PairCase(f"record_id_{name}", ("team-c/2016.csv", record(plain, site=f"C {name}")),
               ("team-c/2017.csv", record(odd, site=f"C {name} later", quantity="2")),
               "item" if name == "in_another_case" else "superseded")
      for name, plain, odd in (
          ("zero_width_space", "C-1", "C-\u200b1"),
          ("byte_order_mark", "C-2", "\ufeffC-2"),
          ("fullwidth", "C-3", "\uff23-\uff13"),
          ("greek_rho", "P-4", "Ρ-4"),
          ("same_in_one_team", "C-6", "C-6"),  # near miss: the same id in one team
          ("in_another_case", "c-5", "C-5"))],  # near miss: case is kept
    # rule 1: teams number their records independently
    PairCase("same_id_in_two_teams", ("team-d/log.csv", rifle("1", "TD-1", 3)),
             ("team-e/log.csv", record("1", category="mortar round", documented_in="Syria",
                                       site="Raqqa")), "item"),
    # rule 3 still applies across teams: one record entered twice
    PairCase("double_entry_across_teams", ("team-d/log.csv", record("D-9", site="Shared")),
             ("team-e/log.csv", record("E-9", site="Shared")), "merged", "double_entry"),
]

DUPLICATE_IDS = [record("F-1", notes="one"), record("F-\u200b1", notes="two"),  # one id
                 record("F-2"), record("F-3")]  # near miss: two ids


@dataclass(frozen=True)
class Built:
    code: int
    output: str
    con: duckdb.DuckDBPyConnection
    root: Path


def write_raw_folder(raw: Path) -> None:
    """Every file of the tables above under `raw`/items."""
    items = raw / "items"
    for case in FILE_CASES:
        path = items / "files" / case.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(case.content() if callable(case.content) else case.content)
    rows = [record(f"V-{case.id}", **case.cells) for case in ROW_CASES]
    (items / "values").mkdir(parents=True)
    (items / "values" / "values.csv").write_bytes(csv_bytes(rows))
    (items / "values" / "errors.xlsx").write_bytes(error_cells_workbook())
    by_file: dict[str, list[dict[str, str]]] = {}
    for case in PAIR_CASES:
        for name, cells in (case.first, case.second):
            by_file.setdefault(name, []).append(cells)
    by_file["team-f/duplicates.csv"] = DUPLICATE_IDS
    for name, rows in by_file.items():
        (items / name).parent.mkdir(parents=True, exist_ok=True)
        (items / name).write_bytes(csv_bytes(rows))


def shared_build(tmp_path_factory: pytest.TempPathFactory, worker_id: str, name: str,
                 write_raw: Callable[[Path], None], env: dict[str, str]) -> Built:
    """One build of the raw folder `write_raw` writes, with `env` set, for every pytest-xdist
    worker of the session: the first worker to need it builds, the others wait on a lock
    and read it (a module's tests may run on both workers; each would build otherwise)."""
    base = tmp_path_factory.getbasetemp()
    root = (base if worker_id == "master" else base.parent) / name
    with (root.parent / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "result.json").exists():
            write_raw(root / "raw")
            with pytest.MonkeyPatch.context() as patch, captured_output() as output:
                for variable, value in env.items():
                    patch.setenv(variable, value)
                code = main(["build", "--raw", str(root / "raw"), "--curated",
                             str(root / "curated"), "--reports", str(root / "reports"),
                             "--today", TODAY])
            (root / "result.json").write_text(json.dumps({"code": code, "output": output[0]}))
    result = json.loads((root / "result.json").read_text())
    con = duckdb.connect(str(root / "curated" / "armtrace.duckdb"), read_only=True)
    return Built(result["code"], result["output"], con, root)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[Built]:
    build = shared_build(tmp_path_factory, worker_id, "odd-files", write_raw_folder,
                         {LIMITS[name].env: str(value) for name, value in BUILD_LIMITS.items()})
    yield build
    build.con.close()


def test_the_build_publishes_without_a_traceback(built: Built) -> None:
    assert built.code == 0, built.output
    assert "Traceback" not in built.output
    assert "memory allocation" not in built.output  # the reader's abort stayed in its process


def test_every_row_read_is_in_exactly_one_place(built: Built) -> None:
    placed, read = rows_placed_and_read(built.con)
    assert placed == read


def _sql(built: Built, query: str, *params: object) -> pl.DataFrame:
    return built.con.sql(query, params=list(params)).pl()


@pytest.mark.parametrize("case", FILE_CASES, ids=[case.id for case in FILE_CASES])
def test_odd_file_ends_with_its_named_reason(built: Built, case: FileCase) -> None:
    path = f"items/files/{case.name}"
    (file,) = _sql(built, "SELECT * FROM source_files WHERE path = ?", path).to_dicts()
    assert file["status"] == case.status, file["problem"]
    if case.fragment is None:
        assert file["problem"] is None
    else:
        assert case.fragment in file["problem"]
    quarantined = _sql(built, "SELECT reasons FROM quarantine WHERE source_file = ?", path)
    if case.status == "unreadable":
        assert file["rows_read"] == 1
        assert quarantined["reasons"].to_list() == [["unreadable_file"]]
    else:
        kept = _sql(built, "SELECT record_id, notes FROM items WHERE source_file = ? "
                           "ORDER BY row_number", path)
        assert dict(kept.iter_rows()) == case.kept
        assert quarantined.is_empty()


def test_cr_only_rows_keep_the_lines_an_editor_shows(built: Built) -> None:
    lines = _sql(built, "SELECT source_line FROM items WHERE source_file = ? ORDER BY 1",
                 "items/files/old-mac.csv")["source_line"].to_list()
    assert lines == [2, 3]


@pytest.mark.parametrize("case", ROW_CASES, ids=[case.id for case in ROW_CASES])
def test_values_per_contract_version_2(built: Built, case: RowCase) -> None:
    record_id = f"V-{case.id}"
    if case.reason is None:
        (item,) = _sql(built, "SELECT * FROM items WHERE record_id = ?", record_id).to_dicts()
        assert {key: item[key] for key in case.expected} == case.expected
        return
    (row,) = _sql(built, "SELECT * FROM quarantine WHERE record_id = ?", record_id).to_dicts()
    assert row["reasons"] == [case.reason]
    assert any(case.expected in problem for problem in row["problems"]), row["problems"]


@pytest.mark.parametrize(("record_id", "column", "formula", "value"), ERROR_CELLS,
                         ids=[case[0] for case in ERROR_CELLS])
def test_spreadsheet_error_cells_are_quarantined(built: Built, record_id: str, column: str,
                                                 formula: str, value: object) -> None:
    if record_id.startswith("N-"):  # near miss: the stored result is the value
        (item,) = _sql(built, "SELECT quantity FROM items WHERE record_id = ?",
                       record_id).to_dicts()
        assert item["quantity"] == value
        return
    (row,) = _sql(built, "SELECT reasons, problems, cells->>? AS cell FROM quarantine "
                         "WHERE record_id = ?", column, record_id).to_dicts()
    assert row["reasons"][0] == "spreadsheet_error"
    shown = f"the error {value}" if value else f"a formula with no stored result ({formula})"
    assert f"spreadsheet_error: column '{column}' holds {shown}" in row["problems"][0]
    assert row["cell"] == (value or formula)  # the cell shows what the spreadsheet holds


def test_a_row_of_only_a_formula_without_result_is_read(built: Built) -> None:
    (row,) = _sql(built, "SELECT source_line, reasons, problems FROM quarantine WHERE "
                         "source_file = 'items/values/errors.xlsx' AND record_id IS NULL"
                  ).to_dicts()
    assert row["source_line"] == len(ERROR_CELLS) + 4
    assert row["reasons"] == ["spreadsheet_error", "missing_required_field"]
    assert "column 'notes' holds a formula with no stored result (=LEN(A2))" in row["problems"][0]


def test_an_error_value_typed_as_text_is_text(built: Built) -> None:  # near miss
    (item,) = _sql(built, "SELECT notes FROM items WHERE record_id = 'N-text'").to_dicts()
    assert item["notes"] == "#N/A"


def test_an_error_in_the_quantity_is_never_an_item_of_one(built: Built) -> None:
    assert _sql(built, "SELECT * FROM items WHERE record_id IN ('E-na', 'E-formula')").is_empty()
    (reasons,), = built.con.sql("SELECT reasons FROM quarantine WHERE record_id = 'E-na'"
                                ).fetchall()
    assert reasons == ["spreadsheet_error", "invalid_quantity"]


def _disposition(built: Built, source: str, record_id: str) -> tuple[str, str | None]:
    """Where the row of `source` with `record_id` went: (table, rule)."""
    for table, rule in (("items", "NULL"), ("record_versions", "NULL"), ("quarantine", "NULL")):
        found = built.con.sql(f"SELECT {rule} FROM {table} WHERE source_file = ? AND "
                              "record_id = ?", params=[source, record_id]).fetchall()
        if found:
            return {"items": "item", "record_versions": "superseded",
                    "quarantine": "quarantined"}[table], None
    (rule,), = built.con.sql("SELECT rule FROM dedup_decisions WHERE dropped_file = ? AND "
                             "dropped_record_id = ?", params=[source, record_id]).fetchall()
    return "merged", rule


@pytest.mark.parametrize("case", PAIR_CASES, ids=[case.id for case in PAIR_CASES])
def test_keys_after_unicode_cleaning_and_teams(built: Built, case: PairCase) -> None:
    (first_file, first), (second_file, second) = case.first, case.second
    kept = _disposition(built, f"items/{first_file}", first["record_id"])
    other = _disposition(built, f"items/{second_file}", second["record_id"])
    if case.second_disposition == "superseded":  # the later file's version wins
        assert (kept, other) == (("superseded", None), ("item", None))
    else:
        assert kept == ("item", None)
        assert other == (case.second_disposition, case.rule)


def test_the_same_id_twice_in_one_file_after_cleaning_conflicts(built: Built) -> None:
    rows = _sql(built, "SELECT record_id, reasons FROM quarantine WHERE source_file = ? "
                       "ORDER BY row_number", "items/team-f/duplicates.csv")
    assert rows["record_id"].to_list() == ["F-1", "F-\u200b1"]
    assert rows["reasons"].to_list() == [["duplicate_record_id"]] * 2
    assert _sql(built, "SELECT record_id FROM items WHERE source_file = ? ORDER BY 1",
                "items/team-f/duplicates.csv")["record_id"].to_list() == ["F-2", "F-3"]


def test_the_recorded_text_is_kept_beside_the_key(built: Built) -> None:
    (item,) = _sql(built, "SELECT record_id, serial_number, serial_key FROM items WHERE "
                          "record_id = 'A-greek_capitals'").to_dicts()
    assert item == {"record_id": "A-greek_capitals", "serial_number": "AB-1005",
                    "serial_key": "AB1005"}
    (version,) = _sql(built, "SELECT record_id FROM items WHERE source_file = "
                             "'items/team-c/2017.csv' AND site = 'C greek_rho later'").to_dicts()
    assert version["record_id"] == "Ρ-4"


def test_the_docs_list_every_reason_and_status(built: Built) -> None:
    documented = (REPO_ROOT / "docs" / "quarantine-reasons.md").read_text()
    reasons = {r for (r,) in built.con.sql(
        "SELECT DISTINCT unnest(reasons) FROM quarantine").fetchall()}
    statuses = {s for (s,) in built.con.sql("SELECT DISTINCT status FROM source_files"
                                            ).fetchall()}
    file_codes = {p.split(":", 1)[0] for (p,) in built.con.sql(
        "SELECT problem FROM source_files WHERE status = 'ok' AND problem IS NOT NULL"
    ).fetchall()}
    code_in_source = set(re.findall(r'"([a-z]+(?:_[a-z]+)+): ', "".join(
        path.read_text() for path in (REPO_ROOT / "pipeline" / "stages").glob("*.py"))))
    for code in reasons | statuses | file_codes | code_in_source:
        assert f"`{code}`" in documented, code
    assert {"spreadsheet_error", "invalid_quantity", "unreadable_file"} <= reasons


def test_the_quantity_limit_is_the_same_in_cleaning_and_validation() -> None:
    assert MAX_QUANTITY == SUITE_MAX_QUANTITY == 10_000_000


# --- the figures at the quantity limit -------------------------------------------------------

def test_figures_do_not_overflow_at_the_quantity_limit(built: Built, tmp_path: Path) -> None:
    """100,000 records of 10,000,000 rounds: their squared sizes sum past BIGINT. The shares
    and intervals still compute, and equal an independent computation."""
    database = tmp_path / "limit.duckdb"
    database.write_bytes((built.root / "curated" / "armtrace.duckdb").read_bytes())
    with duckdb.connect(str(database)) as con:
        con.execute("""
            INSERT INTO items SELECT i.* REPLACE (
                10000000 AS quantity, 2000000 + r.range AS row_number,
                CASE WHEN r.range % 5 < 3 THEN 'Russia' ELSE 'China' END AS origin,
                CASE WHEN r.range % 5 < 3 THEN 'RUS' ELSE 'CHN' END AS origin_code)
            FROM (SELECT * FROM items WHERE record_id = 'V-quantity_at_the_limit') AS i,
                 range(100000) AS r""")
        compute_figures(con, FigureSettings(as_of=dt.date(2016, 12, 31)))
        got = con.sql("SELECT units, share, effective_n, ci_low, ci_high "
                      "FROM fig_ammunition_by_origin "
                      "WHERE documented_in = 'Iraq' AND country = 'Russia'").fetchall()[0]
        records = con.sql("SELECT quantity, origin = 'Russia' FROM items WHERE "
                          "documented_in = 'Iraq' AND item_kind = 'ammunition' AND "
                          "origin IS NOT NULL").fetchall()
    assert sum(m * m for m, _ in records) > 2**63  # the sum of squares would overflow BIGINT
    units = sum(m for m, hit in records if hit)
    assert same(got, (units, units / sum(m for m, _ in records), *cluster_interval(records)))


# --- limits and failures outside the shared build --------------------------------------------

def test_a_reader_panic_makes_only_its_file_unreadable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    panic = type("PanicException", (BaseException,), {})  # as pyo3 defines it

    def panicking(path: Path, contract: object) -> read_stage.FileOutcome:
        raise panic("called `Option::unwrap()` on a `None` value")

    (tmp_path / "log.csv").write_bytes(csv_bytes([record("P-1")]))
    monkeypatch.setitem(read_stage.READERS, "delimited", panicking)
    outcome = read_stage.read_file(tmp_path / "log.csv")
    assert outcome.status == "unreadable"
    assert outcome.problem.startswith("the reader failed on it (PanicException: called "
                                      "`Option::unwrap()` on a `None` value); re-export")

    def interrupted(path: Path, contract: object) -> read_stage.FileOutcome:
        raise KeyboardInterrupt

    monkeypatch.setitem(read_stage.READERS, "delimited", interrupted)  # near miss: not the file's
    with pytest.raises(KeyboardInterrupt):
        read_stage.read_file(tmp_path / "log.csv")


def test_a_workbook_past_the_time_limit_is_stopped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small, slow = tmp_path / "small.xlsx", tmp_path / "slow.xlsx"
    small.write_bytes(zipped(workbook_parts(good_rows("T-small"))))
    slow.write_bytes(many_formulas_workbook(600_000))
    read_stage.read_file(small)  # the reader's server started: what is timed is the reading
    monkeypatch.setenv(LIMITS["seconds"].env, "1")
    assert read_stage.read_file(small).status == "ok"  # near miss: well within the limit
    started = time.monotonic()
    outcome = read_stage.read_file(slow)
    assert time.monotonic() - started < 10
    assert outcome.status == "unreadable"
    assert outcome.problem.startswith("reading it took longer than the limit of 1 s "
                                      "($ARMTRACE_MAX_WORKBOOK_SECONDS)")


@pytest.mark.parametrize("name", list(LIMITS))
def test_a_limit_that_is_not_a_number_fails_the_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    book = tmp_path / "book.xlsx"
    book.write_bytes(zipped(workbook_parts(good_rows("T-limit"))))
    monkeypatch.setenv(LIMITS[name].env, "2GB")
    with pytest.raises(SettingError, match=rf"{LIMITS[name].env}='2GB' is not a positive whole"):
        read_stage.read_file(book)


# --- corrections files -----------------------------------------------------------------------

ENTRY = """corrections:
  - record_id: R-1
    field: notes
    expect: "A&B"  # an ampersand in a quoted value is no anchor
    value: "A and B"
    reason: "Typo"
    decided_by: "J. Smith"
    decided_on: 2017-03-02
"""
LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n"
    for a, b in zip("abcdefgh", "bcdefghi", strict=True))


def fifo(path: Path) -> None:
    os.mkfifo(path)


def link_to_outside(path: Path) -> None:
    outside = path.parent.parent / "outside.yaml"
    outside.write_text(ENTRY)
    path.symlink_to(outside)


CORRECTIONS_LIMIT = 128 * 1024  # $ARMTRACE_MAX_CORRECTIONS_BYTES for these tests
CORRECTION_CASES = [  # id, content, the problem's fragment (None: a near miss, read)
    ("billion_laughs", LAUGHS, "line 1, column 4: refused (anchors and aliases (&name, *name) "
                               "are not allowed"),
    ("one_alias", ENTRY.replace("  - record_id", "  - &e\n    record_id") + "  - *e\n",
     "line 2, column 5: refused (anchors and aliases"),
    ("nested_50000_deep", "corrections: " + "[" * 50_000 + "]" * 50_000 + "\n",
     "line 1, column 21: refused (nested more than 8 levels deep"),
    ("larger_than_the_limit", ENTRY + "#" * CORRECTIONS_LIMIT + "\n",
     "holds more than the limit of 131,072 bytes ($ARMTRACE_MAX_CORRECTIONS_BYTES); split it"),
    ("long_value_quoted_short", ENTRY.replace("field: notes", "field: " + "q" * 3000),
     "field: 'qqqqq"),
    ("fifo", fifo, "not a regular file (a link, FIFO or device)"),
    ("link", link_to_outside, "not a regular file (a link, FIFO or device)"),
    ("ampersand_and_comment", ENTRY, None),  # near miss
    ("exactly_at_the_limit", ENTRY + "#" * (CORRECTIONS_LIMIT - 1 - len(ENTRY)) + "\n",
     None),  # near miss
]


@pytest.mark.parametrize(("content", "fragment"), [case[1:] for case in CORRECTION_CASES],
                         ids=[case[0] for case in CORRECTION_CASES])
def test_corrections_files_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       content: str | Callable[[Path], None],
                                       fragment: str | None) -> None:
    monkeypatch.setenv(ENV_MAX_CORRECTIONS_BYTES, str(CORRECTIONS_LIMIT))
    folder = tmp_path / "corrections"
    folder.mkdir()
    path = folder / "2017-03-team.yaml"
    if callable(content):
        content(path)
    else:
        path.write_text(content)
    started = time.monotonic()
    if fragment is None:
        assert load_corrections(folder)["value"].to_list() == ["A and B"]
        return
    with pytest.raises(CorrectionError) as raised:
        load_corrections(folder)
    message = str(raised.value)
    assert time.monotonic() - started < 5
    assert f"{path}" in message and fragment in message
    assert len(message) < 1000  # the input is quoted, never expanded or copied whole
