"""A stage's rows written file by file: Parquet parts in row order, one per slice of a file.

The item logs are read, corrected and normalised one file at a time
(pipeline/stages/item_logs.py), each slice written as soon as it is ready, so the logs in
memory are those of the slices under way and the next being read, beside the workbook read
ahead. The stage hands the folder on as `Parts`, which the IO manager moves into place
(no copy) and later stages scan as one frame.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping
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
                frames: Iterable[pl.DataFrame]) -> Parts:
    """Write each frame, cast to `schema`, as the next part in `folder` (emptied first), each
    part one Parquet row group.

    polars splits a frame into row groups of about half its rows, two written at once. DuckDB
    copies Parquet into its tables a row group at a time; from parts of two row groups, its
    checkpoint after the copy rewrote much of what it had just written, which cost the
    curated tables 8 s at ten million rows (28.7 -> 20.5 s with one row group a part)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    pl.DataFrame(schema=schema).write_parquet(folder / EMPTY_PART)
    for number, frame in enumerate(frames, start=1):
        frame.cast(dict(schema)).write_parquet(folder / f"{number:05d}.parquet",
                                               row_group_size=max(frame.height, 1))
    return Parts(folder)
