"""A stage's rows written file by file: Parquet parts in row order, one per file or slice.

A stage that works file by file (read, corrections, clean) writes each file's rows as soon
as they are ready, so only one file's rows are ever in memory (read: one log and the
workbook it reads ahead, corrections: a slice of at most ROWS_PER_PART rows, clean: two);
it hands the folder on as `Parts`, which the IO manager moves into place (no copy) and
later stages scan as one frame. Corrections link the parts of the logs they do not touch
(carry_over).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

PART_FILES = "*.parquet"  # in name order, which is row order (polars and DuckDB both sort)
EMPTY_PART = "00000-empty.parquet"  # no rows, every column: the schema when there are no files
ROWS_PER_PART = 250_000
"""Rows in one slice of a file-by-file step (clean works on two at once): normalising a log
of a million rows in one go took 4 GiB."""


@dataclass(frozen=True)
class Parts:
    folder: Path

    def scan(self) -> pl.LazyFrame:
        return scan_parts(self.folder)


def scan_parts(folder: Path) -> pl.LazyFrame:
    """The parts in `folder` as one frame, in part order (which is row order)."""
    return pl.scan_parquet(sorted(folder.glob(PART_FILES)))


def write_parts(folder: Path, schema: Mapping[str, pl.DataType],
                frames: Iterable[pl.DataFrame], for_duckdb: bool = False) -> Parts:
    """Write each frame, cast to `schema`, as the next part in `folder` (emptied first).
    for_duckdb: the parts DuckDB will copy into tables, each as one Parquet row group.

    polars splits a frame into row groups of about half its rows, two written at once. DuckDB
    copies Parquet into its tables a row group at a time; from parts of two row groups, its
    checkpoint after the copy rewrote much of what it had just written, which cost the
    curated tables 8 s at ten million rows (28.7 -> 20.5 s with one row group a part). One
    row group is written on one thread, though, which cost the read stage 2.4 s; so only the
    parts DuckDB copies are written that way."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    pl.DataFrame(schema=schema).write_parquet(folder / EMPTY_PART)
    for number, frame in enumerate(frames, start=1):
        frame.cast(dict(schema)).write_parquet(
            folder / f"{number:05d}.parquet",
            row_group_size=max(frame.height, 1) if for_duckdb else None)
    return Parts(folder)


def each_file(rows: pl.LazyFrame) -> Iterator[pl.LazyFrame]:
    """The rows of each source file, in row order. Needs `source_file`; the rows of a file must
    be contiguous, as the read stage numbers them. When `rows` scans parts, the filter on a
    file reads just that file's part."""
    files = rows.select(pl.col("source_file").unique(maintain_order=True)).collect()
    for source_file in files["source_file"]:
        yield rows.filter(pl.col("source_file") == source_file)


def in_slices(rows: pl.LazyFrame, rows_per_part: int = ROWS_PER_PART) -> Iterator[pl.DataFrame]:
    """`rows` collected a slice of at most `rows_per_part` rows at a time, in order."""
    yield from rows.collect_batches(chunk_size=rows_per_part)


def carry_over(source: Path, rows: pl.LazyFrame, folder: Path,
               changed_files: Collection[str], rows_per_part: int = ROWS_PER_PART) -> Parts:
    """`rows`, the rows of the parts in `source` changed only in the files named in
    `changed_files`, as parts in `folder`. A part of `source` that holds none of those files
    is linked into `folder` as it is (a hard link: no copy), where writing every row again
    took 9 s at ten million rows when a correction touched one file. The parts with a changed
    file are written anew from `rows`, in slices (in_slices). Needs `source_file`."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    _link(source / EMPTY_PART, folder / EMPTY_PART)
    schema = pl.read_parquet_schema(source / EMPTY_PART)
    changed = set(changed_files)
    number = 0
    for part in sorted(source.glob(PART_FILES)):
        if part.name == EMPTY_PART:
            continue
        files = pl.scan_parquet(part).select(pl.col("source_file").unique()).collect()
        if not changed & set(files["source_file"]):
            number += 1
            _link(part, folder / f"{number:05d}.parquet")
            continue
        for rows_of_part in in_slices(rows.filter(pl.col("source_file").is_in(
                files["source_file"].implode())), rows_per_part):
            number += 1
            rows_of_part.cast(schema).write_parquet(folder / f"{number:05d}.parquet")
    return Parts(folder)


def _link(existing: Path, new: Path) -> None:
    """`new` as a second name of `existing` (parts are never written to once made), or a copy
    where the file system has no hard links."""
    try:
        os.link(existing, new)
    except OSError:
        shutil.copyfile(existing, new)
