"""The design effect of documentation sites on the weapons shares of a curated database:
`python -m benchmarks.design_effect DATABASE [DATABASE ...]`.

The Wilson interval of a weapons share treats every weapon as an independent draw. Weapons found
together (one cache, one site) may not be: if sites differ in what they hold, the share varies
more from sample to sample than independent draws would, by the design effect

    deff = var_sites(p) / (p (1 - p) / n),

where var_sites is the linearised variance of the share with sites as clusters (the estimator
the ammunition figures would use for records), n the weapons of known value. deff near 1: sites
hold much the same mix and Wilson is right; deff of 2: Wilson's interval is 1 / sqrt(2) = 71% as
wide as it should be. For each dimension (origin, calibre family, manufacture period) and group
(each country, sites within it; All, sites within countries) it reports deff for every share of
at least MIN_SHARE, their median, and the median one gets with the same site sizes when weapons
are dealt to sites at random (PERMUTATIONS times, seeded): the spread of deff that chance alone
gives. docs/figures.md ("Items") quotes the result.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
from numpy.typing import NDArray

from pipeline.stages.figures import DEFAULT_PERIOD_EDGES, periods

DOC = Path(__file__).resolve().parent.parent / "docs" / "figures.md"
START, END = "<!-- design-effect:start -->", "<!-- design-effect:end -->"

SEED = 23
PERMUTATIONS = 200
MIN_SHARE = 0.05  # below it a share's deff estimate is mostly noise
MATERIAL = 1.2  # a median deff above this (and above chance) would make Wilson too narrow


def weapons(database: Path) -> pl.DataFrame:
    """One row per weapon: group, cluster (site within country) and the three dimensions."""
    with duckdb.connect(str(database), read_only=True) as con:
        frame = con.sql("SELECT documented_in, site_key, origin, calibre_family, "
                        "year_of_manufacture FROM items WHERE item_kind = 'weapons'").pl()
    period = pl.lit(None, pl.String)
    for label, first, last in periods(DEFAULT_PERIOD_EDGES).select(
            "period", "from_year", "to_year").rows():
        period = pl.when(pl.col("year_of_manufacture").is_between(first, last)).then(
            pl.lit(label)).otherwise(period)
    return frame.with_columns(
        cluster=pl.concat_str("documented_in", "site_key", separator="\x1f"),
        calibre_family=pl.col("calibre_family").replace("unknown", None),
        period=period,
    )


def design_effects(labels: NDArray[np.int64], clusters: NDArray[np.int64], categories: int
                   ) -> NDArray[np.float64]:
    """deff of every category's share, for items with these labels (0..categories-1) in these
    clusters (0..k-1). labels may be 2-D (one row per permutation)."""
    labels = np.atleast_2d(labels)
    n = labels.shape[1]
    k = int(clusters.max()) + 1
    sizes = np.bincount(clusters, minlength=k)
    effects = np.empty((labels.shape[0], categories))
    for category in range(categories):
        hits = labels == category
        p = hits.mean(axis=1)
        per_cluster = np.stack([np.bincount(clusters, weights=row, minlength=k) for row in hits])
        variance = k / (k - 1) * ((per_cluster - p[:, None] * sizes) ** 2).sum(axis=1) / n**2
        effects[:, category] = variance / (p * (1 - p) / n)
    return effects


def measure(frame: pl.DataFrame, rng: np.random.Generator) -> list[dict[str, object]]:
    rows = []
    for dimension in ("origin", "calibre_family", "period"):
        for group in [*sorted(frame["documented_in"].unique()), "All"]:
            known = frame.filter(pl.col(dimension).is_not_null()
                                 & ((pl.col("documented_in") == group) | (group == "All")))
            values, labels = np.unique(known[dimension].to_numpy(), return_inverse=True)
            _, clusters = np.unique(known["cluster"].to_numpy(), return_inverse=True)
            shares = np.bincount(labels, minlength=values.size) / labels.size
            wide = (shares >= MIN_SHARE) & (shares <= 1 - MIN_SHARE)
            if not wide.any() or clusters.max() < 1:
                continue
            observed = design_effects(labels, clusters, values.size)[0]
            shuffled = np.stack([rng.permutation(labels) for _ in range(PERMUTATIONS)])
            chance = np.median(design_effects(shuffled, clusters, values.size)[:, wide], axis=1)
            rows.append({
                "dimension": dimension, "group": group, "weapons": int(labels.size),
                "sites": int(clusters.max()) + 1,
                "shares": {str(v): round(float(d), 3) for v, d, w in
                           zip(values, observed, wide, strict=True) if w},
                "median_deff": round(float(np.median(observed[wide])), 3),
                "chance_median_deff_95": [round(float(q), 3)
                                          for q in np.quantile(chance, [0.025, 0.975])],
            })
    return rows


def table(rows: list[dict[str, object]]) -> str:
    """Markdown: one line per dimension and group."""
    lines = ["| dimension | group | weapons | sites | median deff | chance alone (95%) |",
             "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        low, high = r["chance_median_deff_95"]  # type: ignore[misc]
        lines.append(f"| {r['dimension']} | {r['group']} | {r['weapons']:,} | {r['sites']:,} | "
                     f"{r['median_deff']:.2f} | {low:.2f} to {high:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.design_effect",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("databases", nargs="+", type=Path)
    parser.add_argument("--json", action="store_true", help="print every share's deff too")
    parser.add_argument("--docs", action="store_true",
                        help="write the (first) database's table into docs/figures.md: give "
                             "a build of the shipped sample")
    args = parser.parse_args(argv)
    for number, database in enumerate(args.databases):
        rows = measure(weapons(database), np.random.default_rng(SEED))
        print(f"{database}\n\n{table(rows)}\n")
        if args.json:
            print(json.dumps(rows, indent=1))
        if args.docs and number == 0:
            text = DOC.read_text(encoding="utf-8")
            before, rest = text.split(START, 1)
            DOC.write_text(f"{before}{START}\n{table(rows)}\n{END}{rest.split(END, 1)[1]}",
                           encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
