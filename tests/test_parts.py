"""Parts: a stage's rows as Parquet files in row order, one per file or slice of one."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from pipeline.parts import EMPTY_PART, carry_over, scan_parts, write_parts

SCHEMA = {"row_number": pl.Int64, "source_file": pl.String, "site": pl.String}


def write_source(folder: Path) -> Path:
    """Three files' rows, one part each (as the read stage writes them)."""
    files = {"a.csv": ["Mosul", "Tikrit"], "b.csv": ["Baiji", "Hit", "Rawa"], "c.csv": ["Raqqa"]}
    frames, first = [], 0
    for name, sites in files.items():
        frames.append(pl.DataFrame({"row_number": range(first, first + len(sites)),
                                    "source_file": [name] * len(sites), "site": sites}))
        first += len(sites)
    return write_parts(folder, SCHEMA, frames).folder


def corrected(rows: pl.LazyFrame) -> pl.LazyFrame:
    """A change to one row of b.csv, as apply_corrections plans it."""
    return rows.with_columns(site=pl.when(pl.col("row_number") == 3).then(pl.lit("Haditha"))
                             .otherwise(pl.col("site")))


def test_carry_over_links_the_parts_of_unchanged_files_and_rewrites_the_rest(
        tmp_path: Path) -> None:
    source = write_source(tmp_path / "source")
    plan = corrected(scan_parts(source))
    result = carry_over(source, plan, tmp_path / "carried", ["b.csv"], rows_per_part=2)
    assert result.scan().collect().equals(plan.collect())
    assert result.scan().collect()["site"].to_list()[3] == "Haditha"
    parts = sorted(p.name for p in result.folder.iterdir())
    # a.csv linked, b.csv written in slices of two rows, c.csv linked
    assert parts == [EMPTY_PART, "00001.parquet", "00002.parquet", "00003.parquet",
                     "00004.parquet"]
    linked = [p.name for p in result.folder.iterdir()
              if any(p.samefile(s) for s in source.iterdir())]
    assert sorted(linked) == [EMPTY_PART, "00001.parquet", "00004.parquet"]
    assert pl.read_parquet(result.folder / "00003.parquet")["site"].to_list() == ["Rawa"]


def test_carry_over_rewrites_every_part_whose_file_changed(tmp_path: Path) -> None:
    source = write_source(tmp_path / "source")
    plan = corrected(scan_parts(source))
    result = carry_over(source, plan, tmp_path / "carried", ["a.csv", "b.csv", "c.csv"])
    assert result.scan().collect().equals(plan.collect())
    assert not any(p.samefile(s) for p in result.folder.glob("0000[1-9]*.parquet")
                   for s in source.iterdir())


def test_carry_over_with_nothing_changed_is_the_source(tmp_path: Path) -> None:
    source = write_source(tmp_path / "source")
    result = carry_over(source, scan_parts(source), tmp_path / "carried", [])
    assert result.scan().collect().equals(scan_parts(source).collect())
    assert result.scan().collect_schema() == pl.Schema(SCHEMA)


def test_each_part_for_duckdb_is_one_row_group(tmp_path: Path) -> None:
    """DuckDB fills the curated tables a Parquet row group at a time (write_parts)."""
    rows = pl.DataFrame({"row_number": range(300_000)})
    parts = write_parts(tmp_path / "parts", {"row_number": pl.Int64}, [rows, rows.head(10)],
                        for_duckdb=True)
    for part in sorted(parts.folder.glob("0000[1-9].parquet")):
        assert pq.ParquetFile(part).metadata.num_row_groups == 1, part.name
