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
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl

from pipeline.columns import ITEMS, Contract
from pipeline.stages.discover import check_unchanged

DELIMITERS = (",", ";", "\t", "|")
MIN_HEADER_MATCHES = 2  # a first row naming at least two contract columns is a header
UTF8_BOM = b"\xef\xbb\xbf"

# Limits on hostile or broken input (see "Hostile input" in docs/decisions.md).
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


# --- text ------------------------------------------------------------------------------------

def max_file_bytes() -> int:
    """The largest file read, in bytes: $ARMTRACE_MAX_FILE_BYTES or 2 GiB."""
    text = os.environ.get(ENV_MAX_FILE_BYTES, "").strip()
    if not text:
        return DEFAULT_MAX_FILE_BYTES
    if not text.isdigit() or int(text) == 0:
        raise ValueError(f"{ENV_MAX_FILE_BYTES}={text!r} is not a positive whole number of bytes")
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
    if b"\x00" in data[:65536]:
        raise UnreadableFile("binary file (contains NUL bytes): export the log as CSV or XLSX")
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
        cells = next(csv.reader([header_line], delimiter=delimiter), [])
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


def read_delimited(path: Path, contract: Contract = ITEMS) -> FileOutcome:
    utf8, encoding = utf8_of(path.read_bytes())
    line_end = utf8.find(b"\n")
    first_line = (utf8 if line_end < 0 else utf8[:line_end]).decode().rstrip("\r")
    delimiter = detect_delimiter(first_line, contract)
    problems: list[str | None] | None = None
    try:
        table, lines = _split_with_polars(utf8, delimiter)
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException):
        # polars refuses ragged or badly quoted files; the csv module says which line is wrong
        table, lines, problems = _split_with_csv(utf8.decode(), delimiter)
    del utf8  # the table holds every cell now
    outcome = _rows_from_table(table, lines, problems, contract)
    outcome.encoding, outcome.delimiter = encoding, delimiter
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
    _check_workbook_signature(path)
    try:
        sheets = pl.read_excel(
            path, sheet_id=0, engine="calamine", has_header=False, raise_if_empty=False,
            drop_empty_rows=False, read_options={"dtypes": "string"},
        )
    except Exception as error:  # calamine raises several types for damaged workbooks
        first_line = str(error).strip().split("\n", 1)[0][:200]
        raise UnreadableFile(f"not a readable XLSX workbook ({first_line}): re-export it") from None
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
    blank = body.select(pl.all_horizontal(pl.col(headers).is_null())).to_series()
    blank_rows = int(blank.sum())
    if blank_rows:
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
    elif body.height == 0:
        problem = ("no_rows: there are no item rows below the header; check that the export "
                   "included the data")

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
        _check_size(path)
        return READERS[_format_of(path)](path, contract)
    except UnreadableFile as error:
        return unreadable(str(error))


def unreadable(problem: str) -> FileOutcome:
    """A file that gives no records: one row carrying the problem, counted as quarantined."""
    row = pl.DataFrame({"read_problem": [f"unreadable_file: {problem}"]})
    return FileOutcome(rows=row, status="unreadable", problem=problem)


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
