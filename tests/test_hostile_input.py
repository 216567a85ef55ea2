"""Hostile and broken input: every bad file in one table gives its named error, never a
traceback, and the good log beside it still arrives in `items`.

All bad files share ONE build (module scope, run in-process through the CLI) so the suite stays
fast; the assertions stay per case. CSV formula neutralisation is tested on the writers.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import pytest
import xlsxwriter

from pipeline.cli import main
from pipeline.safe_csv import write_safe_csv
from pipeline.stages.read import ENV_MAX_FILE_BYTES, MAX_CELL_CHARS, MAX_COLUMNS
from tests.conftest import TODAY, write_log

HEADER = "record_id,documented_on,documented_in,site,category,notes\n"


def row(record_id: str, notes: str = "ok", end: str = "\n") -> str:
    """A valid row; the site is the record id, so no two files' rows merge as double entries."""
    return f"{record_id},2016-11-03,Iraq,Site {record_id},cartridge,{notes}{end}"


GOOD_ROW = row("X-1")
GOOD_TEXT = HEADER + GOOD_ROW
FILE_LIMIT = 3_000_000  # $ARMTRACE_MAX_FILE_BYTES for this build
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
GOOD_ROWS = [{"record_id": f"G-{n}", "documented_on": "2016-11-03", "documented_in": "Iraq",
              "site": site, "category": "cartridge", "quantity": str(n)}
             for n, site in ((1, "Mosul"), (2, "Tal Afar"))]
FORMULAS = [{"record_id": "=1+2", "documented_on": "2016-11-03", "documented_in": "Iraq",
             "site": "=cmd|' /C calc'!A0", "category": "cartridge", "quantity": "7"}]


def workbook(path: Path, rows: list[list[str]], long_cell: str | None = None) -> None:
    """An XLSX of `rows`; `long_cell` replaces the text PLACEHOLDER in the shared strings, so
    the workbook can hold a cell longer than Excel (and xlsxwriter) allow."""
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet("Items")
    for number, row in enumerate(rows):
        sheet.write_row(number, 0, row)
    book.close()
    if long_cell is None:
        return
    parts = {}
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            parts[name] = archive.read(name)
    parts["xl/sharedStrings.xml"] = parts["xl/sharedStrings.xml"].replace(
        b"PLACEHOLDER", long_cell.encode())
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)


def zipped(text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("log.csv", text)
    return buffer.getvalue()


def good_workbook_bytes(tmp: Path) -> bytes:
    workbook(tmp, [HEADER.strip().split(","), GOOD_ROW.strip().split(",")])
    return tmp.read_bytes()


XLSX_HEADER = HEADER.strip().split(",")


def xlsx_row(record_id: str) -> list[str]:
    return row(record_id, "PLACEHOLDER", end="").split(",")


@dataclass(frozen=True)
class Case:
    id: str
    name: str
    content: bytes | Callable[[Path], None]
    reason: str | None  # None: a near miss, read and kept
    fragment: str  # in the problem message (or, for a near miss, in the kept row's site/notes)


CASES = [
    # wrong encodings
    Case("utf16le_bom", "utf16le.csv", GOOD_TEXT.encode("utf-16"), "unreadable_file",
         "UTF-16 text: re-save it as UTF-8 (in Excel: Save As > CSV UTF-8)"),
    Case("utf16be_bom", "utf16be.csv", b"\xfe\xff" + GOOD_TEXT.encode("utf-16-be"),
         "unreadable_file", "UTF-16 text: re-save it as UTF-8"),
    Case("utf16le_no_bom", "utf16le-nobom.csv", GOOD_TEXT.encode("utf-16-le"),
         "unreadable_file", "UTF-16 text: re-save it as UTF-8"),
    Case("utf16be_no_bom", "utf16be-nobom.csv", GOOD_TEXT.encode("utf-16-be"),
         "unreadable_file", "UTF-16 text: re-save it as UTF-8"),
    Case("utf16le_arabic_no_bom", "utf16-arabic.csv",
         (HEADER + row("AR-1", "\u0645\u0648\u0635\u0644 " * 20)).encode("utf-16-le"),
         "unreadable_file", "UTF-16 text: re-save it as UTF-8"),
    Case("utf32_bom", "utf32.csv", GOOD_TEXT.encode("utf-32"), "unreadable_file",
         "UTF-32 text: re-save it as UTF-8"),
    Case("utf32be_no_bom", "utf32be.csv", GOOD_TEXT.encode("utf-32-be"), "unreadable_file",
         "UTF-32 text: re-save it as UTF-8"),
    Case("neither_utf8_nor_cp1252", "mac.csv",
         (HEADER + GOOD_ROW + "X-2,2016-11-03,Iraq,Mosul,cartridge,").encode() + b"\x81\x8d\n",
         "unreadable_file", "neither UTF-8 nor Windows-1252 text: byte 0x81 at line 3"),
    Case("utf8_bom_then_bad_byte", "bom-bad.csv",
         b"\xef\xbb\xbf" + GOOD_TEXT.encode() + b"X-2,2016-11-03,Iraq,Mosul,cartridge,\xe9\n",
         "unreadable_file", "UTF-8 with a BOM, but byte 0xE9 at line 3"),
    # not text at all
    Case("gzip_named_csv", "export.csv", gzip.compress(GOOD_TEXT.encode(), mtime=0),
         "unreadable_file", "not a text file but a gzip-compressed file: decompress it"),
    Case("zip_named_csv", "archive.csv", zipped(GOOD_TEXT), "unreadable_file",
         "not a text file but a ZIP archive"),
    Case("pdf_named_csv", "report.csv", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n",
         "unreadable_file", "not a text file but a PDF document"),
    Case("empty_file", "empty.csv", b"", "unreadable_file", "empty file (0 bytes)"),
    Case("larger_than_limit", "huge.csv", (HEADER + GOOD_ROW * (FILE_LIMIT // 30)).encode(),
         "unreadable_file", f"more than the limit of {FILE_LIMIT:,} bytes "
         f"(${ENV_MAX_FILE_BYTES}): split the export"),
    # workbooks that are not workbooks
    Case("csv_named_xlsx", "really-a-csv.xlsx", GOOD_TEXT.encode(), "unreadable_file",
         "not an XLSX workbook but a text file (perhaps a CSV named .xlsx)"),
    # An encrypted workbook is an OLE2 compound file, not a ZIP: its signature is what counts.
    Case("password_protected_xlsx", "locked.xlsx", OLE2 + bytes(504), "unreadable_file",
         "password-protected (encrypted) workbook"),
    Case("corrupt_xlsx", "corrupt.xlsx", b"PK\x03\x04" + b"\x00garbage" * 50, "unreadable_file",
         "not a readable XLSX workbook"),
    Case("truncated_xlsx", "truncated.xlsx",
         lambda p: p.write_bytes(good_workbook_bytes(p)[:600]), "unreadable_file",
         "not a readable XLSX workbook"),
    Case("empty_xlsx", "empty.xlsx", b"", "unreadable_file", "empty file (0 bytes)"),
    # malformed text
    Case("unterminated_quote", "open-quote.csv",
         (HEADER + GOOD_ROW + 'X-2,2016-11-03,Iraq,"Mosul,cartridge,\nX-3,2016-11-03,Iraq,'
          "Mosul,cartridge,\n").encode(), "unreadable_file",
         "malformed CSV in the record starting at line 3 (unexpected end of data)"),
    Case("text_after_closing_quote", "bad-quote.csv",
         (HEADER + GOOD_ROW + 'X-2,2016-11-03,Iraq,"Mosul"x,cartridge,\n').encode(),
         "unreadable_file", "malformed CSV in the record starting at line 3"),
    Case("millions_of_delimiters_in_header", "wide.csv",
         (HEADER.strip() + "," * 2_000_000 + "\n" + GOOD_ROW).encode(), "unreadable_file",
         f"line 1 has 2,000,005 ',' characters, more columns than the limit of "
         f"{MAX_COLUMNS:,}"),
    Case("one_huge_line_without_newline", "one-line.csv", b"A" * 2_500_000, "unreadable_file",
         "no recognisable header in line 1 ('AAAA"),
    Case("header_cell_too_long", "long-header.csv",
         ("record_id,documented_on," + "h" * (MAX_CELL_CHARS + 1) + "\n" + GOOD_ROW).encode(),
         "unreadable_file", f"the header cell in column 3 holds {MAX_CELL_CHARS + 1:,} "
                            "characters"),
    Case("header_only", "header-only.csv", HEADER.encode(), "no_rows",
         "no item rows below the header"),
    # one bad row: the row is quarantined, the rest of the file is read
    Case("oversized_field_csv", "long-notes.csv",
         (HEADER + row("OF-1") + row("OF-2", "n" * 2_000_000, end="")).encode(),
         "oversized_field", "column 'notes' holds 2000000 characters, more than the limit of "
                            f"{MAX_CELL_CHARS} per cell"),
    Case("oversized_field_xlsx", "long-notes.xlsx",
         lambda p: workbook(p, [XLSX_HEADER, row("OX-1", end="").split(","), xlsx_row("OX-2")],
                            long_cell="w" * (MAX_CELL_CHARS + 1)),
         "oversized_field", f"column 'notes' holds {MAX_CELL_CHARS + 1} characters"),
    Case("oversized_multibyte_field", "long-utf8.csv",
         (HEADER + row("OM-1") + row("OM-2", "é" * (MAX_CELL_CHARS + 1))).encode(),
         "oversized_field", f"column 'notes' holds {MAX_CELL_CHARS + 1} characters"),
    Case("million_delimiters_in_a_row", "ragged.csv",
         (HEADER + row("MR-1") + "MR-2" + "," * 1_000_000 + "\n").encode(), "malformed_row",
         "the line has 1000001 fields but the header has 6"),
    # near misses: read and kept
    Case("cell_of_exactly_the_limit", "limit.csv",
         (HEADER + row("LIM-1", "m" * MAX_CELL_CHARS)).encode(), None, "m" * MAX_CELL_CHARS),
    # more bytes than the limit, not more characters: cells are limited in characters
    Case("multibyte_cell_of_exactly_the_limit", "limit-utf8.csv",
         (HEADER + row("LIM-2", "é" * MAX_CELL_CHARS)).encode(), None, "é" * MAX_CELL_CHARS),
    Case("windows_1252_accent", "cp1252.csv",
         (HEADER + "CP-1,2016-11-03,Syria,Qamishlé,cartridge,ok\n").encode("cp1252"), None,
         "Qamishlé"),
    Case("xlsx_cell_of_exactly_the_limit", "limit.xlsx",
         lambda p: workbook(p, [XLSX_HEADER, xlsx_row("LX-1")], long_cell="k" * MAX_CELL_CHARS),
         None, "k" * MAX_CELL_CHARS),
]
ROW_LEVEL = {"oversized_field", "malformed_row"}


@contextlib.contextmanager
def captured_output() -> Iterator[list[str]]:
    """Everything written to stdout and stderr, by Python or below it, as one string."""
    text: list[str] = []
    with tempfile.TemporaryFile("w+") as sink:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                yield text
        finally:
            sink.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            sink.seek(0)
            text.append(sink.read())


@dataclass(frozen=True)
class Built:
    code: int
    output: str
    con: duckdb.DuckDBPyConnection
    curated: Path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """One build of a raw folder holding one good log and every file of CASES."""
    root = tmp_path_factory.mktemp("hostile-input")
    raw = root / "raw"
    write_log(raw / "items" / "good.csv", GOOD_ROWS)
    write_log(raw / "items" / "formulas.csv", FORMULAS)
    for case in CASES:
        path = raw / "items" / "bad" / case.name
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(case.content):
            case.content(path)
        else:
            path.write_bytes(case.content)
    with pytest.MonkeyPatch.context() as patch, captured_output() as output:
        patch.setenv(ENV_MAX_FILE_BYTES, str(FILE_LIMIT))
        code = main(["build", "--raw", str(raw), "--curated", str(root / "curated"),
                     "--reports", str(root / "reports"), "--today", TODAY])
    con = duckdb.connect(str(root / "curated" / "armtrace.duckdb"), read_only=True)
    yield Built(code, output[0], con, root / "curated")
    con.close()


def test_the_build_succeeds_without_a_traceback(built: Built) -> None:
    assert built.code == 0, built.output
    assert "Traceback" not in built.output
    assert "unreadable files" in built.output  # the summary was printed: the run went through


def test_the_good_log_arrives_in_items(built: Built) -> None:
    ids = built.con.sql("SELECT record_id FROM items WHERE source_file = 'items/good.csv' "
                        "ORDER BY record_id").fetchall()
    assert ids == [("G-1",), ("G-2",)]


def rows_placed_and_read(con: duckdb.DuckDBPyConnection) -> tuple[list[int], list[int]]:
    """The row numbers of items, versions, merges and quarantine, sorted, and those of every
    row read (0 to the sum of source_files.rows_read): equal when each row is in one place."""
    seen = [row[0] for row in con.sql(
        "SELECT row_number FROM items UNION ALL SELECT row_number FROM record_versions "
        "UNION ALL SELECT dropped_row FROM dedup_decisions "
        "UNION ALL SELECT row_number FROM quarantine").fetchall()]
    (rows_read,), = con.sql("SELECT sum(rows_read) FROM source_files").fetchall()
    return sorted(seen), list(range(rows_read))


def test_every_row_read_is_in_exactly_one_place(built: Built) -> None:
    placed, read = rows_placed_and_read(built.con)
    assert placed == read


def test_every_file_of_the_table_was_found(built: Built) -> None:
    paths = {row[0] for row in built.con.sql("SELECT path FROM source_files").fetchall()}
    assert {f"items/bad/{case.name}" for case in CASES} <= paths


def _file(built: Built, case: Case) -> dict:
    frame = built.con.sql("SELECT * FROM source_files WHERE path = ?",
                          params=[f"items/bad/{case.name}"]).pl()
    assert frame.height == 1
    return frame.row(0, named=True)


def _quarantined(built: Built, case: Case) -> pl.DataFrame:
    return built.con.sql("SELECT * FROM quarantine WHERE source_file = ? ORDER BY row_number",
                         params=[f"items/bad/{case.name}"]).pl()


def _kept(built: Built, case: Case) -> pl.DataFrame:
    return built.con.sql("SELECT * FROM items WHERE source_file = ? ORDER BY row_number",
                         params=[f"items/bad/{case.name}"]).pl()


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_gives_its_named_error(built: Built, case: Case) -> None:
    file, quarantined, kept = _file(built, case), _quarantined(built, case), _kept(built, case)
    if case.reason == "unreadable_file":
        assert file["status"] == "unreadable"
        assert case.fragment in file["problem"]
        assert file["rows_read"] == 1  # counted as one quarantined row, not lost
        assert quarantined["reasons"].to_list() == [["unreadable_file"]]
        assert quarantined["problems"].to_list() == [[f"unreadable_file: {file['problem']}"]]
    elif case.reason in ROW_LEVEL:
        assert file["status"] == "ok" and file["rows_read"] == 2
        assert kept["record_id"].to_list()[0].endswith("-1")  # the good row of the same file
        assert quarantined["record_id"].to_list()[0].endswith("-2")
        assert kept.height == 1 and quarantined.height == 1
        assert quarantined["source_line"].to_list() == [3]
        assert case.reason in quarantined["reasons"][0]
        assert any(case.fragment in problem for problem in quarantined["problems"][0])
    elif case.reason == "no_rows":
        assert file["status"] == "ok" and file["rows_read"] == 0
        assert file["problem"].startswith("no_rows: ") and case.fragment in file["problem"]
        assert quarantined.height == 0 and kept.height == 0
    else:  # near miss: nothing wrong with the file
        assert file["status"] == "ok" and file["problem"] is None
        assert quarantined.height == 0
        assert kept.height == 1
        assert case.fragment in (kept["site"][0], kept["notes"][0])


def test_an_oversized_cell_is_cut_in_the_database_with_a_marker(built: Built) -> None:
    case = next(c for c in CASES if c.id == "oversized_field_csv")
    (notes, cells_length), = built.con.sql(
        "SELECT cells->>'notes', length(cells) FROM quarantine WHERE source_file = ?",
        params=[f"items/bad/{case.name}"]).fetchall()
    assert notes == "n" * 200 + ("… [cut by armtrace: the cell held 2000000 characters, more "
                                 f"than {MAX_CELL_CHARS}]")
    assert cells_length < 1000  # the megabytes are not stored


def test_windows_1252_is_reported_as_the_encoding(built: Built) -> None:
    assert _file(built, next(c for c in CASES if c.id == "windows_1252_accent"))[
        "encoding"] == "windows-1252"


# --- CSV formula injection -----------------------------------------------------------------

def test_text_cells_that_a_spreadsheet_would_evaluate_get_a_quote(tmp_path: Path) -> None:
    frame = pl.DataFrame({
        "text": ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\ry", "-", "a=b", " =x", None, "ok"],
        "number": [-1, -2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
        "share": [-0.5, 0.0, 1.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
    })
    write_safe_csv(frame, tmp_path / "t.csv")
    back = pl.read_csv(tmp_path / "t.csv", infer_schema=False)
    assert back["text"].to_list() == [
        "'=1+1", "'+SUM(A1)", "'-2+3", "'@cmd", "'\tx", "'\ry", "'-", "a=b", " =x", None, "ok"]
    # near misses: numbers, even negative ones, stay numbers
    assert back["number"].to_list()[:2] == ["-1", "-2"]
    assert back["share"].to_list()[0] == "-0.5"


def test_sql_csv_output_is_neutralised(built: Built,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    query = ("SELECT record_id, site, -quantity AS negative FROM items "
             "WHERE source_file = 'items/formulas.csv'")
    assert main(["sql", query, "--curated", str(built.curated), "--format", "csv"]) == 0
    assert capsys.readouterr().out == "record_id,site,negative\n'=1+2,'=cmd|' /C calc'!A0,-7\n"


def test_a_bad_file_size_limit_fails_the_build_saying_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    write_log(tmp_path / "raw" / "items" / "good.csv", GOOD_ROWS)
    monkeypatch.setenv(ENV_MAX_FILE_BYTES, "2GB")
    code = main(["build", "--raw", str(tmp_path / "raw"), "--curated", str(tmp_path / "c"),
                 "--reports", str(tmp_path / "r"), "--today", TODAY])
    captured = capsys.readouterr()
    assert code == 1
    assert f"{ENV_MAX_FILE_BYTES}='2GB' is not a positive whole number of bytes" in captured.err
    assert "Traceback" not in captured.out + captured.err
