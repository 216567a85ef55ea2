"""Reconciliation of the published figures with each other and with `items`.

The rules are SQL, in pipeline/figures/reconcile.sql (docs/figures.md, "Reconciliation"): shares
sum to 1, each share is its count over the known denominator and lies in its interval, groups add
up to All, the summary's counts equal the totals behind every breakdown, and every count agrees
with `items`. This module runs the file and hands back its result rows.
"""

from __future__ import annotations

import duckdb
import polars as pl

from pipeline.stages.figures import SQL_DIR

SQL_FILE = SQL_DIR / "reconcile.sql"
TOLERANCE = 1e-9
"""Largest difference allowed between two shares (sums of shares carry rounding errors of about
1e-15); counts are compared exactly."""
ORDER = ("rule", "figure", "item_kind", "grp", "key", "measure")


def reconciliation(con: duckdb.DuckDBPyConnection, tolerance: float | None = None) -> pl.DataFrame:
    """Every check on the fig_<id> tables `con` holds, one row each: rule, figure, item_kind,
    grp, key, measure, expected, actual, difference, passed. Leaves only temp views behind."""
    con.execute("SET VARIABLE reconcile_tolerance = ?::DOUBLE",
                [TOLERANCE if tolerance is None else tolerance])
    con.execute(SQL_FILE.read_text())
    return con.sql("SELECT * FROM reconcile_results").pl().sort(ORDER, nulls_last=True)


def failed_checks(con: duckdb.DuckDBPyConnection, tolerance: float | None = None) -> pl.DataFrame:
    """The rows of `reconciliation` that did not pass (an undecided check counts as failed)."""
    return failures(reconciliation(con, tolerance))


def failures(results: pl.DataFrame) -> pl.DataFrame:
    """Rows of a `reconciliation` frame (column `passed`) that did not pass."""
    return results.filter(pl.col("passed").fill_null(False).not_())


def describe_failures(failed: pl.DataFrame, limit: int = 5) -> str:
    """One line per failed check (the first `limit`), for logs and the check's description."""
    lines = [
        f"{row['rule']}: {row['figure']}"
        + "".join(f" {row[c]}" for c in ("item_kind", "grp", "key") if row[c] is not None)
        + f" {row['measure']}: expected {row['expected']}, got {row['actual']}"
        for row in failed.head(limit).iter_rows(named=True)
    ]
    if failed.height > limit:
        lines.append(f"... and {failed.height - limit} more")
    return "\n".join(lines)
