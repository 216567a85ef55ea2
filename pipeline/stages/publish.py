"""Stage 5: write the curated tables into the build database, then publish it atomically.

Tables are written into a work database that no reader opens. Publishing stages a copy of it
beside the published file and the finished reports folder beside the published one, commits
by writing a journal, then renames both into place: a reader holding the old file keeps
reading it, a new reader sees the new one, and a build killed at any point leaves either the
previous set or (past the commit point) the new set, which the next build finishes renaming.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import shutil
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from pipeline.fingerprint import MANIFEST_FILE
from pipeline.outputs import (
    REPORTS_OUTPUT,
    BrokenPublishedState,
    Refused,
    remove_published,
    write_marker,
)
from pipeline.parts import PART_FILES
from pipeline.paths import DATABASE_NAME, Paths, journal_of, staged_database_of
from pipeline.reference import Reference
from pipeline.sql_literal import sql_string
from pipeline.stages.discover import sha256_of
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

RESOLVED_TABLES = ((ITEMS, "item"), (RECORD_VERSIONS, "superseded"),
                   (QUARANTINE, "quarantined"))
"""The tables that hold the resolved rows of one disposition each."""


def write_resolved_tables(con: duckdb.DuckDBPyConnection, normalised: Path,
                          decisions: Path) -> None:
    """items, record_versions, quarantine (its item-log rows) and dedup_decisions, filled by
    DuckDB straight from the Parquet files of the clean and resolve stages: it streams them,
    where polars frames of the resolved rows and of each table held every row at once.

    Each table is one filtered, parallel scan of the normalised parts that keeps the rows of
    one disposition (_marked_rows), in row order. A positional join of the two files ran on
    one thread (items alone took 26 s at ten million rows), and a join on row_number would
    lose the row order (sorting it back cost what the join saved).

    Needs `normalised` with the columns the tables' columns come from, and `decisions` with
    row_number, disposition and resolved_to_row (and rule), one row per normalised row.
    """
    rows, decided = _parquet(normalised), _parquet(decisions)
    (last_row,), = con.sql(f"SELECT coalesce(max(row_number), 0) FROM {decided}").fetchall()

    def mark(row_numbers: str) -> None:
        _mark_rows(con, row_numbers, int(last_row))

    mark(f"SELECT row_number FROM {decided} WHERE disposition <> 'item'")
    con.execute(f"CREATE OR REPLACE TABLE {ITEMS.name} AS SELECT {ITEMS.sql_select()} "
                f"FROM {rows} WHERE NOT {MARKED}")
    for table, disposition in RESOLVED_TABLES:
        if table is not ITEMS:  # written above
            mark(f"SELECT row_number FROM {decided} WHERE disposition = "
                 f"{sql_string(disposition)}")
            con.execute(f"CREATE OR REPLACE TABLE {table.name} AS SELECT {table.sql_select()} "
                        f"FROM {_marked_rows(rows, decided, disposition)} ORDER BY row_number")
    mark(f"SELECT resolved_to_row FROM {decided} WHERE disposition = 'merged'")
    con.execute(f"CREATE OR REPLACE TEMP TABLE kept AS SELECT row_number AS resolved_to_row, "
                f"record_id AS kept_record_id, source_file AS kept_file, "
                f"source_line AS kept_line FROM {rows} WHERE {MARKED}")
    mark(f"SELECT row_number FROM {decided} WHERE disposition = 'merged'")
    con.execute(f"""
        CREATE OR REPLACE TABLE {DEDUP_DECISIONS.name} AS
        SELECT {DEDUP_DECISIONS.sql_select()}
        FROM {_marked_rows(rows, decided, 'merged')} LEFT JOIN kept USING (resolved_to_row)
        ORDER BY dropped_row""")
    con.execute("DROP TABLE kept")
    con.execute(f"RESET VARIABLE {MARKS}")
    for table in (*(t for t, _ in RESOLVED_TABLES), DEDUP_DECISIONS):
        comment_table(con, table.name, table.comment, {c.name: c.comment for c in table.columns})


MARKS = "marked_rows"
"""The DuckDB variable holding the row numbers _mark_rows marked, as a bitstring."""
MARKED = f"coalesce(get_bit(getvariable('{MARKS}'), row_number::INTEGER), 0) = 1"
"""A filter true on the rows _mark_rows marked. row_number fits an INTEGER: two billion rows."""


def _mark_rows(con: duckdb.DuckDBPyConnection, row_numbers: str, last_row: int) -> None:
    """Mark the rows whose row_number the query `row_numbers` returns, for the filter MARKED:
    bit i of one bitstring for row i. The scan's reader tests the bit before it decodes the
    other columns, so a table of a few percent of the rows costs a few percent of a scan."""
    con.execute(f"SET VARIABLE {MARKS} = (SELECT bitstring_agg(row_number, 0, {last_row}) "
                f"FROM ({row_numbers}) AS marked (row_number))")


def _marked_rows(rows: str, decided: str, disposition: str) -> str:
    """The marked rows of `rows` with their decisions, which must be `disposition`, as a SQL
    relation."""
    return f"""(
        SELECT marked.*, decision.* EXCLUDE (row_number)
        FROM (SELECT * FROM {rows} WHERE {MARKED}) AS marked
        JOIN (SELECT * FROM {decided} WHERE disposition = {sql_string(disposition)})
             AS decision USING (row_number))"""


def _parquet(path: Path) -> str:
    """A stage's output as a SQL relation: one Parquet file, or a folder of parts (a stage
    written file by file), read in part order, which is row order."""
    files = str(path / PART_FILES) if path.is_dir() else str(path)
    return f"read_parquet({sql_string(files)})"


def curated_frames(source_files: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The frames of the curated tables not drawn from the resolved rows. Needs the file
    report."""
    return {SOURCE_FILES.name: SOURCE_FILES.select(source_files)}


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
    con.execute(f"COMMENT ON TABLE {name} IS {sql_string(comment)}")
    for column, text in column_comments.items():
        con.execute(f"COMMENT ON COLUMN {name}.{column} IS {sql_string(text)}")


def write_curated_tables(con: duckdb.DuckDBPyConnection, frames: dict[str, pl.DataFrame]) -> None:
    """Each frame as the curated table of its name; `quarantine` is appended to the table
    (write_resolved_tables made it, with the item-log rows)."""
    tables: dict[str, Table] = {t.name: t for t in CURATED_TABLES}
    for name, frame in frames.items():
        if name == QUARANTINE.name:
            append_rows(con, name, frame)
            continue
        table = tables[name]
        write_table(con, name, frame, table.comment, {c.name: c.comment for c in table.columns})


def append_rows(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> None:
    con.register("incoming", frame)
    try:
        con.execute(f"INSERT INTO {name} SELECT * FROM incoming")
    finally:
        con.unregister("incoming")


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


def stage_database(work_database: Path, published: Path) -> Path:
    """Copy the finished work database beside the published one (same file system)."""
    published.parent.mkdir(parents=True, exist_ok=True)
    staged = staged_database_of(published)
    shutil.copyfile(work_database, staged)
    with staged.open("rb+") as handle:
        os.fsync(handle.fileno())
    return staged


def swap_in_reports(built: Path, published: Path) -> list[str]:
    """Swap a finished reports folder in for the published one.

    Two renames: the old folder steps aside, the new one takes its place, then what armtrace
    published in the old one is removed (remove_published). Safe to repeat after a kill at any
    point: whatever is left is finished next time. Returns a warning for each retired folder
    kept because it holds something armtrace did not publish.
    """
    published.parent.mkdir(parents=True, exist_ok=True)
    if built.exists():
        retired = published.with_name(f".{published.name}.{os.getpid()}.old")
        if published.exists():
            os.replace(published, retired)
        os.replace(built, published)
        _fsync_directory(published.parent)
    return [warning for stale in _retired_folders(published)
            if (warning := _remove_retired(stale))]


def _retired_folders(published: Path) -> list[Path]:
    """Folders a swap moved aside (`.<name>.<pid>.old`) beside the reports folder."""
    prefix = f".{published.name}."
    return sorted(p for p in published.parent.glob(f"{glob.escape(prefix)}*.old")
                  if p.name[len(prefix):-len(".old")].isdigit() and p.is_dir()
                  and not p.is_symlink())


def _remove_retired(folder: Path) -> str | None:
    """Remove what armtrace published in a retired reports folder; a warning if it keeps the
    folder."""
    try:
        left = remove_published(folder)
    except Refused as error:
        return f"kept {folder}: {error}"
    if not left:
        return None
    return (f"kept {folder}, the reports folder this build replaced: it holds "
            f"{', '.join(left[:3])}{' and more' if len(left) > 3 else ''}, which armtrace did "
            f"not publish; move what you need, then delete the folder")


def publish_outputs(paths: Paths, manifest: dict[str, Any]) -> list[str]:
    """Publish the work database and the staged reports folder of `paths` as one set.

    Both are staged beside their published places first, and the reports folder gets the
    build's manifest with the SHA-256 of every output (`outputs`: the database and each
    report file, so that a later build can tell whether they are still as published) and
    the marker that lists the files published in it. Writing the journal is the commit point:
    before it, the previous set stands untouched; after it, the new set is published, and if
    this process dies half-way, `finish_interrupted_publish` completes the renames. Returns
    swap_in_reports' warnings.
    """
    built = paths.reports_staging_dir
    staged = stage_database(paths.work_database, paths.database)
    files = sorted(p.relative_to(built).as_posix() for p in built.rglob("*") if p.is_file())
    outputs = {DATABASE_NAME: sha256_of(staged),
               **{f"{REPORTS_OUTPUT}/{name}": sha256_of(built / name) for name in files}}
    (built / MANIFEST_FILE).write_text(
        json.dumps({**manifest, "outputs": outputs}, indent=2, sort_keys=True) + "\n",
        encoding="utf-8")
    write_marker(built, "reports", [*files, MANIFEST_FILE])
    _fsync_tree(built)
    journal = _journal_of(paths)
    _write_durably(paths.journal, json.dumps(journal, indent=2) + "\n")
    warnings = _apply(journal)
    paths.journal.unlink()
    _fsync_directory(paths.curated_dir)
    return warnings


def journal_path(database: Path) -> Path:
    return journal_of(database)


def _journal_of(paths: Paths) -> dict[str, list[str]]:
    """The journal of a publish of `paths`: what is renamed onto what. A journal on disk must
    be exactly this to be replayed."""
    return {"database": [str(paths.staged_database), str(paths.database)],
            "reports": [str(paths.reports_staging_dir), str(paths.reports_dir)]}


def _apply(journal: dict[str, list[str]]) -> list[str]:
    staged, database = map(Path, journal["database"])
    if staged.exists():
        os.replace(staged, database)
        _fsync_directory(database.parent)
    return swap_in_reports(*map(Path, journal["reports"]))


def _read_journal(paths: Paths) -> dict[str, list[str]]:
    """The journal left by a build killed after its commit; BrokenPublishedState unless it is
    exactly the journal a publish of `paths` writes (so a journal can never move anything but
    this pair's own staged outputs)."""
    path = paths.journal
    force = "run `armtrace build --force` to discard it and build afresh"
    try:
        journal = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BrokenPublishedState(
            f"the publishing journal {path} is damaged ({error}): {force}") from None
    if journal != _journal_of(paths):
        reports = journal.get("reports") if isinstance(journal, dict) else None
        other = (dataclasses.replace(paths, reports_dir=Path(reports[1]))
                 if isinstance(reports, list) and len(reports) == 2 else None)
        hint = (f" (it is the journal of a publish to the reports folder {other.reports_dir}: "
                f"to finish that publish, build again with the same --curated and --reports)"
                if other and journal == _journal_of(other) else "")
        raise BrokenPublishedState(
            f"the publishing journal {path} names paths that are not this curated and reports "
            f"folder's own staged outputs, and armtrace will not move them{hint}; "
            f"otherwise {force}")
    return journal


def finish_interrupted_publish(paths: Paths, force: bool = False) -> list[str]:
    """Complete a publish a killed build had committed to, and clear what any killed build
    left beside the published outputs. Call with the build lock held. Returns what was done.

    BrokenPublishedState when the journal is not this pair's (see _read_journal), unless
    `force`, which discards it unread.
    """
    done = []
    path = paths.journal
    if path.exists():
        try:
            journal = _read_journal(paths)
        except BrokenPublishedState:
            if not force:
                raise
            path.unlink()
            done.append(f"discarded the publishing journal {path}, which named other paths or "
                        f"was damaged (--force)")
        else:
            done += _apply(journal)
            path.unlink()
            done.append("finished publishing the build that was interrupted after it "
                        "committed")
    paths.staged_database.unlink(missing_ok=True)
    path.with_name(f"{path.name}.partial").unlink(missing_ok=True)
    shutil.rmtree(paths.reports_staging_dir, ignore_errors=True)
    done += [warning for stale in _retired_folders(paths.reports_dir)
             if (warning := _remove_retired(stale))]
    return done
