"""A stage's rows written file by file: one Parquet part per input file, in row order.

A stage that works file by file (read, corrections, clean) writes each file's rows as soon
as they are ready, so only one file's rows are ever in memory; it hands the folder on as
`Parts`, which the IO manager moves into place (no copy) and later stages scan as one frame.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

PART_FILES = "*.parquet"  # in name order, which is row order (polars and DuckDB both sort)
EMPTY_PART = "00000-empty.parquet"  # no rows, every column: the schema when there are no files


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
    """Write each frame, cast to `schema`, as the next part in `folder` (emptied first)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    pl.DataFrame(schema=schema).write_parquet(folder / EMPTY_PART)
    for number, frame in enumerate(frames, start=1):
        frame.cast(dict(schema)).write_parquet(folder / f"{number:05d}.parquet")
    return Parts(folder)


def by_file(rows: pl.LazyFrame, folder: Path,
            step: Callable[[pl.DataFrame], pl.DataFrame] = lambda frame: frame) -> Parts:
    """`step` applied to the rows of one source file at a time, each result written as a part
    in `folder`. Needs `source_file`; the rows of a file must be contiguous, as the read stage
    numbers them. When `rows` scans parts, the filter on a file reads just that file's part."""
    files = rows.select(pl.col("source_file").unique(maintain_order=True)).collect()
    return write_parts(folder, step(rows.head(0).collect()).schema,
                       (step(rows.filter(pl.col("source_file") == source_file).collect())
                        for source_file in files["source_file"]))
