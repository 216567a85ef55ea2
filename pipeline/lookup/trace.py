"""`trace`: where has this serial or lot number (or record id) been seen?

The lookup is SQL stored in the curated database (trace.sql: the table macro `trace`, and the
key macros of pipeline/keys.py it normalises its argument with), so that `armtrace trace`, a
notebook and the DuckDB command line give the same answer from the same code. The build
creates the macros with the curated tables; this module also runs them for the command line.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from pipeline.keys import (
    KEY_CHARACTERS_COLUMNS,
    KEY_CHARACTERS_COMMENT,
    key_character_rows,
    macro_sql,
    sql_constants,
)
from pipeline.sql_literal import sql_string
from pipeline.stages.clean import UNKNOWN_MARKERS
from pipeline.stages.publish import write_table

TRACE_SQL = Path(__file__).with_name("trace.sql")


def create_lookup_macros(con: duckdb.DuckDBPyConnection) -> None:
    """The table key_characters, the key macros and `trace`, in the database `con` holds
    (which must hold the curated tables and transfers)."""
    write_table(con, "key_characters", key_character_rows(), KEY_CHARACTERS_COMMENT,
                KEY_CHARACTERS_COLUMNS)
    con.execute(macro_sql(UNKNOWN_MARKERS))
    trace_sql = TRACE_SQL.read_text()
    for token, literal in sql_constants().items():
        trace_sql = trace_sql.replace(token, literal)
    con.execute(trace_sql)


def trace(con: duckdb.DuckDBPyConnection, text: str, partial: bool = False) -> pl.DataFrame:
    """Every sighting of `text`, as the stored macro lists them."""
    return trace_relation(con, text, partial).pl()


def trace_relation(con: duckdb.DuckDBPyConnection, text: str,
                   partial: bool = False) -> duckdb.DuckDBPyRelation:
    """The stored macro's sightings of `text`, as a relation (not yet run)."""
    return con.sql(f"SELECT * FROM trace({sql_string(text)}, partial := {str(partial).lower()})")


def normalised(con: duckdb.DuckDBPyConnection, text: str) -> tuple[str | None, str | None]:
    """`text` as trace compares it: (serial or lot key, record id)."""
    ((key, record),) = con.sql("SELECT normalised_key(?), normalised_record_id(?)",
                               params=[text, text]).fetchall()
    return key, record
