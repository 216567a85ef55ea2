"""Stage 5: write the curated tables into the build database, then publish it atomically.

Tables are written into a work database that no reader opens. Publishing stages a copy of it
beside the published file and the finished reports folder beside the published one, commits
by writing a journal, then renames both into place: a reader holding the old file keeps
reading it, a new reader sees the new one, and a build killed at any point leaves either the
previous set or (past the commit point) the new set, which the next build finishes renaming.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import duckdb
import polars as pl

from pipeline.paths import Paths
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


def _fsync_directory(directory: Path) -> None:
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    for directory in sorted({p.parent for p in folder.rglob("*")} | {folder}):
        _fsync_directory(directory)


def _write_durably(path: Path, text: str) -> None:
    """Write `path` so that it is either absent or complete, even across a power cut."""
    partial = path.with_name(f"{path.name}.partial")
    with partial.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)
    _fsync_directory(path.parent)


def _staged_database(published: Path) -> Path:
    return published.with_name(f".{published.name}.staged")


def stage_database(work_database: Path, published: Path) -> Path:
    """Copy the finished work database beside the published one (same file system)."""
    published.parent.mkdir(parents=True, exist_ok=True)
    staged = _staged_database(published)
    shutil.copyfile(work_database, staged)
    with staged.open("rb+") as handle:
        os.fsync(handle.fileno())
    return staged


def swap_in_reports(built: Path, published: Path) -> None:
    """Swap a finished reports folder in for the published one.

    Two renames: the old folder steps aside, the new one takes its place, then the old one is
    removed. Safe to repeat after a kill at any point: whatever is left is finished next time.
    """
    published.parent.mkdir(parents=True, exist_ok=True)
    if built.exists():
        retired = published.with_name(f".{published.name}.{os.getpid()}.old")
        if published.exists():
            os.replace(published, retired)
        os.replace(built, published)
        _fsync_directory(published.parent)
    for stale in published.parent.glob(f".{published.name}.*.old"):
        shutil.rmtree(stale, ignore_errors=True)


def publish_outputs(work_database: Path, database: Path, reports_built: Path,
                    reports: Path) -> None:
    """Publish the database and the reports folder as one set.

    Both are staged beside their published places first. Writing the journal is the commit
    point: before it, the previous set stands untouched; after it, the new set is published,
    and if this process dies half-way, `finish_interrupted_publish` completes the renames.
    """
    staged = stage_database(work_database, database)
    _fsync_tree(reports_built)
    journal = {"database": [str(staged), str(database)],
               "reports": [str(reports_built), str(reports)]}
    path = journal_path(database)
    _write_durably(path, json.dumps(journal, indent=2) + "\n")
    _apply(journal)
    path.unlink()
    _fsync_directory(path.parent)


def journal_path(database: Path) -> Path:
    return database.with_name(f".{database.name}.publishing")


def _apply(journal: dict[str, list[str]]) -> None:
    staged, database = map(Path, journal["database"])
    if staged.exists():
        os.replace(staged, database)
        _fsync_directory(database.parent)
    swap_in_reports(*map(Path, journal["reports"]))


def finish_interrupted_publish(paths: Paths) -> str | None:
    """Complete a publish a killed build had committed to, and clear what any killed build
    left beside the published outputs. Call with the build lock held. Returns what was done.
    """
    database, reports = paths.database, paths.reports_dir
    path = journal_path(database)
    done = None
    if path.exists():
        _apply(json.loads(path.read_text(encoding="utf-8")))
        path.unlink()
        done = "finished publishing the build that was interrupted after it committed"
    _staged_database(database).unlink(missing_ok=True)
    path.with_name(f"{path.name}.partial").unlink(missing_ok=True)
    shutil.rmtree(paths.reports_staging_dir, ignore_errors=True)
    for stale in reports.parent.glob(f".{reports.name}.*.old"):
        shutil.rmtree(stale, ignore_errors=True)
    return done
