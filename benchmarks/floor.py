"""The floor: one bare DuckDB query over the raw item logs that computes the origin shares.

No cleaning, no de-duplication, no quarantine, no report: each delimited log is read with
DuckDB's `read_csv` (delimiter sniffed; the one encoding a log may be in besides UTF-8 given as
`latin-1`), every cell as text, and the shares are of the origin cell exactly as written. DuckDB
cannot read XLSX without its `excel` extension (a download, which a build must not need), so
the workbooks are read with the reader the build uses (polars + calamine) and handed to the
same query as Arrow tables. Run as `python -m benchmarks.floor RAW_DIR`; prints JSON.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb
import polars as pl

ORIGIN_HEADERS = ("Origin", "Country of origin", "Made in", "COM", "Country of manufacture")
DELIMITED = (".csv", ".tsv", ".txt")


def _origin_header(columns: list[str]) -> str | None:
    return next((name for name in columns if name in ORIGIN_HEADERS), None)


def _delimited_select(con: duckdb.DuckDBPyConnection, path: Path) -> str:
    """One SELECT of the origin column of a delimited log (UTF-8 tried first, as the build
    does, then latin-1)."""
    quoted = str(path).replace("'", "''")
    for encoding in ("utf-8", "latin-1"):
        source = f"read_csv('{quoted}', all_varchar = true, encoding = '{encoding}')"
        try:
            columns = [row[0] for row in con.sql(f"DESCRIBE SELECT * FROM {source}").fetchall()]
            return f'SELECT "{_origin_header(columns)}" AS origin FROM {source}'
        except duckdb.Error:
            continue
    raise ValueError(f"{path}: neither UTF-8 nor latin-1")


def floor_query(raw_dir: Path) -> dict[str, object]:
    """Time reading every item log under raw_dir and computing the origin shares."""
    started = time.perf_counter()
    items = sorted((raw_dir / "items").rglob("*"))
    con = duckdb.connect()
    selects = [_delimited_select(con, path) for path in items if path.suffix.lower() in DELIMITED]
    workbooks = [path for path in items if path.suffix.lower() == ".xlsx"]
    for number, path in enumerate(workbooks):
        sheets = pl.read_excel(path, sheet_id=0, engine="calamine", infer_schema_length=0)
        frame = pl.concat([sheet.select(pl.col(header).alias("origin"))  # skips "Read me"
                           for sheet in sheets.values()
                           if (header := _origin_header(sheet.columns)) is not None])
        con.register(f"workbook_{number}", frame.to_arrow())
        selects.append(f"SELECT origin FROM workbook_{number}")
    shares = con.sql(f"""
        SELECT origin, count(*) AS rows, count(*) / sum(count(*)) OVER () AS share
        FROM ({' UNION ALL '.join(selects)}) GROUP BY origin ORDER BY rows DESC, origin
    """).fetchall()
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 3), "rows": sum(row[1] for row in shares),
            "origins": len(shares), "delimited_files": len(selects) - len(workbooks),
            "workbooks": len(workbooks)}


if __name__ == "__main__":
    print(json.dumps(floor_query(Path(sys.argv[1]))))
