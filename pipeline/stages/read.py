"""Stage 2: read every accepted item log into rows of text with provenance.

Each row keeps where it came from (file, sheet, line), its original cells (JSON, by the
file's own headers) and its values under the contract's canonical column names. Columns that
match no alias are kept as a JSON object. Nothing is interpreted here: every value is still
the text the team wrote, trimmed. A file that cannot be read becomes one row carrying the
reason, so that it is counted and quarantined rather than lost.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipeline.columns import ITEMS, Contract

DELIMITERS = (",", ";", "\t", "|")
MIN_HEADER_MATCHES = 2  # a first row naming at least two contract columns is a header
UTF8_BOM = b"\xef\xbb\xbf"

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


PARSED_SCHEMA = parsed_schema(ITEMS)


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


# --- text ------------------------------------------------------------------------------------

def decode(data: bytes) -> tuple[str, str]:
    """Text and encoding name: UTF-8 (with or without BOM), else Windows-1252."""
    if b"\x00" in data[:65536]:
        raise UnreadableFile("binary file (contains NUL bytes): export the log as CSV or XLSX")
    if data.startswith(UTF8_BOM):
        return data[len(UTF8_BOM):].decode("utf-8"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError as error:
        raise UnreadableFile(
            f"neither UTF-8 nor Windows-1252 text (byte {error.start}): re-save the file as UTF-8"
        ) from None


def _header_matches(cells: list[str], contract: Contract) -> int:
    return len({contract.canonical(c) for c in cells} - {None})


def detect_delimiter(header_line: str, contract: Contract = ITEMS) -> str:
    """The delimiter under which the header names the most contract columns."""
    def score(delimiter: str) -> tuple[int, int]:
        cells = next(csv.reader([header_line], delimiter=delimiter), [])
        return _header_matches(cells, contract), len(cells)

    best = max(DELIMITERS, key=score)  # max() keeps the first of equals: , ; tab | in order
    if score(best)[0] < MIN_HEADER_MATCHES:
        raise UnreadableFile(
            f"no recognisable header in line 1 ({header_line[:80]!r}): the first line must name "
            f"the columns, e.g. {', '.join(contract.required[:5])}"
        )
    return best


def _split_with_polars(text: str, delimiter: str) -> tuple[pl.DataFrame, pl.Series]:
    table = pl.read_csv(
        io.BytesIO(text.encode("utf-8")), separator=delimiter, has_header=False,
        infer_schema=False, quote_char='"',
    )
    # A quoted cell may span lines; count them so every row keeps its true line number.
    newlines = pl.sum_horizontal(pl.all().str.count_matches("\n").fill_null(0))
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
        raise UnreadableFile(f"malformed CSV at line {reader.line_num}: {error}") from None
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


def read_delimited(path: Path, contract: Contract = ITEMS) -> FileOutcome:
    text, encoding = decode(path.read_bytes())
    first_line = text.split("\n", 1)[0].rstrip("\r")
    delimiter = detect_delimiter(first_line, contract)
    problems: list[str | None] | None = None
    try:
        table, lines = _split_with_polars(text, delimiter)
    except pl.exceptions.ComputeError:
        table, lines, problems = _split_with_csv(text, delimiter)
    outcome = _rows_from_table(table, lines, problems, contract)
    outcome.encoding, outcome.delimiter = encoding, delimiter
    return outcome


# --- spreadsheets ----------------------------------------------------------------------------

def read_xlsx(path: Path, contract: Contract = ITEMS) -> FileOutcome:
    try:
        sheets = pl.read_excel(
            path, sheet_id=0, engine="calamine", has_header=False, raise_if_empty=False,
            drop_empty_rows=False, read_options={"dtypes": "string"},
        )
    except Exception as error:  # calamine raises several types for damaged workbooks
        raise UnreadableFile(f"not a readable XLSX workbook ({error}): re-export it") from None
    read: list[FileOutcome] = []
    names_read: list[str] = []
    skipped: list[str] = []
    for name, table in sheets.items():
        if table.height == 0 or _header_matches([c or "" for c in table.row(0)],
                                                 contract) < MIN_HEADER_MATCHES:
            skipped.append(f"{name} (first row is not a header)")
            continue
        lines = pl.Series("line", range(1, table.height + 1))
        outcome = _rows_from_table(table, lines, None, contract)
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
    return merged


# --- shared: a table of text with a header row -> rows under canonical names ----------------

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
    contract: Contract = ITEMS,
) -> FileOutcome:
    """Row 0 of `table` is the header; every later row becomes one parsed row."""
    headers = _unique_headers(list(table.row(0)))
    body = (
        table.rename(dict(zip(table.columns, headers, strict=True)))
        .with_columns(pl.all().str.strip_chars().replace("", None))
        .with_columns(source_line=lines,
                      read_problem=pl.Series(problems, dtype=pl.String) if problems else None)
        .slice(1)
    )
    blank = pl.all_horizontal(pl.col(headers).is_null())
    blank_rows = body.filter(blank).height
    body = body.filter(~blank)

    mapped: dict[str, str] = {}
    for header in headers:
        canonical = contract.canonical(header)
        if canonical and canonical not in mapped:
            mapped[canonical] = header
    unmatched = [h for h in headers if h not in mapped.values()]
    missing = [c for c in contract.required if c not in mapped]
    problem = None
    if missing:
        problem = (f"missing_required_column: the header has no {', '.join(missing)} column "
                   f"(it has: {', '.join(headers)}); add the column or rename a header to an alias")

    rows = body.select(
        pl.col("source_line"),
        *[(pl.col(mapped[c]) if c in mapped else pl.lit(None, pl.String)).alias(c)
          for c in contract.names],
        extra=pl.struct(unmatched).struct.json_encode() if unmatched else pl.lit(None, pl.String),
        cells=pl.struct(headers).struct.json_encode(),
        read_problem=pl.coalesce(pl.col("read_problem"), pl.lit(problem, pl.String)),
    )
    return FileOutcome(rows=rows, blank_rows=blank_rows,
                       status="missing_columns" if missing else "ok", problem=problem)


# --- the stage -------------------------------------------------------------------------------

READERS = {"delimited": read_delimited, "xlsx": read_xlsx}

FILE_REPORT_SCHEMA = {
    "path": pl.String, "encoding": pl.String, "delimiter": pl.String,
    "sheets_read": pl.List(pl.String), "sheets_skipped": pl.List(pl.String),
    "rows_read": pl.Int64, "blank_rows": pl.Int64, "status": pl.String, "problem": pl.String,
}


def read_file(path: Path, contract: Contract = ITEMS) -> FileOutcome:
    """Read one accepted file; an unreadable one yields a single row that carries the reason."""
    try:
        return READERS[_format_of(path)](path, contract)
    except UnreadableFile as error:
        row = pl.DataFrame({"read_problem": [f"unreadable_file: {error}"]})
        return FileOutcome(rows=row, status="unreadable", problem=str(error))


def _format_of(path: Path) -> str:
    return "xlsx" if path.suffix.lower() == ".xlsx" else "delimited"


def read_item_logs(raw_dir: Path, raw_files: pl.DataFrame,
                   contract: Contract = ITEMS) -> tuple[pl.DataFrame, pl.DataFrame]:
    """All rows of all readable files of the contract's dataset (item logs by default), and
    one report line per file read.

    Needs `raw_files` columns: path, dataset, format. Rows are numbered in path order, then
    sheet order, then line, which is the order later stages break ties by.
    """
    logs = raw_files.filter(pl.col("dataset") == contract.dataset,
                            pl.col("format") != "unsupported")
    parts: list[pl.DataFrame] = []
    report: list[dict] = []
    for relative in logs["path"]:
        outcome = read_file(raw_dir / relative, contract)
        parts.append(outcome.rows.with_columns(source_file=pl.lit(relative)))
        report.append({
            "path": relative, "encoding": outcome.encoding, "delimiter": outcome.delimiter,
            "sheets_read": outcome.sheets_read, "sheets_skipped": outcome.sheets_skipped,
            "rows_read": outcome.rows.height, "blank_rows": outcome.blank_rows,
            "status": outcome.status, "problem": outcome.problem,
        })
    schema = parsed_schema(contract)
    rows = pl.concat([pl.DataFrame(schema=schema), *parts], how="diagonal_relaxed").select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("row_number"), *schema
    )
    return rows, pl.DataFrame(report, schema=FILE_REPORT_SCHEMA)
