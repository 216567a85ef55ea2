"""Stage 5: write the curated tables into the build database, then publish it atomically.

Tables are written into a work database that no reader opens. Publishing copies it beside
the published file and renames the copy over it: a reader holding the old file keeps reading
it, a new reader sees the new one, and a build killed at any point leaves the published file
as it was.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import polars as pl

from pipeline.reference import Reference
from pipeline.tables import (
    CURATED_TABLES,
    DEDUP_DECISIONS,
    ITEMS,
    QUARANTINE,
    RECORD_VERSIONS,
    REFERENCE_COLUMN_COMMENTS,
    REFERENCE_COMMENTS,
    SOURCE_FILES,
    Table,
)


def curated_frames(resolved: pl.DataFrame, source_files: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The frame of each curated table. Needs the resolve stage's frame and the file report."""
    by_disposition = resolved.partition_by("disposition", as_dict=True, include_key=False)

    def rows(disposition: str) -> pl.DataFrame:
        return by_disposition.get((disposition,), resolved.clear())

    kept = resolved.select(
        resolved_to_row="row_number", kept_record_id="record_id",
        kept_file="source_file", kept_line="source_line",
    )
    merged = rows("merged").join(kept, on="resolved_to_row", how="left")
    return {
        ITEMS.name: ITEMS.select(rows("item")),
        RECORD_VERSIONS.name: RECORD_VERSIONS.select(rows("superseded")),
        QUARANTINE.name: QUARANTINE.select(rows("quarantined")),
        DEDUP_DECISIONS.name: DEDUP_DECISIONS.select(merged).sort("dropped_row"),
        SOURCE_FILES.name: SOURCE_FILES.select(source_files),
    }


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def write_table(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame,
                comment: str, column_comments: dict[str, str]) -> None:
    con.register("incoming", frame)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM incoming")
    finally:
        con.unregister("incoming")
    comment_table(con, name, comment, column_comments)


def comment_table(con: duckdb.DuckDBPyConnection, name: str, comment: str,
                  column_comments: dict[str, str]) -> None:
    con.execute(f"COMMENT ON TABLE {name} IS {_sql_string(comment)}")
    for column, text in column_comments.items():
        con.execute(f"COMMENT ON COLUMN {name}.{column} IS {_sql_string(text)}")


def write_curated_tables(con: duckdb.DuckDBPyConnection, frames: dict[str, pl.DataFrame]) -> None:
    tables: dict[str, Table] = {t.name: t for t in CURATED_TABLES}
    for name, frame in frames.items():
        table = tables[name]
        write_table(con, name, frame, table.comment, {c.name: c.comment for c in table.columns})


def write_reference_tables(con: duckdb.DuckDBPyConnection, reference: Reference) -> None:
    """The reference data as used by this build, so SQL users can join against it."""
    frames = {f"ref_{name}": frame for name, frame in reference.tables.items()}
    frames["ref_countries"] = reference.countries
    for name, frame in frames.items():
        columns = {c: REFERENCE_COLUMN_COMMENTS[c] for c in frame.columns}
        write_table(con, name, frame, REFERENCE_COMMENTS[name], columns)


def publish_reports(built: Path, published: Path) -> None:
    """Swap a finished reports folder in for the published one.

    Two renames: the old folder steps aside, the new one takes its place, then the old one is
    removed. Between the renames (microseconds) the folder is absent, never half-written.
    """
    published.parent.mkdir(parents=True, exist_ok=True)
    for stale in published.parent.glob(f".{published.name}.*.old"):  # left by a killed build
        shutil.rmtree(stale, ignore_errors=True)
    retired = published.with_name(f".{published.name}.{os.getpid()}.old")
    if published.exists():
        os.replace(published, retired)
    os.replace(built, published)
    shutil.rmtree(retired, ignore_errors=True)


def publish_database(work_database: Path, published: Path) -> None:
    """Copy the finished work database next to `published`, then rename it over it."""
    published.parent.mkdir(parents=True, exist_ok=True)
    for stale in published.parent.glob(f".{published.name}.*.tmp"):  # left by a killed build
        stale.unlink(missing_ok=True)
    staging = published.with_name(f".{published.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(work_database, staging)
        with staging.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(staging, published)
    finally:
        staging.unlink(missing_ok=True)
    directory = os.open(published.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
