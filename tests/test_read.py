"""Read stage: headers, delimiters, encodings, unreadable files, line numbers, spreadsheets.

Every test writes a tiny raw folder under tmp_path and runs discover + read on it, so it
checks what the read stage really hands to the clean stage.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import threading
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from pipeline.columns import CANONICAL_NAMES, ITEMS, REQUIRED_NAMES
from pipeline.reference import Reference
from pipeline.stages import read as read_stage
from pipeline.stages.discover import discover_raw_files
from pipeline.stages.item_logs import normalise_logs
from pipeline.stages.read import read_dataset, read_files
from tests.conftest import no_corrections

# The five required columns under their canonical names, and one value for each.
REQUIRED_HEADER = {name: name for name in REQUIRED_NAMES}
ROW = {"record_id": "R-1", "documented_on": "2016-11-03", "documented_in": "Iraq",
       "site": "Mosul", "category": "rifle"}


def delimited(rows: list[list[str]], delimiter: str = ",") -> str:
    """Rows as delimited text, quoted where needed (the way spreadsheet tools export)."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def write(raw: Path, relative: str, data: str | bytes, encoding: str = "utf-8") -> None:
    path = raw / "items" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))


def read(raw: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    return read_dataset(raw, discover_raw_files(raw))


def only_report(report: pl.DataFrame) -> dict:
    assert report.height == 1
    return report.row(0, named=True)


# --- headers ---------------------------------------------------------------------------------

HEADER_ALIASES = [
    # record_id
    ("id", "record_id"), ("Item ID", "record_id"), ("record", "record_id"),
    ("record no", "record_id"), ("REF", "record_id"), ("Reference", "record_id"),
    ("Record (No)", "record_id"), ("RECORD_ID", "record_id"),
    # documented_on
    ("date", "documented_on"), ("Date Documented", "documented_on"),
    ("documentation date", "documented_on"), ("Documentation-Date", "documented_on"),
    # documented_in
    ("country", "documented_in"), ("country_documented", "documented_in"),
    ("Country Documented", "documented_in"),
    # site
    ("location", "site"), ("Site-Name", "site"), ("place", "site"), ("SITE NAME", "site"),
    # coordinates
    ("lat", "latitude"), ("Latitude", "latitude"),
    ("lon", "longitude"), ("long", "longitude"), ("Longitude", "longitude"),
    # category
    ("type", "category"), ("Item.Type", "category"), ("item category", "category"),
    ("Item_Type", "category"),
    # model
    ("designation", "model"), ("Model Designation", "model"), ("Model", "model"),
    # calibre
    ("Caliber", "calibre"), ("cal", "calibre"), ("Cal.", "calibre"), ("Calibre", "calibre"),
    # manufacturer
    ("maker", "manufacturer"), ("Factory", "manufacturer"), ("producer", "manufacturer"),
    # country_of_manufacture
    ("origin", "country_of_manufacture"), ("Country of Origin", "country_of_manufacture"),
    ("country of manufacture", "country_of_manufacture"), ("COM", "country_of_manufacture"),
    ("Made In", "country_of_manufacture"), ("(Made in)", "country_of_manufacture"),
    ("Producer Country", "country_of_manufacture"),
    # year_of_manufacture
    ("year", "year_of_manufacture"), ("YoM", "year_of_manufacture"),
    ("Y.O.M.", "year_of_manufacture"), ("Year of Manufacture", "year_of_manufacture"),
    ("manufacture year", "year_of_manufacture"),
    # serial_number
    ("serial", "serial_number"), ("Serial No", "serial_number"), ("S/N", "serial_number"),
    ("s / n", "serial_number"), ("Serial No.", "serial_number"),
    # lot_number
    ("lot", "lot_number"), ("Lot No", "lot_number"), ("LOT-NO.", "lot_number"),
    ("batch", "lot_number"),
    # quantity
    ("Qty", "quantity"), ("QTY.", "quantity"), ("count", "quantity"), ("units", "quantity"),
    ("number", "quantity"), ("  Qty  ", "quantity"),
    # recovered_from
    ("recovered from", "recovered_from"), ("Recovered_From", "recovered_from"),
    ("Source", "recovered_from"),
    # updated_at
    ("Last Modified", "updated_at"), ("last-modified", "updated_at"), ("modified", "updated_at"),
    ("updated", "updated_at"),
    # notes
    ("Remarks", "notes"), ("comments", "notes"), ("Notes", "notes"),
]


@pytest.mark.parametrize(("header", "canonical"), HEADER_ALIASES)
def test_header_alias_maps_to_its_canonical_column(tmp_path: Path, header: str,
                                                   canonical: str) -> None:
    headers = dict(REQUIRED_HEADER)
    headers[canonical] = header  # replaces a required header or adds an optional one
    values = {name: ROW.get(name, f"value of {name}") for name in headers}
    write(tmp_path, "log.csv", delimited([list(headers.values()), list(values.values())]))

    rows, report = read(tmp_path)

    assert only_report(report)["status"] == "ok"
    row = rows.row(0, named=True)
    assert row[canonical] == values[canonical]
    assert row["read_problem"] is None
    assert row["extra"] is None  # every header was recognised, nothing left over


NEAR_MISS_HEADERS = ["Lot Size", "Date Received", "Model Year", "Site Code", "Origin Notes",
                     "Serial Photo", "Countries", "Record Keeper"]


@pytest.mark.parametrize("header", NEAR_MISS_HEADERS)
def test_header_that_is_no_alias_is_kept_as_extra_not_mapped(tmp_path: Path,
                                                             header: str) -> None:
    write(tmp_path, "log.csv", delimited([[*REQUIRED_HEADER.values(), header],
                                          [*ROW.values(), "kept-value"]]))

    rows, _ = read(tmp_path)

    row = rows.row(0, named=True)
    assert json.loads(row["extra"]) == {header: "kept-value"}
    assert "kept-value" not in [row[c] for c in CANONICAL_NAMES]
    assert json.loads(row["cells"])[header] == "kept-value"
    # and the near miss did not steal the canonical column it resembles
    assert [row[c] for c in REQUIRED_NAMES] == list(ROW.values())


# --- delimiters ------------------------------------------------------------------------------

@pytest.mark.parametrize(("delimiter", "name"), [
    (",", "log.csv"), (";", "log.csv"), ("\t", "log.tsv"), ("\t", "log.txt"), ("|", "log.txt"),
    ("|", "log.csv"), (";", "log.TXT"),
])
def test_delimiter_is_detected(tmp_path: Path, delimiter: str, name: str) -> None:
    # Values contain commas, so a comma-split file would be visibly wrong.
    header = [*REQUIRED_HEADER.values(), "quantity", "notes"]
    row = [*ROW.values(), "1,200", "found near the well, north side"]
    write(tmp_path, name, delimited([header, row], delimiter))

    rows, report = read(tmp_path)

    assert only_report(report)["delimiter"] == delimiter
    parsed = rows.row(0, named=True)
    assert parsed["quantity"] == "1,200"
    assert parsed["notes"] == "found near the well, north side"
    assert parsed["site"] == "Mosul"
    assert parsed["read_problem"] is None


# --- encodings -------------------------------------------------------------------------------

@pytest.mark.parametrize(("encoding", "reported", "country", "serial"), [
    ("utf-8", "utf-8", "Türkiye", "№ 55"),
    ("utf-8-sig", "utf-8-sig", "Türkiye", "№ 55"),
    ("cp1252", "windows-1252", "Türkiye", "Café-€5"),
])
def test_text_encodings_are_decoded(tmp_path: Path, encoding: str, reported: str,
                                    country: str, serial: str) -> None:
    # record_id comes first, so a BOM left on the first header would break its mapping.
    text = delimited([["record_id", "date", "country", "site", "type", "serial"],
                      ["R-1", "2016-11-03", country, "Mosul", "rifle", serial]])
    write(tmp_path, "log.csv", text, encoding)

    rows, report = read(tmp_path)

    assert only_report(report)["encoding"] == reported
    row = rows.row(0, named=True)
    assert row["record_id"] == "R-1"
    assert row["documented_in"] == country
    assert row["serial_number"] == serial
    assert row["read_problem"] is None


# --- unreadable files ------------------------------------------------------------------------

def test_binary_file_is_unreadable_named_and_the_others_still_read(tmp_path: Path) -> None:
    write(tmp_path, "photo.csv", bytes(range(256)) * 4)
    write(tmp_path, "good.csv", delimited([list(REQUIRED_HEADER.values()), list(ROW.values())]))

    rows, report = read(tmp_path)

    by_path = {r["path"]: r for r in report.iter_rows(named=True)}
    assert by_path["items/photo.csv"]["status"] == "unreadable"
    assert "binary" in by_path["items/photo.csv"]["problem"]
    assert by_path["items/good.csv"]["status"] == "ok"
    bad = rows.filter(pl.col("source_file") == "items/photo.csv")
    assert bad.height == 1  # counted, not lost
    assert bad["read_problem"][0].startswith("unreadable_file: binary")
    assert rows.filter(pl.col("source_file") == "items/good.csv")["record_id"].to_list() == [
        "R-1"]


@pytest.mark.parametrize(("name", "data", "reason"), [
    ("notes.csv", "hello world\nthis is not a log\n", "header"),
    ("empty.csv", "", "empty file (0 bytes)"),
    ("fake.xlsx", "id,date,country,site,type\n", "CSV named .xlsx"),
    ("utf16.csv", "id,date,country,site,type\n".encode("utf-16"), "UTF-16 text"),
])
def test_file_that_cannot_be_read_is_reported_with_a_reason(tmp_path: Path, name: str,
                                                            data: str | bytes,
                                                            reason: str) -> None:
    write(tmp_path, name, data)

    rows, report = read(tmp_path)

    line = only_report(report)
    assert line["path"] == f"items/{name}"
    assert line["status"] == "unreadable"
    assert reason in line["problem"]
    assert rows["read_problem"].to_list() == [f"unreadable_file: {line['problem']}"]
    assert rows["source_file"].to_list() == [f"items/{name}"]


def test_header_naming_only_two_contract_columns_is_still_a_header(tmp_path: Path) -> None:
    # Near miss of "no recognisable header": the file is read, and its gaps are reported.
    write(tmp_path, "log.csv", "id,date\nR-1,2016-11-03\n")

    rows, report = read(tmp_path)

    assert only_report(report)["status"] == "missing_columns"
    assert rows["record_id"].to_list() == ["R-1"]


@pytest.mark.parametrize("missing", REQUIRED_NAMES)
def test_missing_required_column_quarantines_every_row_of_the_file(tmp_path: Path,
                                                                   missing: str) -> None:
    headers = [h for c, h in REQUIRED_HEADER.items() if c != missing]
    body = [[v for c, v in ROW.items() if c != missing] for _ in range(2)]
    write(tmp_path, "log.csv", delimited([headers, *body]))

    rows, report = read(tmp_path)

    assert only_report(report)["status"] == "missing_columns"
    assert missing in only_report(report)["problem"]
    assert rows.height == 2
    for problem in rows["read_problem"]:
        assert problem.startswith("missing_required_column:")
        assert missing in problem


OPTIONAL_VALUES = {"model": "AKM", "quantity": "1", "serial_number": "1001", "notes": "n"}


@pytest.mark.parametrize("optional", OPTIONAL_VALUES)
def test_missing_optional_column_is_no_problem(tmp_path: Path, optional: str) -> None:
    present = {c: v for c, v in OPTIONAL_VALUES.items() if c != optional}
    write(tmp_path, "log.csv", delimited([[*REQUIRED_HEADER.values(), *present],
                                          [*ROW.values(), *present.values()]]))

    rows, report = read(tmp_path)

    assert only_report(report)["status"] == "ok"
    row = rows.row(0, named=True)
    assert row["read_problem"] is None
    assert row[optional] is None
    assert {c: row[c] for c in present} == present


# --- line numbers and malformed rows ---------------------------------------------------------

HEADER_LINE = "id,date,country,site,type,notes\n"


@pytest.mark.parametrize(("body", "lines"), [
    # a quoted cell with a newline spans lines 2-3, so the next record starts on line 4
    ('A,2016-11-03,Iraq,"Mo\nsul",rifle,x\nB,2016-11-03,Iraq,Mosul,rifle,\n', [2, 4]),
    ('A,2016-11-03,Iraq,"Mo\r\nsul",rifle,x\r\nB,2016-11-03,Iraq,Mosul,rifle,\r\n', [2, 4]),
    ('A,2016-11-03,Iraq,"a\nb\nc",rifle,x\nB,2016-11-03,Iraq,Mosul,rifle,\n', [2, 5]),
    ('A,2016-11-03,Iraq,Mosul,rifle,"x\n\ny"\nB,2016-11-03,Iraq,Mosul,rifle,\n', [2, 5]),
    # the same with a ragged row, which takes the reader's slower path
    ('A,2016-11-03,Iraq,"Mo\nsul",rifle,x\nB,2016-11-03,Iraq,Mosul,rifle,,extra\n', [2, 4]),
    # a blank line is skipped but still counted
    ("A,2016-11-03,Iraq,Mosul,rifle,x\n\nB,2016-11-03,Iraq,Mosul,rifle,\n", [2, 4]),
    # near miss: no multi-line cell, consecutive lines
    ("A,2016-11-03,Iraq,Mosul,rifle,x\nB,2016-11-03,Iraq,Mosul,rifle,\n", [2, 3]),
])
def test_line_numbers_count_physical_lines(tmp_path: Path, body: str, lines: list[int]) -> None:
    write(tmp_path, "log.csv", HEADER_LINE + body)

    rows, _ = read(tmp_path)

    assert rows["record_id"].to_list() == ["A", "B"]
    assert rows["source_line"].to_list() == lines


def test_quoted_newline_is_kept_inside_the_cell(tmp_path: Path) -> None:
    write(tmp_path, "log.csv", HEADER_LINE + 'A,2016-11-03,Iraq,"Mo\nsul",rifle,x\n')

    rows, _ = read(tmp_path)

    assert rows["site"].to_list() == ["Mo\nsul"]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_row_with_more_fields_than_the_header_is_malformed(tmp_path: Path,
                                                           delimiter: str) -> None:
    lines = ["id,date,country,site,type", "A,2016-11-03,Iraq,Mosul,rifle",
             "B,2016-11-03,Iraq,Mosul,rifle,surplus", "C,2016-11-03,Iraq,Mosul,rifle"]
    write(tmp_path, "log.csv", "\n".join(line.replace(",", delimiter) for line in lines) + "\n")

    rows, _ = read(tmp_path)

    problems = dict(zip(rows["record_id"], rows["read_problem"], strict=True))
    assert problems["B"].startswith("malformed_row:")
    assert problems["A"] is None
    assert problems["C"] is None
    assert rows["source_line"].to_list() == [2, 3, 4]


def test_quoted_delimiter_inside_a_cell_is_not_malformed(tmp_path: Path) -> None:
    write(tmp_path, "log.csv", delimited([
        ["id", "date", "country", "site", "type"],
        ["A", "2016-11-03", "Iraq", "Mosul, old city", "rifle"],
    ]))

    rows, _ = read(tmp_path)

    assert rows["read_problem"].to_list() == [None]
    assert rows["site"].to_list() == ["Mosul, old city"]


# --- spreadsheets ----------------------------------------------------------------------------

def write_workbook(path: Path, data_sheets: list[str], legend_first: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(path)
    date_format = book.add_format({"num_format": "dd/mm/yyyy"})
    if legend_first:
        legend = book.add_worksheet("Legend")
        legend.write_row(0, 0, ["This workbook lists items recovered in Mosul"])
        legend.write_row(1, 0, ["Colour code", "Meaning"])
    for name in data_sheets:
        sheet = book.add_worksheet(name)
        sheet.write_row(0, 0, ["Record No", "Date documented", "Country", "Site name",
                               "Item category", "Qty", "YoM"])
        sheet.write(1, 0, f"{name}-1")
        sheet.write_datetime(1, 1, dt.datetime(2016, 11, 3), date_format)
        sheet.write_row(1, 2, ["Iraq", "Mosul", "cartridge", 1200, 1984])
        # sheet row 3 is left empty on purpose; row 4 is the second record
        sheet.write_row(3, 0, [f"{name}-2", "2016-11-04", "Iraq", "Mosul", "rifle", 1])
    book.close()


def test_xlsx_reads_the_data_sheet_and_reports_the_other(tmp_path: Path) -> None:
    write_workbook(tmp_path / "items" / "book.xlsx", ["Items"])

    rows, report = read(tmp_path)

    line = only_report(report)
    assert line["status"] == "ok"
    assert line["sheets_read"] == ["Items"]
    assert len(line["sheets_skipped"]) == 1
    assert line["sheets_skipped"][0].startswith("Legend")
    assert line["blank_rows"] == 1
    assert rows["record_id"].to_list() == ["Items-1", "Items-2"]
    assert rows["source_sheet"].to_list() == ["Items", "Items"]
    assert rows["source_line"].to_list() == [2, 4]  # spreadsheet row numbers
    first = rows.row(0, named=True)
    assert first["documented_in"] == "Iraq"
    assert first["quantity"] == "1200"
    assert first["year_of_manufacture"] == "1984"
    assert first["documented_on"].startswith("2016-11-03")


def test_xlsx_reads_every_sheet_that_starts_with_a_header(tmp_path: Path) -> None:
    # Near miss of "skip the other sheets": a second data sheet is read, not skipped.
    write_workbook(tmp_path / "items" / "book.xlsx", ["January", "February"],
                   legend_first=False)

    rows, report = read(tmp_path)

    line = only_report(report)
    assert line["sheets_read"] == ["January", "February"]
    assert line["sheets_skipped"] == []
    assert rows["record_id"].to_list() == ["January-1", "January-2", "February-1",
                                           "February-2"]
    assert rows["source_sheet"].to_list() == ["January"] * 2 + ["February"] * 2


def test_workbooks_read_ahead_give_the_rows_and_report_of_reading_in_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """read_files with a spill folder reads the workbooks on a thread of their own, ahead of
    their turn (outcomes_in_order): the rows, their numbers and the report are those of
    reading the files one after another, workbooks between delimited logs and an unreadable
    one among them; the spilled workbooks are gone afterwards."""
    raw = tmp_path / "raw"
    write(raw, "a.csv", delimited([list(REQUIRED_HEADER), list(ROW.values())]))
    write_workbook(raw / "items" / "b.xlsx", ["Items"])
    write(raw, "c.xlsx", "id,date,country,site,type\n")  # a CSV named .xlsx: unreadable
    write(raw, "d.csv", delimited([list(REQUIRED_HEADER), list(ROW.values()),
                                   list(ROW.values())]))
    write_workbook(raw / "items" / "e.xlsx", ["January", "February"], legend_first=False)
    readers: list[str] = []

    def read_xlsx(path: Path, contract: object) -> read_stage.FileOutcome:
        readers.append(threading.current_thread().name)
        return read_stage.read_xlsx(path, contract)

    monkeypatch.setitem(read_stage.READERS, "xlsx", read_xlsx)
    in_order, order_report = read(raw)
    assert readers == [threading.current_thread().name] * 3

    spill = tmp_path / "spill"
    ahead = list(read_files(raw, discover_raw_files(raw), ITEMS, spill))

    assert pl.concat([rows for rows, _ in ahead]).equals(in_order)
    assert pl.DataFrame([line for _, line in ahead],
                        schema=read_stage.FILE_REPORT_SCHEMA).equals(order_report)
    assert in_order["source_file"].unique(maintain_order=True).to_list() == [
        f"items/{name}" for name in ("a.csv", "b.xlsx", "c.xlsx", "d.csv", "e.xlsx")]
    assert len(readers) == 6 and threading.current_thread().name not in readers[3:]
    assert list(spill.iterdir()) == []


def test_a_failed_read_leaves_no_workbooks_spilled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: Reference) -> None:
    """A build's read that fails (here, a limit set wrongly, found on the delimited log after
    a workbook: a reader's own errors only make their file unreadable) stops the read-ahead
    and removes what it spilled (normalise_logs)."""
    raw = tmp_path / "raw"
    write_workbook(raw / "items" / "a.xlsx", ["Items"])
    write(raw, "b.csv", delimited([list(REQUIRED_HEADER), list(ROW.values())]))
    write_workbook(raw / "items" / "c.xlsx", ["Items"])

    def broken(path: Path, contract: object) -> read_stage.FileOutcome:
        raise read_stage.SettingError(f"cannot read {path.name}")

    monkeypatch.setitem(read_stage.READERS, "delimited", broken)
    with pytest.raises(read_stage.SettingError, match=r"cannot read b\.csv"):
        normalise_logs(raw, discover_raw_files(raw), no_corrections(tmp_path), reference,
                       dt.date(2026, 1, 1), tmp_path / "parts" / "normalised")
    assert sorted(p.name for p in (tmp_path / "parts").iterdir()) == ["normalised"]
