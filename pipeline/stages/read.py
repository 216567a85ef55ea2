"""Stage 2: read every accepted item log into rows of text with provenance.

Each row keeps where it came from (file, sheet, line), its original cells (JSON, by the
file's own headers) and its values under the contract's canonical column names. Columns that
match no alias are kept as a JSON object. Nothing is interpreted here: every value is still
the text the team wrote, trimmed. A file that cannot be read becomes one row carrying the
reason, so that it is counted and quarantined rather than lost.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl

from pipeline.columns import HEADER_ALIASES_FILE, ITEMS, Contract, alias_line
from pipeline.stages.discover import check_unchanged
from pipeline.stages.workbook_guard import (
    LIMITS,
    ReaderUnavailable,
    SettingError,
    SheetRead,
    WorkbookRefused,
    check_workbook,
    limit,
    read_workbook,
)

DELIMITERS = (",", ";", "\t", "|")
MIN_HEADER_MATCHES = 2  # a first row naming at least two contract columns is a header
UTF8_BOM = b"\xef\xbb\xbf"

# Limits on hostile or broken input (docs/decisions/hostile-input.md).
MAX_CELL_CHARS = 32_767  # Excel's own cell limit: a longer cell quarantines its row
MAX_COLUMNS = 16_384  # Excel's column limit: a longer header is not an item log
TRUNCATED_KEEP_CHARS = 200  # what an oversized cell keeps in the database, before the marker
DEFAULT_MAX_FILE_BYTES = 2 * 1024**3
ENV_MAX_FILE_BYTES = "ARMTRACE_MAX_FILE_BYTES"
csv.field_size_limit(2**31 - 1)  # cells are limited by MAX_CELL_CHARS, with a clear message

# Signatures of files that are not text, with what to do about each.
SIGNATURES = {
    b"\x1f\x8b": "a gzip-compressed file: decompress it and put the CSV inside in the folder",
    b"PK\x03\x04": "a ZIP archive (an XLSX workbook or a zipped export): if it is a workbook, "
                    "name it .xlsx; otherwise unzip it and put the log inside in the folder",
    b"%PDF": "a PDF document: export the log from its spreadsheet as CSV UTF-8 or XLSX",
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1": "an old-format Excel (.xls) or other Office file: "
                                            "save it as XLSX or CSV UTF-8",
}
UNICODE_BOMS = {  # UTF-32 first: its little-endian BOM starts with UTF-16's
    b"\xff\xfe\x00\x00": "UTF-32", b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe": "UTF-16", b"\xfe\xff": "UTF-16",
}
# Without a BOM: in each group of 2 or 4 bytes, which are often NUL (the high bytes of ASCII and
# other common letters) and which almost never are (the low byte). Decoding then confirms.
WIDE_WITHOUT_BOM = (
    ("UTF-32", "utf-32-le", 4, (2, 3), 0), ("UTF-32", "utf-32-be", 4, (0, 1), 3),
    ("UTF-16", "utf-16-le", 2, (1,), 0), ("UTF-16", "utf-16-be", 2, (0,), 1),
)
RESAVE_AS_UTF8 = "re-save it as UTF-8 (in Excel: Save As > CSV UTF-8)"

READ_PROBLEM_SEPARATOR = "\n"  # between the messages of a row's read problems (clean splits)

PROVENANCE_SCHEMA = {"source_file": pl.String, "source_sheet": pl.String, "source_line": pl.Int64}


def parsed_schema(contract: Contract) -> dict[str, pl.DataType]:
    """Columns of the read stage's rows for one dataset's contract."""
    return {
        **PROVENANCE_SCHEMA,
        **dict.fromkeys(contract.names, pl.String),
        "extra": pl.String,
        "cells": pl.String,
        "read_problem": pl.String,
    }


def numbered_schema(contract: Contract) -> dict[str, pl.DataType]:
    """Columns of the rows read_files yields: row_number, then parsed_schema."""
    return {"row_number": pl.Int64, **parsed_schema(contract)}


class UnreadableFile(Exception):
    """The file cannot be split into records; the message says why and what to do."""


@dataclass
class FileOutcome:
    """What reading one file gave: its rows and a line for the source-file report."""

    rows: pl.DataFrame
    encoding: str | None = None
    delimiter: str | None = None
    sheets_read: list[str] = field(default_factory=list)
    sheets_skipped: list[str] = field(default_factory=list)
    blank_rows: int = 0
    status: str = "ok"
    problem: str | None = None
    unmatched_headers: list[str] = field(default_factory=list)
    header_warnings: list[str] = field(default_factory=list)


# --- text ------------------------------------------------------------------------------------

def max_file_bytes() -> int:
    """The largest file read, in bytes: $ARMTRACE_MAX_FILE_BYTES or 2 GiB."""
    text = os.environ.get(ENV_MAX_FILE_BYTES, "").strip()
    if not text:
        return DEFAULT_MAX_FILE_BYTES
    if not text.isdigit() or int(text) == 0:
        raise SettingError(f"{ENV_MAX_FILE_BYTES}={text!r} is not a positive whole number of "
                           "bytes")
    return int(text)


def wide_unicode(data: bytes) -> str | None:
    """'UTF-16' or 'UTF-32' when the bytes are such text (by BOM, or by the NUL bytes ASCII
    letters get in those encodings, confirmed by decoding), else None."""
    for bom, name in UNICODE_BOMS.items():
        if data.startswith(bom):
            return name
    sample = data[:4096]

    def nul_share(offset: int, width: int) -> float:
        part = sample[offset::width]
        return part.count(0) / len(part)

    for name, codec, width, often_nul, low_byte in WIDE_WITHOUT_BOM:
        if (len(sample) >= 2 * width and all(nul_share(i, width) >= 0.3 for i in often_nul)
                and nul_share(low_byte, width) <= 0.05 and _is_text(sample, codec)):
            return name
    return None


def _is_text(sample: bytes, codec: str) -> bool:
    try:
        text = codecs.getincrementaldecoder(codec)().decode(sample, final=False)
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\t\r\n" for c in text)


def decode(data: bytes) -> tuple[str, str]:
    """Text and encoding name: UTF-8 (with or without BOM), else Windows-1252."""
    if not data:
        raise UnreadableFile("empty file (0 bytes): export the log again")
    for signature, what in SIGNATURES.items():
        if data.startswith(signature):
            raise UnreadableFile(f"not a text file but {what}")
    wide = wide_unicode(data)
    if wide:
        raise UnreadableFile(f"{wide} text: {RESAVE_AS_UTF8}")
    nul = data.find(b"\x00")
    if nul >= 0:  # anywhere: a text export never holds one, and cells must not carry it
        line = data.count(b"\n", 0, nul) + 1
        raise UnreadableFile(f"binary file (contains NUL bytes, the first at line {line}, byte "
                             f"{nul}): export the log as CSV or XLSX")
    if data.startswith(UTF8_BOM):
        try:
            return data[len(UTF8_BOM):].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as error:
            raise UnreadableFile(_bad_byte(data, error.start + len(UTF8_BOM), "UTF-8 with a "
                                           "BOM, but")) from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError as error:
        raise UnreadableFile(_bad_byte(data, error.start, "neither UTF-8 nor Windows-1252 "
                                       "text:")) from None


def _bad_byte(data: bytes, position: int, what: str) -> str:
    line = data[:position].count(b"\n") + 1
    return (f"{what} byte 0x{data[position]:02X} at line {line} (byte {position}) is not valid; "
            f"{RESAVE_AS_UTF8}")


def _header_matches(cells: list[str], contract: Contract) -> int:
    return len({contract.canonical(c) for c in cells} - {None})


def detect_delimiter(header_line: str, contract: Contract = ITEMS) -> str:
    """The delimiter under which the header names the most contract columns."""
    widest = max(DELIMITERS, key=header_line.count)
    if header_line.count(widest) >= MAX_COLUMNS:
        raise UnreadableFile(
            f"line 1 has {header_line.count(widest):,} {widest!r} characters, more columns than "
            f"the limit of {MAX_COLUMNS:,}: the first line must be the header of an item log"
        )

    def score(delimiter: str) -> tuple[int, int]:
        try:
            cells = next(csv.reader([header_line], delimiter=delimiter), [])
        except csv.Error:  # not a header under this delimiter
            return 0, 0
        return _header_matches(cells, contract), len(cells)

    best = max(DELIMITERS, key=score)  # max() keeps the first of equals: , ; tab | in order
    if score(best)[0] < MIN_HEADER_MATCHES:
        raise UnreadableFile(
            f"no recognisable header in line 1 ({header_line[:80]!r}): the first line must name "
            f"the columns, e.g. {', '.join(contract.required[:5])}"
        )
    return best


def _split_with_polars(utf8: bytes, delimiter: str) -> tuple[pl.DataFrame, pl.Series]:
    table = pl.read_csv(
        io.BytesIO(utf8), separator=delimiter, has_header=False, infer_schema=False,
        quote_char='"',
    )
    # A quoted cell may span lines; count them so every row keeps its true line number.
    newlines = pl.sum_horizontal(pl.all().str.count_matches("\n", literal=True).fill_null(0))
    lines = table.select(
        (pl.int_range(1, pl.len() + 1) + newlines.cum_sum().shift(1, fill_value=0)).alias("line")
    ).to_series()
    return table, lines


def _split_with_csv(text: str, delimiter: str) -> tuple[pl.DataFrame, pl.Series, list[str | None]]:
    """Slow path for files polars refuses (rows with more fields than the header)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[list[str]] = []
    lines: list[int] = []
    start = 1
    try:
        for row in reader:
            rows.append(row)
            lines.append(start)
            start = reader.line_num + 1
    except csv.Error as error:
        raise UnreadableFile(
            f"malformed CSV in the record starting at line {start} ({error}): check the quotes "
            "on that line; a value that contains a quote must be quoted with the quote doubled"
        ) from None
    width = len(rows[0])
    problems = [
        None if len(row) <= width else
        f"malformed_row: the line has {len(row)} fields but the header has {width}; quote "
        f"values that contain {delimiter!r}"
        for row in rows
    ]
    padded = [(row + [None] * width)[:width] for row in rows]
    table = pl.DataFrame(padded, schema=[f"column_{i + 1}" for i in range(width)],
                         orient="row")
    return table, pl.Series("line", lines), problems


def utf8_of(data: bytes) -> tuple[bytes, str]:
    """The file's text as UTF-8 bytes, which polars reads, and its encoding (decode): the
    file's own bytes when they are UTF-8. The decoded text is not kept: as a Python string it
    took up to four bytes a character, more than the file and polars' table together."""
    text, encoding = decode(data)
    if encoding == "utf-8":
        return data, encoding
    if encoding == "utf-8-sig":
        return data[len(UTF8_BOM):], encoding
    return text.encode(), encoding


def lone_cr_as_newline(utf8: bytes) -> bytes:
    """The text with each CR that no LF follows made an LF: old Mac exports end their lines
    with CR alone, and polars splits lines on LF only. In a quoted value such a CR becomes a
    line break of the value. CRLF and LF files are returned as they are."""
    if utf8.find(b"\r") < 0:  # one fast scan for the LF files
        return utf8
    if utf8.count(b"\r") == utf8.count(b"\r\n"):
        return utf8
    return re.sub(rb"\r(?!\n)", b"\n", utf8)


def _strict_csv_error(text: str, delimiter: str) -> str | None:
    """Where and why `text` is not standard (RFC 4180) CSV, or None when it is."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    start = 1
    try:
        for _ in reader:
            start = reader.line_num + 1
    except csv.Error as error:
        return f"the record starting at line {start} ({error})"
    return None


def backslash_quotes(utf8: bytes, delimiter: str) -> tuple[bytes, str | None]:
    r"""The text to split, and a note for the file when it escapes quotes with a backslash.

    Standard CSV doubles a quote inside a quoted value (`"say ""hi"" now"`); some tools write
    `"say \"hi\" now"` instead, which polars reads without a word as `say \hi\ now`. A
    file that holds `\"` and is not standard CSV is read with each `\"` as a doubled quote
    when that makes it standard, and noted; when it still is not, the file is unreadable. A
    standard file that happens to hold `\"` (a value ending in a backslash) is read as it is.
    """
    if utf8.find(b"\\") < 0 or b'\\"' not in utf8:  # a backslash is rare: one fast scan
        return utf8, None
    text = utf8.decode()
    if _strict_csv_error(text, delimiter) is None:
        return utf8, None
    escaped = text.replace('\\"', '""')
    problem = _strict_csv_error(escaped, delimiter)
    if problem is not None:
        raise UnreadableFile(
            f"malformed CSV in {problem}, and quotes escaped with a backslash (\\\") "
            "do not explain it: check the quotes on that line; a value that contains a quote "
            "must be quoted with the quote doubled")
    return escaped.encode(), (
        "backslash_quotes: the file writes a quote inside a quoted value as \\\" (backslash, "
        "quote), which is not standard CSV; each \\\" was read as one quote. Check the values "
        "with quotes, or export again with quotes doubled (\"\")")


def read_delimited(path: Path, contract: Contract = ITEMS) -> FileOutcome:
    utf8, encoding = utf8_of(path.read_bytes())
    utf8 = lone_cr_as_newline(utf8)
    line_end = utf8.find(b"\n")
    first_line = (utf8 if line_end < 0 else utf8[:line_end]).decode().rstrip("\r")
    delimiter = detect_delimiter(first_line, contract)
    lines, columns = utf8.count(b"\n") + (not utf8.endswith(b"\n")), first_line.count(delimiter) + 1
    _check_cells(lines * columns, f"{lines:,} lines of {columns:,} columns")
    utf8, note = backslash_quotes(utf8, delimiter)
    problems: list[str | None] | None = None
    try:
        table, lines = _split_with_polars(utf8, delimiter)
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException):
        # polars refuses ragged or badly quoted files; the csv module says which line is wrong
        table, lines, problems = _split_with_csv(utf8.decode(), delimiter)
    del utf8  # the table holds every cell now
    outcome = _rows_from_table(table, lines, problems, contract)
    outcome.encoding, outcome.delimiter = encoding, delimiter
    outcome.problem = "; ".join(filter(None, (outcome.problem, note))) or None
    return outcome


# --- spreadsheets ----------------------------------------------------------------------------

def _check_workbook_signature(path: Path) -> None:
    """XLSX is a ZIP archive; say what the file is instead when it is not one."""
    with path.open("rb") as handle:
        start = handle.read(8)
    if start.startswith(b"PK\x03\x04"):
        return
    if start == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise UnreadableFile("password-protected (encrypted) workbook, or an old .xls file "
                             "named .xlsx: remove the password or save it as .xlsx, then "
                             "export again")
    try:
        decode(path.read_bytes())
    except UnreadableFile:
        raise UnreadableFile(
            "not an XLSX workbook (no ZIP signature): re-export it as XLSX") from None
    raise UnreadableFile("not an XLSX workbook but a text file (perhaps a CSV named .xlsx): "
                         "give it the extension .csv")


def read_xlsx(path: Path, contract: Contract = ITEMS) -> FileOutcome:
    """Every sheet of a workbook whose first row is a header, after the workbook is checked
    and read in a child process (workbook_guard); error cells and formulas with no stored
    result quarantine their rows as `spreadsheet_error`."""
    _check_workbook_signature(path)
    try:
        check_workbook(path)
        with tempfile.TemporaryDirectory(prefix="armtrace-workbook-") as work_dir:
            read = read_workbook(path, Path(work_dir))
            sizes = [(pl.scan_ipc(s.cells).select(pl.len()).collect().item(),
                      len(pl.read_ipc_schema(s.cells))) for s in read]
            _check_cells(sum(rows * columns for rows, columns in sizes),
                         f"{len(sizes)} sheet{'s' * (len(sizes) != 1)} of "
                         f"{sum(rows for rows, _ in sizes):,} rows")
            sheets = {sheet.name: _sheet_cells(sheet) for sheet in read}
    except WorkbookRefused as error:
        raise UnreadableFile(str(error)) from None
    read: list[FileOutcome] = []
    names_read: list[str] = []
    skipped: list[str] = []
    for name, (table, cell_errors) in sheets.items():
        if table.height == 0 or _header_matches([c or "" for c in table.row(0)],
                                                 contract) < MIN_HEADER_MATCHES:
            skipped.append(f"{name} (first row is not a header)")
            continue
        lines = pl.Series("line", range(1, table.height + 1))
        try:
            outcome = _rows_from_table(table, lines, None, contract, cell_errors)
        except UnreadableFile as error:
            raise UnreadableFile(f"sheet {name!r}: {error}") from None
        outcome.rows = outcome.rows.with_columns(source_sheet=pl.lit(name))
        read.append(outcome)
        names_read.append(name)
    if not read:
        raise UnreadableFile(
            f"no sheet starts with a recognisable header (sheets: {', '.join(skipped)})"
        )
    merged = FileOutcome(rows=pl.concat([o.rows for o in read], how="diagonal_relaxed"))
    merged.sheets_read, merged.sheets_skipped = names_read, skipped
    merged.blank_rows = sum(o.blank_rows for o in read)
    merged.status = "missing_columns" if any(o.status != "ok" for o in read) else "ok"
    merged.problem = "; ".join(o.problem for o in read if o.problem) or None
    merged.unmatched_headers = list(dict.fromkeys(h for o in read for h in o.unmatched_headers))
    merged.header_warnings = [f"sheet {name!r}: {w}" for name, o in zip(names_read, read,
                                                                        strict=True)
                              for w in o.header_warnings]
    return merged


CELL_ERROR_SCHEMA = {"row": pl.Int64, "column": pl.Int64, "text": pl.String,
                     "formula": pl.Boolean}


def _sheet_cells(sheet: SheetRead) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The sheet's cells as text (columns column_0, column_1, ...) with each error cell
    holding its error text and each formula with no stored result its formula, and those
    cells (CELL_ERROR_SCHEMA) in the table's coordinates. A formula outside the cells that
    hold values (calamine leaves such rows out) grows the table so that its row is read."""
    table = pl.read_ipc(sheet.cells)
    table = table.rename({c: f"column_{i}" for i, c in enumerate(table.columns)})
    errors = pl.DataFrame(sheet.errors, schema=CELL_ERROR_SCHEMA, orient="row")
    if errors.is_empty():
        return table, errors
    top, left = max(0, -errors["row"].min()), max(0, -errors["column"].min())
    errors = errors.with_columns(pl.col("row") + top, pl.col("column") + left)
    height = max(table.height + top, errors["row"].max() + 1)
    width = max(table.width + left, errors["column"].max() + 1)
    if (top, left, height, width) != (0, 0, table.height, table.width):
        grown = pl.DataFrame({f"column_{i}": pl.Series([None] * height, dtype=pl.String)
                              for i in range(width)})
        table = grown.with_columns(
            pl.concat([pl.Series([None] * top, dtype=pl.String), table[name],
                       pl.Series([None] * (height - top - table.height), dtype=pl.String)]
                      ).alias(f"column_{i + left}")
            for i, name in enumerate(table.columns))
    for (column,), cells in errors.group_by("column", maintain_order=True):
        name = f"column_{column}"
        table = table.with_columns(pl.coalesce(
            pl.int_range(pl.len()).replace_strict(cells["row"], cells["text"], default=None,
                                                  return_dtype=pl.String),
            pl.col(name)).alias(name))
    return table, errors


def _spreadsheet_error_messages(cell_errors: pl.DataFrame, headers: list[str]) -> pl.DataFrame:
    """source_line and the `spreadsheet_error` message of each row below the header with an
    error cell or a formula with no stored result (_sheet_cells)."""
    cell = pl.format("column {} holds {}",
                     pl.col("column").replace_strict(
                         range(len(headers)), [repr(h[:80]) for h in headers],
                         return_dtype=pl.String),
                     pl.when(pl.col("formula"))
                     .then(pl.format("a formula with no stored result ({})",
                                     pl.col("text").str.slice(0, 80)))
                     .otherwise(pl.format("the error {}", pl.col("text"))))
    return cell_errors.filter(pl.col("row") > 0).group_by("row", maintain_order=True).agg(
        cell.str.join(", ")).select(
        source_line=pl.col("row") + 1,
        spreadsheet_error=pl.format(
            "spreadsheet_error: {}; correct the cell in the workbook (a formula needs its "
            "result: open the workbook in a spreadsheet program and save it), then export "
            "again", pl.col("column")))


# --- shared: a table of text with a header row -> rows under canonical names ----------------

def _check_header_cells(header: list[str | None]) -> None:
    for position, cell in enumerate(header, start=1):
        if cell is not None and len(cell) > MAX_CELL_CHARS:
            raise UnreadableFile(
                f"the header cell in column {position} holds {len(cell):,} characters, more than "
                f"the limit of {MAX_CELL_CHARS:,}: the first row must name the columns"
            )


def _columns_over(body: pl.DataFrame, headers: list[str],
                  length: Callable[[pl.Expr], pl.Expr]) -> list[str]:
    """The columns of `headers` with a cell whose `length` is over MAX_CELL_CHARS."""
    if not headers:
        return []
    longest = body.select(length(pl.col(h)).max() for h in headers).row(0)
    return [h for h, n in zip(headers, longest, strict=True) if (n or 0) > MAX_CELL_CHARS]


def _quarantine_oversized_cells(body: pl.DataFrame, headers: list[str]) -> pl.DataFrame:
    """Rows with a cell longer than MAX_CELL_CHARS get an `oversized_field` read problem, and
    every such cell is cut to TRUNCATED_KEEP_CHARS plus a marker saying how long it was."""
    if body.height == 0:
        return body
    # A cell has no more characters than bytes, and polars knows each cell's bytes without
    # reading it: characters are counted only in columns with a cell of too many bytes.
    wide = _columns_over(body, headers, lambda cell: cell.str.len_bytes())
    oversized = _columns_over(body, wide, lambda cell: cell.str.len_chars())
    if not oversized:
        return body

    def too_long(header: str) -> pl.Expr:
        return pl.col(header).str.len_chars() > MAX_CELL_CHARS

    described = [
        pl.when(too_long(h)).then(pl.format(f"column {h[:80]!r} holds {{}} characters",
                                            pl.col(h).str.len_chars()))
        for h in oversized
    ]
    problem = pl.concat_str(described, separator=", ", ignore_nulls=True)
    message = pl.format(
        f"oversized_field: {{}}, more than the limit of {MAX_CELL_CHARS} per cell (Excel's "
        "limit); shorten the text, or keep long notes in a separate document and refer to it",
        problem)
    return body.with_columns(
        read_problem=pl.when(pl.any_horizontal(too_long(h) for h in oversized))
        .then(message).otherwise(pl.col("read_problem")),
    ).with_columns(
        pl.when(too_long(h)).then(pl.format(
            f"{{}}… [cut by armtrace: the cell held {{}} characters, more than {MAX_CELL_CHARS}]",
            pl.col(h).str.slice(0, TRUNCATED_KEEP_CHARS), pl.col(h).str.len_chars(),
        )).otherwise(pl.col(h)).alias(h)
        for h in oversized
    )


def _joined_problems(*problems: pl.Expr) -> pl.Expr:
    """A row's read problems in one text, READ_PROBLEM_SEPARATOR between them; NULL for none."""
    joined = pl.concat_str(*problems, separator=READ_PROBLEM_SEPARATOR, ignore_nulls=True)
    return pl.when(joined != "").then(joined)


def _unique_headers(header: list[str | None]) -> list[str]:
    names: list[str] = []
    for position, cell in enumerate(header, start=1):
        name = (cell or "").strip().lstrip("\ufeff") or f"column {position}"
        while name in names:
            name = f"{name} ({position})"
        names.append(name)
    return names


def _rows_from_table(
    table: pl.DataFrame, lines: pl.Series, problems: list[str | None] | None,
    contract: Contract = ITEMS, cell_errors: pl.DataFrame | None = None,
) -> FileOutcome:
    """Row 0 of `table` is the header; every later row becomes one parsed row. cell_errors:
    a workbook's error cells (_sheet_cells), whose rows get a `spreadsheet_error`."""
    _check_header_cells(list(table.row(0)))
    headers = _unique_headers(list(table.row(0)))
    body = (
        table.rename(dict(zip(table.columns, headers, strict=True)))
        .with_columns(pl.all().str.strip_chars().replace("", None))
        .with_columns(source_line=lines,
                      read_problem=pl.Series(problems, dtype=pl.String) if problems else None)
        .slice(1)
    )
    body = _quarantine_oversized_cells(body, headers)
    if cell_errors is not None and not cell_errors.is_empty():
        errors = _spreadsheet_error_messages(cell_errors, headers)
        body = body.join(errors, on="source_line", how="left", maintain_order="left")
        body = body.with_columns(read_problem=_joined_problems(
            pl.col("read_problem").cast(pl.String), pl.col("spreadsheet_error"))
        ).drop("spreadsheet_error")
    blank = body.select(pl.all_horizontal(pl.col(headers).is_null())).to_series()
    blank_rows = int(blank.sum())
    if blank_rows:
        body = body.filter(~blank)

    mapped = _map_headers(headers, contract)
    unmatched = [h for h in headers if h not in mapped.values()]
    missing = [c for c in contract.required if c not in mapped]
    problem = None
    if missing:
        problem = _missing_columns_problem(missing, unmatched, headers, contract)
    elif body.height == 0:
        problem = ("no_rows: there are no item rows below the header; check that the export "
                   "included the data")

    rows = body.select(
        pl.col("source_line"),
        *[(pl.col(mapped[c]) if c in mapped else pl.lit(None, pl.String)).alias(c)
          for c in contract.names],
        extra=pl.struct(unmatched).struct.json_encode() if unmatched else pl.lit(None, pl.String),
        cells=pl.struct(headers).struct.json_encode(),
        # the file's own problem first: clean reads a missing column from the first message
        read_problem=pl.col("read_problem").cast(pl.String) if problem is None else
        _joined_problems(pl.lit(problem, pl.String), pl.col("read_problem").cast(pl.String)),
    )
    blank_columns = [c for c, h in mapped.items()
                     if body.height and body.get_column(h).null_count() == body.height]
    empty = [c for c in contract.names if c not in mapped or c in blank_columns]
    return FileOutcome(rows=rows, blank_rows=blank_rows,
                       status="missing_columns" if missing else "ok", problem=problem,
                       unmatched_headers=unmatched,
                       header_warnings=contract.header_warnings(unmatched, empty))


def _map_headers(headers: list[str], contract: Contract) -> dict[str, str]:
    """Canonical column -> the header naming it. Two headers naming one column make the
    file unreadable: which of them holds the column is the team's to say, not ours."""
    mapped: dict[str, str] = {}
    for header in headers:
        canonical = contract.canonical(header)
        if canonical is None:
            continue
        if canonical in mapped:
            first = mapped[canonical]
            raise UnreadableFile(
                f"the columns {first!r} and {header!r} both name {canonical} (by "
                f"{contract.alias_source(first)}, and by {contract.alias_source(header)}): "
                f"if one of them means something else in these logs, delete its line from "
                f"data/reference/{HEADER_ALIASES_FILE} (the column is then kept in `extra`); "
                f"otherwise ask the team for an export with one {canonical} column")
        mapped[canonical] = header
    return mapped


def _missing_columns_problem(missing: list[str], unmatched: list[str], headers: list[str],
                             contract: Contract) -> str:
    """The message for a header without required columns: for each, the alias line that
    teaches a resembling header, else what to add. Raw logs are evidence: never 'edit it'."""
    advice = []
    for column in missing:
        header = next((h for h in unmatched if contract.resembles(h, column)), None)
        advice.append(
            f"if {header!r} holds {column}, add the line "
            f"`{alias_line(contract.dataset, column, header)}`" if header else
            f"if one of its headers holds {column}, add the line "
            f"`{alias_line(contract.dataset, column, '<that header>')}`")
    return (f"missing_required_column: the header has no {', '.join(missing)} column "
            f"(it has: {', '.join(headers)}); {'; '.join(advice)} to "
            f"data/reference/{HEADER_ALIASES_FILE}; if the log does not record it, its rows "
            "stay quarantined: ask the team for an export that has it (a raw log is evidence "
            "and is not edited)")


# --- the stage -------------------------------------------------------------------------------

READERS = {"delimited": read_delimited, "xlsx": read_xlsx}

FILE_REPORT_SCHEMA = {
    "path": pl.String, "encoding": pl.String, "delimiter": pl.String,
    "sheets_read": pl.List(pl.String), "sheets_skipped": pl.List(pl.String),
    "rows_read": pl.Int64, "blank_rows": pl.Int64, "status": pl.String, "problem": pl.String,
    "unmatched_headers": pl.List(pl.String), "header_warnings": pl.List(pl.String),
}


def read_file(path: Path, contract: Contract = ITEMS) -> FileOutcome:
    """Read one accepted file; an unreadable one yields a single row that carries the reason.
    Whatever a reader raises for one file (a pyo3 panic included) makes that file unreadable,
    named, and the build goes on; a limit set wrongly (SettingError) fails the build."""
    try:
        _check_size(path)
        return READERS[_format_of(path)](path, contract)
    except UnreadableFile as error:
        return unreadable(str(error))
    except (SettingError, ReaderUnavailable):  # the build's problem, not the file's
        raise
    except BaseException as error:
        if not (isinstance(error, Exception) or type(error).__name__ == "PanicException"):
            raise  # KeyboardInterrupt, SystemExit: the build's own, not the file's
        first_line = (str(error).strip().split("\n", 1)[0] or "no message")[:200]
        return unreadable(
            f"the reader failed on it ({type(error).__name__}: {first_line}); re-export the "
            "file, and report it to the armtrace maintainers if it opens in a spreadsheet "
            "program or a text editor")


def unreadable(problem: str) -> FileOutcome:
    """A file that gives no records: one row carrying the problem, counted as quarantined."""
    row = pl.DataFrame({"read_problem": [f"unreadable_file: {problem}"]})
    return FileOutcome(rows=row, status="unreadable", problem=problem)


def _check_cells(cells: int, shape: str) -> None:
    """Refuse a log of more cells than $ARMTRACE_MAX_FILE_CELLS before its rows are built: in
    memory a cell costs far more than its bytes on disk (`shape`: its lines and columns)."""
    most = limit("file_cells")
    if cells > most:
        raise UnreadableFile(
            f"it holds {cells:,} cells ({shape}), more than the limit of {most:,} cells "
            f"(${LIMITS['file_cells'].env}): reading it would take more memory than one file "
            "may; split the export into several smaller files")


def _check_size(path: Path) -> None:
    size, limit = path.stat().st_size, max_file_bytes()
    if size == 0:
        raise UnreadableFile("empty file (0 bytes): export the log again")
    if size > limit:
        raise UnreadableFile(
            f"the file holds {size:,} bytes, more than the limit of {limit:,} bytes "
            f"(${ENV_MAX_FILE_BYTES}): split the export into several smaller files"
        )


def _format_of(path: Path) -> str:
    return "xlsx" if path.suffix.lower() == ".xlsx" else "delimited"


def read_files(raw_dir: Path, raw_files: pl.DataFrame, contract: Contract = ITEMS,
               spill_dir: Path | None = None) -> Iterator[tuple[pl.DataFrame, dict]]:
    """Each readable file of the contract's dataset (item logs by default) in path order: its
    rows in the stage's schema, numbered on from the files before, and its report line.
    spill_dir: read the workbooks ahead, on a thread of their own (outcomes_in_order).

    Needs `raw_files` columns: path, dataset, format, refused, stat_when_hashed
    (discover.py). Rows are numbered in path order, then sheet order, then line, which is the
    order later stages break ties by. A file the walk refused is not opened; a file that is
    not as it was fingerprinted once read raises RawFileChanged.
    """
    logs = raw_files.filter(pl.col("dataset") == contract.dataset,
                            pl.col("format") != "unsupported")
    paths = list(logs["path"])
    refused = {p: why for p, why in logs.select("path", "refused").rows() if why is not None}
    states = dict(logs.select("path", "stat_when_hashed").rows())
    readable = [p for p in paths if p not in refused]
    read = (outcomes_in_order(raw_dir, readable, contract, spill_dir) if spill_dir else
            (read_file(raw_dir / relative, contract) for relative in readable))
    schema = parsed_schema(contract)
    first_row = 0
    for relative in paths:
        if relative in refused:  # never opened (discover.py): counted like an unreadable file
            outcome = unreadable(refused[relative])
        else:
            outcome = next(read)
            check_unchanged(raw_dir, relative, states[relative])
        rows = pl.concat([pl.DataFrame(schema=schema),
                          outcome.rows.with_columns(source_file=pl.lit(relative))],
                         how="diagonal_relaxed")
        yield rows.select(
            pl.int_range(first_row, first_row + rows.height, dtype=pl.Int64).alias("row_number"),
            *schema,
        ), {
            "path": relative, "encoding": outcome.encoding, "delimiter": outcome.delimiter,
            "sheets_read": outcome.sheets_read, "sheets_skipped": outcome.sheets_skipped,
            "rows_read": outcome.rows.height, "blank_rows": outcome.blank_rows,
            "status": outcome.status, "problem": outcome.problem,
            "unmatched_headers": outcome.unmatched_headers,
            "header_warnings": outcome.header_warnings,
        }
        first_row += rows.height


def outcomes_in_order(raw_dir: Path, paths: list[str], contract: Contract,
                      spill_dir: Path) -> Iterator[FileOutcome]:
    """read_file of each path, in order, with the workbooks read ahead on a thread of their
    own, each spilled to Parquet in `spill_dir` until its turn. calamine reads a workbook on
    one core and releases the GIL, and the delimited logs kept the two cores only 1.3 busy
    on average: at ten million rows the workbooks took 13 of the stage's 36 s. Spilled, a
    workbook waiting for its turn holds no memory; the thread holds one workbook at a time.
    Closing the generator stops the workbooks not yet started and waits for the one being
    read."""
    workbooks = [p for p in paths if _format_of(Path(p)) == "xlsx"]
    spill_dir.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=1) as thread:
        ahead = {p: thread.submit(_read_and_spill, raw_dir / p, contract,
                                  spill_dir / f"workbook-{n:05d}.parquet")
                 for n, p in enumerate(workbooks)}
        try:
            for relative in paths:
                yield (_unspill(*ahead[relative].result()) if relative in ahead
                       else read_file(raw_dir / relative, contract))
        finally:  # a failed read stops the workbooks not yet started
            thread.shutdown(cancel_futures=True)


def _read_and_spill(path: Path, contract: Contract, spill: Path) -> tuple[FileOutcome, Path]:
    outcome = read_file(path, contract)
    outcome.rows.write_parquet(spill)
    return replace(outcome, rows=outcome.rows.clear()), spill


def _unspill(outcome: FileOutcome, spill: Path) -> FileOutcome:
    rows = pl.read_parquet(spill)
    spill.unlink()
    return replace(outcome, rows=rows)


def read_dataset(raw_dir: Path, raw_files: pl.DataFrame,
                 contract: Contract = ITEMS) -> tuple[pl.DataFrame, pl.DataFrame]:
    """All rows of all readable files of the contract's dataset, and one report line per file
    read (read_files, in one frame)."""
    files = list(read_files(raw_dir, raw_files, contract))
    empty = pl.DataFrame(schema=numbered_schema(contract))
    return (pl.concat([empty, *(rows for rows, _ in files)]),
            pl.DataFrame([line for _, line in files], schema=FILE_REPORT_SCHEMA))
