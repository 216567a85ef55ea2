"""What `armtrace sql` prints: any DuckDB result as a terminal table, CSV, JSON or Markdown.

Every DuckDB type is written, in every format:

- Numbers, text, dates, times, timestamps and booleans go through polars as they are.
- Nested values (LIST, ARRAY, STRUCT, MAP, UNION) are JSON (DuckDB's `to_json`): JSON text
  in a CSV, Markdown or table cell, JSON values in the JSON format.
- Other types polars cannot hold or write (INTERVAL, UUID, BLOB, TIME WITH TIME ZONE, BIT,
  UHUGEINT, BIGNUM, ...) are DuckDB's own text for them (`2 months 3 days`, `\\xAA`).

The JSON format is one object per row, written by DuckDB's `to_json`; NaN and infinities,
which JSON cannot hold, become null. CSV cells go through `pipeline.safe_csv`, so text that
a spreadsheet would evaluate as a formula is written with a leading `'`.

The table format shows the first DEFAULT_TABLE_ROWS rows and as many columns as fit the
terminal, and says what it left out; CSV, JSON and Markdown write every row and column
unless `--limit` is given.
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import dataclass
from typing import TextIO

import duckdb
import polars as pl

from pipeline.safe_csv import write_safe_csv

FORMATS = ("table", "csv", "json", "markdown")
DEFAULT_TABLE_ROWS = 40
"""Rows the table format shows unless --limit says otherwise (a screenful, as DuckDB's own
command line shows)."""
WIDEST_TABLE_CELL = 40
"""Characters of a text cell the table format shows; longer text ends in `…`."""
WIDEST_TABLE = 65_535
"""The widest table polars draws (its width is a 16-bit number)."""
AS_THEY_ARE = frozenset({
    "boolean", "tinyint", "smallint", "integer", "bigint", "hugeint", "utinyint", "usmallint",
    "uinteger", "ubigint", "float", "double", "decimal", "varchar", "enum", "date", "time",
    "timestamp", "timestamp_s", "timestamp_ms", "timestamp_ns", "timestamp with time zone",
})
"""DuckDB type ids that polars reads and writes without loss."""
NESTED = frozenset({"list", "array", "struct", "map", "union"})
NON_FINITE_JSON = r"\b(?:NaN|-?Infinity)\b"
"""What DuckDB's to_json writes for NaN and infinities, which are not JSON."""


@dataclass(frozen=True)
class QueryResult:
    frame: pl.DataFrame
    """The rows to write: cells as text where the format needs it, or, for JSON, one column
    `row` holding each row as a JSON object."""
    total_rows: int
    """How many rows the query returned, shown or not."""


def parse_limit(text: str) -> int:
    """`--limit`: a number of rows, or `all` (0)."""
    if text.strip().lower() == "all":
        return 0
    try:
        limit = int(text)
    except ValueError:
        limit = -1
    if limit < 1:
        raise argparse.ArgumentTypeError(f"not a number of rows (1 or more) or 'all': {text!r}")
    return limit


def row_limit(output_format: str, given: int | None) -> int | None:
    """The rows to write: --limit if given (0: all), else DEFAULT_TABLE_ROWS for the table
    format and every row for the others."""
    if given is None:
        return DEFAULT_TABLE_ROWS if output_format == "table" else None
    return given or None


def fetch(relation: duckdb.DuckDBPyRelation, output_format: str,
          limit: int | None) -> QueryResult:
    """Run the query of `relation` for `output_format`, keeping at most `limit` rows (None:
    every row). A limited result that has more rows is counted by running the query again."""
    relation = _unique_names(relation)
    shown = relation if limit is None else relation.limit(limit + 1)
    writable = _as_json_rows(shown) if output_format == "json" else _as_writable(shown)
    frame = writable.pl()
    total = frame.height
    if limit is not None and frame.height > limit:
        frame = frame.head(limit)
        total = relation.aggregate("count(*)").fetchall()[0][0]
    return QueryResult(frame, total)


def _unique_names(relation: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """`relation` with the same columns, named uniquely (DuckDB names a second `a` `a_1`)."""
    return relation.project(", ".join(f"#{i}" for i in range(1, len(relation.columns) + 1)))


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _as_writable(relation: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """Each column as polars can hold and write it: nested values as JSON text, types polars
    lacks as DuckDB's text for them."""
    columns = []
    for name, kind in zip(relation.columns, relation.types, strict=True):
        column = _quoted(name)
        if kind.id in NESTED:
            columns.append(f"to_json({column})::VARCHAR AS {column}")
        elif kind.id in AS_THEY_ARE:
            columns.append(column)
        else:
            columns.append(f"{column}::VARCHAR AS {column}")
    return relation.project(", ".join(columns))


def _as_json_rows(relation: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    return relation.set_alias("query_row").project("to_json(query_row)::VARCHAR AS row")


def write(result: QueryResult, output_format: str, out: TextIO, err: TextIO) -> int:
    """Write `result` to `out` in `output_format` and return the exit code. What was left out
    is said on `out` for the table format (a reader's), on `err` for the others (data for a
    program)."""
    frame = result.frame
    hidden_rows = result.total_rows - frame.height
    if output_format == "table":
        out.write(terminal_table(frame, min(shutil.get_terminal_size().columns, WIDEST_TABLE)))
        if hidden_rows:
            out.write(f"{frame.height:,} of {result.total_rows:,} rows shown: --limit N shows "
                      f"N rows, --limit all every row\n")
        return 0
    if output_format == "markdown" and _natural_width(frame) > WIDEST_TABLE:
        err.write(f"armtrace sql: a row is wider than the {WIDEST_TABLE:,} characters a "
                  f"Markdown table can take here: use --format csv or json\n")
        return 1
    if output_format == "csv":
        out.write(write_safe_csv(frame) or "")
    elif output_format == "json":
        out.write(json_document(frame["row"]))
    else:
        out.write(markdown_table(frame))
    if hidden_rows:
        err.write(f"wrote the first {frame.height:,} of {result.total_rows:,} rows (--limit)\n")
    return 0


def json_document(rows: pl.Series) -> str:
    """A JSON array of the rows' objects, one a line. DuckDB writes NaN and infinities as
    bare words that are not JSON; rows that may hold one are read and written again with
    them as null."""
    suspect = rows.str.contains(NON_FINITE_JSON)
    lines = [json.dumps(json.loads(row, parse_constant=lambda _: None), ensure_ascii=False,
                        separators=(",", ":")) if doubt else row
             for row, doubt in zip(rows, suspect, strict=True)]
    return "[\n" + ",\n".join(lines) + "\n]\n" if lines else "[]\n"


def markdown_table(frame: pl.DataFrame) -> str:
    """A Markdown table of every row and every full cell. A `|` in a cell is escaped and a
    line break becomes `<br>`, so a cell stays in its column."""
    text = pl.selectors.string()
    escaped = frame.with_columns(text.str.replace_all("|", r"\|", literal=True)
                                 .str.replace_all("\r\n", "<br>", literal=True)
                                 .str.replace_all("\n", "<br>", literal=True))
    with pl.Config(tbl_formatting="MARKDOWN", tbl_hide_dataframe_shape=True,
                   tbl_hide_column_data_types=True, tbl_rows=-1, tbl_cols=-1,
                   fmt_str_lengths=WIDEST_TABLE, tbl_width_chars=WIDEST_TABLE):
        return f"{escaped}\n"


def terminal_table(frame: pl.DataFrame, width: int) -> str:
    """A box table of the columns that fit in `width` characters (at least the first),
    cells cut at WIDEST_TABLE_CELL characters, and a line naming the columns left out."""
    widths = _column_widths(frame)
    fitting, used = 0, 1
    while fitting < len(widths) and (fitting == 0 or used + widths[fitting] <= width):
        used += widths[fitting]
        fitting += 1
    shown = _boxed(frame.select(frame.columns[:fitting]), width)
    left_out = frame.columns[fitting:]
    if not left_out:
        return shown
    return (f"{shown}{len(left_out)} more columns not shown in {width} characters "
            f"(COLUMNS=N sets the width): {', '.join(left_out)}\n")


def _boxed(frame: pl.DataFrame, width: int) -> str:
    with pl.Config(tbl_formatting="UTF8_FULL_CONDENSED", tbl_hide_dataframe_shape=True,
                   tbl_hide_column_data_types=True, tbl_rows=-1, tbl_cols=-1,
                   fmt_str_lengths=WIDEST_TABLE_CELL, tbl_width_chars=width):
        return f"{frame}\n"


def _column_widths(frame: pl.DataFrame) -> list[int]:
    """Each column's width in the box table, its left border included, as polars draws it
    when nothing constrains it (read from the table's top border, `┌───┬──┐`)."""
    if not frame.columns:
        return []
    top = _boxed(frame, WIDEST_TABLE).splitlines()[0]
    return [len(segment) + 1 for segment in top[1:-1].split("┬")]


def _natural_width(frame: pl.DataFrame) -> int:
    """At least the width of a table of every full cell of `frame`: each column as wide as
    its widest text, name or value (cast to text, longer than polars shows a float)."""
    widths = frame.select(pl.max_horizontal(pl.lit(len(name)), pl.col(name).cast(pl.String)
                                            .str.len_chars().max()).alias(name)
                          for name in frame.columns)
    return 1 + sum(3 + (width or 0) for width in widths.row(0)) if frame.columns else 0
