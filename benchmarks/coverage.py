"""Coverage of 95% intervals for a share of ammunition units, by simulation:
`python -m benchmarks.coverage` (or `make coverage`).

Records are clusters: each is wholly in the category or not, with a number of units drawn from
the ammunition records of the shipped sample (the curated items `armtrace sample` plans for
the default seed). For every true share and record count of the grid, RUNS samples of that
many records are drawn; each candidate interval is computed on each sample, and its coverage
is the fraction of samples whose interval holds the true share. Three ways records may come:

- `independent`: a record's size says nothing about its category (the acceptance scenario);
- `large_crates`: the category comes in larger records (sizes drawn in proportion to size);
- `small_crates`: the category comes in smaller records (in proportion to 1 / size).

In each, the probability that a record is in the category is set so that the true share of
units is the grid's share. Everything is seeded: the same code gives the same numbers. Writes
benchmarks/coverage.json and the tables in docs/figures.md between their markers. `--sites
DATABASE` instead measures the design effect of documentation sites on the weapons shares of
a curated database (docs/figures.md, "Items").
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.special import logit as logit_of

from pipeline.intervals import (
    Z95,
    clopper_pearson,
    kish_effective_n,
    korn_graubard,
    linearised_effective_n,
    units_effective_n,
    wilson,
)

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "coverage.json"
DOC = REPO / "docs" / "figures.md"
START, END = "<!-- coverage:start -->", "<!-- coverage:end -->"
SEED = 23
SHARES = (0.005, 0.01, 0.02, 0.05, 0.10, 0.20, 0.50)
RECORDS = (20, 40, 100, 235, 466, 1000, 2000)
RUNS = 20_000
BOOTSTRAP_RUNS = 2_000  # the bootstrap costs RUNS x REPLICATES sums; fewer runs for it
BOOTSTRAP_REPLICATES = 500
CHUNK = 2_000  # runs per batch: bounds memory at CHUNK x 2,000 records
SCENARIOS = ("independent", "large_crates", "small_crates")
CHOSEN = "kg_both"
CURRENT = "current"
TARGET = 0.90  # where share >= TARGET_SHARE and records >= TARGET_RECORDS
TARGET_SHARE, TARGET_RECORDS = 0.05, 200

Array = NDArray[np.float64]


class Sample:
    """Runs x records: units per record and whether the record is in the category, with the
    sums every method works from."""

    def __init__(self, units: Array, inside: NDArray[np.bool_]) -> None:
        self.units, self.inside = units, inside
        self.records = units.shape[1]
        self.total = units.sum(axis=1)
        self.share = (units * inside).sum(axis=1) / self.total
        squares = units * units
        self.squares = squares.sum(axis=1)
        self.squares_inside = (squares * inside).sum(axis=1)
        p = self.share
        # The linearised (Taylor) variance of the ratio sum(y) / sum(m), records as clusters.
        self.variance = (self.records / (self.records - 1)
                         * ((1 - p) ** 2 * self.squares_inside
                            + p**2 * (self.squares - self.squares_inside))
                         / self.total**2)

    def linearised_n(self) -> Array:
        return linearised_effective_n(self.share * self.total, self.squares_inside, self.total,
                                      self.squares, self.records)

    def kish_n(self) -> Array:
        return kish_effective_n(self.total, self.squares)

    def shipped_n(self) -> Array:
        return units_effective_n(self.share * self.total, self.squares_inside, self.total,
                                 self.squares, self.records)


def current(s: Sample) -> tuple[Array, Array]:
    """The method before this benchmark: p +/- z se clipped, Wilson over records at 0 and 1."""
    half = Z95 * np.sqrt(s.variance)
    edge = (s.share == 0) | (s.share == 1)
    records_low, records_high = wilson(np.where(s.share == 1, 1.0, 0.0), s.records)
    return (np.where(edge, records_low, np.clip(s.share - half, 0, 1)),
            np.where(edge, records_high, np.clip(s.share + half, 0, 1)))


def logit(s: Sample) -> tuple[Array, Array]:
    """logit(p) +/- z se / (p (1 - p)), back-transformed; Wilson over records at 0 and 1."""
    edge = (s.share == 0) | (s.share == 1)
    p = np.where(edge, 0.5, s.share)
    half = Z95 * np.sqrt(s.variance) / (p * (1 - p))
    centre = logit_of(p)
    records_low, records_high = wilson(np.where(s.share == 1, 1.0, 0.0), s.records)
    return (np.where(edge, records_low, 1 / (1 + np.exp(-(centre - half)))),
            np.where(edge, records_high, 1 / (1 + np.exp(-(centre + half)))))


def bootstrap(s: Sample, rng: np.random.Generator) -> tuple[Array, Array]:
    """Percentile interval of the ratio over records resampled with replacement. One matrix of
    resampling counts serves every run of a batch (each run's bootstrap is still a valid one)."""
    picks = rng.integers(0, s.records, size=(BOOTSTRAP_REPLICATES, s.records))
    counts = np.zeros((BOOTSTRAP_REPLICATES, s.records))
    np.add.at(counts, (np.arange(BOOTSTRAP_REPLICATES)[:, None], picks), 1.0)
    shares = (s.units * s.inside) @ counts.T / (s.units @ counts.T)
    low, high = np.quantile(shares, [0.025, 0.975], axis=1)
    return low, high


METHODS: dict[str, tuple[str, Callable[[Sample], tuple[Array, Array]]]] = {
    "current": ("p +/- z se (linearised), clipped; Wilson over records at 0 and 1", current),
    "logit": ("logit interval on the linearised variance; Wilson over records at 0 and 1",
              logit),
    "wilson_lin": ("Wilson on the linearised effective n (capped at the records)",
                   lambda s: wilson(s.share, s.linearised_n())),
    "kg_lin": ("Korn-Graubard on the linearised effective n (capped at the records)",
               lambda s: clopper_pearson(s.share, s.linearised_n())),
    "wilson_kish": ("Wilson on Kish's effective n", lambda s: wilson(s.share, s.kish_n())),
    "kg_kish": ("Korn-Graubard on Kish's effective n",
                lambda s: clopper_pearson(s.share, s.kish_n())),
    "kg_both": ("Korn-Graubard on the smaller of the two, never narrower than Wilson on the "
                "records (shipped: pipeline/intervals.py)",
                lambda s: korn_graubard(s.share, s.shipped_n(), s.records)),
}
BOOTSTRAP = "bootstrap"
ORDER = (*METHODS, BOOTSTRAP)  # of the tables' columns and rows
BOOTSTRAP_LABEL = (f"cluster bootstrap, percentile ({BOOTSTRAP_REPLICATES} replicates; "
                   f"{BOOTSTRAP_RUNS:,} runs per cell)")


def sample_sizes(database: Path | None = None) -> Array:
    """Units of each ammunition record: of the curated database given, else of the shipped
    sample (the records the sample's plan makes, which are its curated items)."""
    if database is not None:
        import duckdb

        with duckdb.connect(str(database), read_only=True) as con:
            rows = con.sql("SELECT quantity FROM items WHERE item_kind = 'ammunition' "
                           "ORDER BY row_number").fetchall()
        return np.array([q for (q,) in rows], dtype=np.float64)
    from pipeline.paths import Paths
    from pipeline.reference import Reference
    from pipeline.sample.archive import plan_records
    from pipeline.sample.plan import DEFAULT_SEED

    categories = Reference.load(Paths.resolve().reference_dir).tables["categories"]
    kind_of = dict(categories.select("category", "item_kind").rows())
    return np.array([r.quantity for r in plan_records(DEFAULT_SEED)
                     if kind_of.get(r.category) == "ammunition"], dtype=np.float64)


def size_laws(sizes: Array, scenario: str) -> tuple[Array, Array]:
    """Probabilities of each observed size for records in the category and out of it."""
    plain = np.full(sizes.size, 1 / sizes.size)
    tilt = {"independent": np.ones_like(sizes), "large_crates": sizes,
            "small_crates": 1 / sizes}[scenario]
    return tilt / tilt.sum(), plain


def record_probability(true_share: float, mean_inside: float, mean_outside: float) -> float:
    """P(record in category) that makes the expected share of units `true_share`."""
    return true_share * mean_outside / (true_share * mean_outside
                                        + (1 - true_share) * mean_inside)


def draw(rng: np.random.Generator, sizes: Array, laws: tuple[Array, Array], share: float,
         records: int, runs: int) -> Sample:
    inside_law, outside_law = laws
    pi = record_probability(share, float(sizes @ inside_law), float(sizes @ outside_law))
    inside = rng.random((runs, records)) < pi
    units = np.where(inside, rng.choice(sizes, size=(runs, records), p=inside_law),
                     rng.choice(sizes, size=(runs, records), p=outside_law))
    return Sample(units, inside)


def cell(sizes: Array, scenario: str, share: float, records: int, runs: int,
         bootstrap_runs: int, seed: int) -> dict[str, dict[str, float]]:
    """Coverage and median width of every method in one grid cell."""
    rng = np.random.default_rng([seed, SCENARIOS.index(scenario), SHARES.index(share)
                                 if share in SHARES else 99, records])
    laws = size_laws(sizes, scenario)
    hits: dict[str, list[NDArray[np.bool_]]] = {name: [] for name in METHODS}
    widths: dict[str, list[Array]] = {name: [] for name in METHODS}
    for start in range(0, runs, CHUNK):
        s = draw(rng, sizes, laws, share, records, min(CHUNK, runs - start))
        for name, (_, method) in METHODS.items():
            low, high = method(s)
            hits[name].append((low <= share) & (share <= high))
            widths[name].append(high - low)
    if bootstrap_runs:
        hits[BOOTSTRAP], widths[BOOTSTRAP] = [], []
        for start in range(0, bootstrap_runs, CHUNK // 4):
            s = draw(rng, sizes, laws, share, records, min(CHUNK // 4, bootstrap_runs - start))
            low, high = bootstrap(s, rng)
            hits[BOOTSTRAP].append((low <= share) & (share <= high))
            widths[BOOTSTRAP].append(high - low)
    return {name: {"coverage": float(np.concatenate(hits[name]).mean()),
                   "median_width": float(np.median(np.concatenate(widths[name])))}
            for name in hits}


def run(sizes: Array, shares: tuple[float, ...] = SHARES, records: tuple[int, ...] = RECORDS,
        scenarios: tuple[str, ...] = SCENARIOS, runs: int = RUNS,
        bootstrap_runs: int = BOOTSTRAP_RUNS, seed: int = SEED) -> dict[str, object]:
    """The whole grid; the bootstrap only in the first scenario (it is the slow one)."""
    cells = []
    for scenario in scenarios:
        print(f"coverage: {scenario}", file=sys.stderr, flush=True)
        for share in shares:
            for n in records:
                result = cell(sizes, scenario, share, n, runs,
                              bootstrap_runs if scenario == scenarios[0] else 0, seed)
                cells.append({"scenario": scenario, "share": share, "records": n,
                              "methods": result})
    return {"seed": seed, "runs": runs, "bootstrap_runs": bootstrap_runs,
            "bootstrap_replicates": BOOTSTRAP_REPLICATES,
            "sizes": {"records": int(sizes.size), "units": int(sizes.sum()),
                      "kish_effective_n": float(kish_effective_n(sizes.sum(),
                                                                 (sizes**2).sum())),
                      "median": float(np.median(sizes)), "max": float(sizes.max())},
            "methods": {**{name: label for name, (label, _) in METHODS.items()},
                        BOOTSTRAP: BOOTSTRAP_LABEL},
            "cells": cells}


def acceptance(results: dict[str, object], method: str = CHOSEN) -> dict[str, list[dict]]:
    """Cells of the `independent` scenario where `method` covers less than the current method,
    or less than TARGET where the share and the record count are at least the target's."""
    worse, short = [], []
    for c in results["cells"]:  # type: ignore[attr-defined]
        if c["scenario"] != SCENARIOS[0]:
            continue
        coverage = c["methods"][method]["coverage"]
        if coverage < c["methods"][CURRENT]["coverage"]:
            worse.append(c)
        if c["share"] >= TARGET_SHARE and c["records"] >= TARGET_RECORDS and coverage < TARGET:
            short.append(c)
    return {"worse_than_current": worse, "short_of_target": short}


def _error(runs: int) -> str:
    return f"{100 * (0.95 * 0.05 / runs) ** 0.5:.1f}" if runs else "-"


def _percent(value: float) -> str:
    return f"{100 * value:.1f}"


def coverage_table(results: dict[str, object], scenario: str, measure: str = "coverage"
                   ) -> str:
    """Markdown: one row per (share, records), one column per method."""
    cells = [c for c in results["cells"] if c["scenario"] == scenario]  # type: ignore[attr-defined]
    names = [name for name in ORDER if name in cells[0]["methods"]]
    lines = ["| share | records | " + " | ".join(f"`{n}`" for n in names) + " |",
             "|---:|---:|" + "---:|" * len(names)]
    for c in cells:
        values = [c["methods"][n][measure] for n in names]
        text = [_percent(v) if measure == "coverage" else f"{v:.3f}" for v in values]
        lines.append(f"| {_percent(c['share'])}% | {c['records']:,} | " + " | ".join(text) + " |")
    return "\n".join(lines)


def summary(results: dict[str, object]) -> str:
    """Per method and scenario: the lowest coverage in the grid, and in the target's cells."""
    names = [name for name in ORDER if name in results["methods"]]  # type: ignore[operator]
    lines = ["| method | what it is | " + " | ".join(
                 f"{s}: lowest (target cells)" for s in SCENARIOS) + " |",
             "|---|---|" + "---:|" * len(SCENARIOS)]
    for name in names:
        row = []
        for scenario in SCENARIOS:
            cells = [c for c in results["cells"]  # type: ignore[attr-defined]
                     if c["scenario"] == scenario and name in c["methods"]]
            if not cells:
                row.append("not run")
                continue
            lowest = min(c["methods"][name]["coverage"] for c in cells)
            target = [c["methods"][name]["coverage"] for c in cells
                      if c["share"] >= TARGET_SHARE and c["records"] >= TARGET_RECORDS]
            row.append(f"{_percent(lowest)} ({_percent(min(target))})" if target
                       else _percent(lowest))
        label = results["methods"][name]  # type: ignore[index]
        lines.append(f"| `{name}` | {label} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def document(results: dict[str, object]) -> str:
    """The block docs/figures.md holds between its markers."""
    sizes = results["sizes"]  # type: ignore[index]
    verdict = acceptance(results)
    parts = [
        f"Generated by `python -m benchmarks.coverage` (seed {results['seed']}, "
        f"{results['runs']:,} runs per cell; raw numbers in `benchmarks/coverage.json`). "
        f"Record sizes: the {sizes['records']:,} ammunition records of the shipped sample "
        f"({sizes['units']:,} units; median {sizes['median']:g}, largest {sizes['max']:g}; "
        f"Kish's effective size {sizes['kish_effective_n']:.1f}). Coverage in percent; a "
        f"cell's Monte Carlo standard error is {_error(results['runs'])} points at 95% "
        f"coverage ({_error(results['bootstrap_runs'])} for the bootstrap).",
        "",
        f"Lowest coverage of each method over the grid (and over the cells with a share of "
        f"{_percent(TARGET_SHARE)}% or more and {TARGET_RECORDS} records or more):",
        "",
        summary(results),
        "",
        f"The shipped method, `{CHOSEN}`: "
        + ("covers at least as well as `current` in every cell of the `independent` scenario"
           if not verdict["worse_than_current"] else
           f"covers less than `current` in {len(verdict['worse_than_current'])} cells")
        + (", and at least 90% in every target cell."
           if not verdict["short_of_target"] else
           f", and falls short of 90% in {len(verdict['short_of_target'])} target cells."),
    ]
    for scenario in SCENARIOS:
        parts += ["", f"Coverage (%), `{scenario}`:", "", coverage_table(results, scenario)]
    parts += ["", "Median interval width, `independent`:", "",
              coverage_table(results, SCENARIOS[0], "median_width")]
    return "\n".join(parts)


def write_document(results: dict[str, object], doc: Path = DOC) -> None:
    text = doc.read_text(encoding="utf-8")
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    doc.write_text(f"{before}{START}\n{document(results)}\n{END}{after}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.coverage",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--bootstrap-runs", type=int, default=BOOTSTRAP_RUNS)
    parser.add_argument("--database", type=Path,
                        help="take record sizes from this curated database instead")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--no-docs", action="store_true",
                        help="do not rewrite the tables in docs/figures.md")
    parser.add_argument("--docs-only", action="store_true",
                        help="rewrite the tables in docs/figures.md from --out, run nothing")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.docs_only:
        results = json.loads(args.out.read_text())
    else:
        results = run(sample_sizes(args.database), runs=args.runs,
                      bootstrap_runs=args.bootstrap_runs)
        args.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    if not args.no_docs:
        write_document(results)
    print(document(results))
    print(f"\n{time.perf_counter() - started:.0f} s", file=sys.stderr)
    verdict = acceptance(results)
    return 0 if not verdict["worse_than_current"] and not verdict["short_of_target"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
