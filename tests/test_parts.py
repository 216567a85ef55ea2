"""Parts: a stage's rows as Parquet files in row order, one per file or slice of one."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from pipeline.parts import write_parts


def test_each_part_is_one_row_group(tmp_path: Path) -> None:
    """DuckDB fills the curated tables a Parquet row group at a time (write_parts)."""
    rows = pl.DataFrame({"row_number": range(300_000)})
    parts = write_parts(tmp_path / "parts", {"row_number": pl.Int64}, [rows, rows.head(10)])
    for part in sorted(parts.folder.glob("0000[1-9].parquet")):
        assert pq.ParquetFile(part).metadata.num_row_groups == 1, part.name
