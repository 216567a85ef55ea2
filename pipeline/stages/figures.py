"""Stage 6: the published figures, computed in DuckDB SQL from `items` (and `transfers`).

The SQL lives in pipeline/figures/*.sql: facts.sql turns items into one long table of facts,
shares.sql computes every share with its sample size, production.sql adds the non-state
producers' shares (non_state_production) to them, figures.sql shapes the contract's tables,
diversion.sql matches items to documented transfers (diversion_chains, diversion_issues),
lots.sql and components.sql make the investigation's other figures (lot_spread,
ied_components), and places.sql says where and when items were documented
(documentation_sites, documentation_timeline). This module supplies the settings, runs the
files in order and, between production.sql and figures.sql, adds each share's interval
(pipeline/intervals.py) to the few hundred rows of figure_shares: the Korn-Graubard interval
needs beta quantiles, which DuckDB does not have.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from pipeline.intervals import korn_graubard, low_reliability, units_effective_n, wilson

SQL_DIR = Path(__file__).resolve().parent.parent / "figures"
SHARE_SQL_FILES = ("facts.sql", "shares.sql", "production.sql")  # then the intervals, then:
FIGURE_SQL_FILES = ("figures.sql", "diversion.sql", "lots.sql", "components.sql", "places.sql")

FIGURE_IDS = (
    "documentation_summary", "weapons_by_origin", "ammunition_by_origin", "calibre_family",
    "manufacture_period", "manufacture_year", "eu_share", "anti_armour_recent",
    "diversion_chains", "non_state_production", "lot_spread", "ied_components",
    "documentation_sites", "documentation_timeline",
)
DEFAULT_RECENT_FROM = 2014
DEFAULT_PERIOD_EDGES = (1960, 1990, 2010, 2014)


@dataclass(frozen=True)
class FigureSettings:
    """What the figures depend on besides the data. `as_of` None: the latest documentation date."""

    as_of: dt.date | None = None
    recent_from: int = DEFAULT_RECENT_FROM
    period_edges: tuple[int, ...] = DEFAULT_PERIOD_EDGES

    def resolved(self, con: duckdb.DuckDBPyConnection) -> FigureSettings:
        if self.as_of is not None:
            return self
        ((latest,),) = con.sql("SELECT max(documented_on) FROM items").fetchall()
        return FigureSettings(latest, self.recent_from, self.period_edges)

    def as_json(self) -> dict[str, object]:
        settings = asdict(self)
        settings["as_of"] = self.as_of.isoformat() if self.as_of else None
        settings["period_edges"] = list(self.period_edges)
        return settings


def periods(edges: tuple[int, ...]) -> pl.DataFrame:
    """Manufacture periods from their edges: (1960, 1990) -> before 1960, 1960-1989, 1990 and
    later. Edges must increase."""
    if list(edges) != sorted(set(edges)) or not edges:
        raise ValueError(f"period edges must be increasing years, got {list(edges)}")
    bounds = [(0, edges[0] - 1), *zip(edges, [e - 1 for e in edges[1:]], strict=False),
              (edges[-1], 9999)]
    labels = [f"before {edges[0]}",
              *(f"{start}-{end}" for start, end in bounds[1:-1]),
              f"{edges[-1]} and later"]
    return pl.DataFrame(
        {"period": labels, "from_year": [b[0] for b in bounds],
         "to_year": [b[1] for b in bounds], "position": list(range(len(labels)))},
        schema={"period": pl.String, "from_year": pl.Int32, "to_year": pl.Int32,
                "position": pl.Int32},
    )


def compute_figures(con: duckdb.DuckDBPyConnection, settings: FigureSettings) -> FigureSettings:
    """Create every fig_<id> table in the database `con` holds; return the settings used."""
    settings = settings.resolved(con)
    con.execute("SET VARIABLE as_of = ?::DATE", [settings.as_of])
    con.execute("SET VARIABLE recent_from = ?::INTEGER", [settings.recent_from])
    con.register("period_frame", periods(settings.period_edges))
    con.execute("CREATE OR REPLACE TEMP TABLE periods AS SELECT * FROM period_frame")
    con.unregister("period_frame")
    for name in SHARE_SQL_FILES:
        con.execute((SQL_DIR / name).read_text())
    shares = con.sql("SELECT * FROM figure_shares").pl()
    con.register("shares_frame", with_intervals(shares))
    con.execute("CREATE OR REPLACE TEMP TABLE figure_shares AS SELECT * FROM shares_frame")
    con.unregister("shares_frame")
    for name in FIGURE_SQL_FILES:
        con.execute((SQL_DIR / name).read_text())
    return settings


def with_intervals(shares: pl.DataFrame) -> pl.DataFrame:
    """Add effective_n, ci_low, ci_high and low_reliability to figure_shares' rows (share, n,
    count, known_count, squares, known_squares, item_kind): ammunition (counted in units),
    Korn-Graubard on the effective number of records; any other kind (counted in items),
    Wilson on its n items. All four are empty where the share is.

    A new share figure gets all of this by adding its dimension to facts.sql and selecting
    share, ci_low, ci_high, n, effective_n and low_reliability from figure_shares in
    figures.sql; `_share_columns` in pipeline/tables.py documents the columns, and the report
    marks the share by those names."""
    defined = shares.filter(pl.col("share").is_not_null())
    share, n = defined["share"].to_numpy(), defined["n"].to_numpy()
    items = (defined["item_kind"] != "ammunition").to_numpy()
    sums = defined.select(pl.col("count", "squares", "known_count", "known_squares")
                          .cast(pl.Float64))  # exact: integers below 2^53
    effective_n = np.where(items, n, units_effective_n(*sums.to_numpy().T, n))
    items_low, items_high = wilson(share, n)
    units_low, units_high = korn_graubard(share, effective_n, n)
    low, high = np.where(items, items_low, units_low), np.where(items, items_high, units_high)
    computed = defined.with_columns(
        effective_n=pl.Series(effective_n, dtype=pl.Float64),
        ci_low=pl.Series(low, dtype=pl.Float64), ci_high=pl.Series(high, dtype=pl.Float64),
        low_reliability=pl.Series(low_reliability(effective_n, low, high), dtype=pl.Boolean))
    empty = shares.filter(pl.col("share").is_null()).with_columns(
        effective_n=pl.lit(None, pl.Float64), ci_low=pl.lit(None, pl.Float64),
        ci_high=pl.lit(None, pl.Float64), low_reliability=pl.lit(None, pl.Boolean))
    return pl.concat([computed, empty])


def save_settings(con: duckdb.DuckDBPyConnection, settings: FigureSettings) -> None:
    """The settings the figures were computed with, as the one-row table figure_settings."""
    con.execute("""
        CREATE OR REPLACE TABLE figure_settings AS
        SELECT ?::DATE AS as_of, ?::INTEGER AS recent_from, ?::INTEGER[] AS period_edges
    """, [settings.as_of, settings.recent_from, list(settings.period_edges)])


def load_settings(con: duckdb.DuckDBPyConnection) -> FigureSettings:
    ((as_of, recent_from, edges),) = con.sql("SELECT * FROM figure_settings").fetchall()
    return FigureSettings(as_of, recent_from, tuple(edges))


def read_figures(con: duckdb.DuckDBPyConnection) -> dict[str, pl.DataFrame]:
    return {figure: con.sql(f"SELECT * FROM fig_{figure}").pl() for figure in FIGURE_IDS}
