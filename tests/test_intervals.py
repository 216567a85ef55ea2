"""Intervals and sample sizes (docs/figures.md, "Intervals"), checked against computations that
share nothing with pipeline/intervals.py or the SQL: statsmodels' Wilson and Clopper-Pearson
intervals, scipy's beta distribution, and sums written out by hand. The edge cases of the docs
go through the real figures stage (SQL, then the intervals) on a copy of the sample's database
whose items are replaced by hand-made ones.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from benchmarks import coverage, design_effect
from pipeline.intervals import (
    LARGEST_BELOW_1,
    Z95,
    clopper_pearson,
    kish_effective_n,
    korn_graubard,
    linearised_effective_n,
    low_reliability,
    units_effective_n,
    wilson,
)
from pipeline.paths import REPO_ROOT
from pipeline.stages.figures import FigureSettings, compute_figures

COUNTS = [(0, 1), (1, 1), (0, 10), (1, 10), (5, 10), (10, 10), (81, 263), (3, 7), (0.5, 1.7),
          (2.5, 3.2), (0.01, 100.02), (999, 1000)]


@pytest.mark.parametrize(("k", "n"), COUNTS)
def test_wilson_and_clopper_pearson_match_statsmodels(k: float, n: float) -> None:
    """Fractional counts too: the beta-quantile form of Clopper-Pearson, which statsmodels
    computes with scipy.stats.beta."""
    assert wilson(k / n, n) == pytest.approx(
        proportion_confint(k, n, alpha=0.05, method="wilson"), rel=1e-12, abs=1e-15)
    assert clopper_pearson(k / n, n) == pytest.approx(
        proportion_confint(k, n, alpha=0.05, method="beta"), rel=1e-12, abs=1e-15)


def test_z_is_the_normal_quantile() -> None:
    assert stats.norm.ppf(0.975) == pytest.approx(Z95, abs=1e-15)
    assert Z95 == 1.959963984540054


def test_clopper_pearson_bounds_are_the_beta_quantiles() -> None:
    """The definition: P(Beta(x, n - x + 1) <= low) = 2.5%, P(Beta(x + 1, n - x) >= high) =
    2.5%, for a fractional x and n."""
    x, n = 2.7, 9.4
    low, high = clopper_pearson(x / n, n)
    assert stats.beta.cdf(low, x, n - x + 1) == pytest.approx(0.025, abs=1e-12)
    assert stats.beta.sf(high, x + 1, n - x) == pytest.approx(0.025, abs=1e-12)


def by_hand(records: list[tuple[int, bool]]) -> dict[str, float]:
    """n, Kish's and the linearised effective n, written out as loops over (units, in)."""
    n = len(records)
    total = sum(m for m, _ in records)
    inside = sum(m for m, hit in records if hit)
    p = inside / total
    kish = total**2 / sum(m * m for m, _ in records)
    if n > 1:
        variance = n / (n - 1) * sum((m * hit - p * m) ** 2 for m, hit in records) / total**2
    else:
        variance = 0.0
    linearised = min(n, p * (1 - p) / variance) if variance > 0 else n
    return {"n": n, "share": p, "kish": kish, "linearised": linearised,
            "effective_n": min(kish, linearised)}


def expected_units_interval(records: list[tuple[int, bool]]) -> tuple[float, float]:
    """Clopper-Pearson on the effective n, widened to Wilson on the records: statsmodels."""
    sizes = by_hand(records)
    p, effective, n = sizes["share"], sizes["effective_n"], sizes["n"]
    cp = proportion_confint(p * effective, effective, alpha=0.05, method="beta")
    floor = proportion_confint(p * n, n, alpha=0.05, method="wilson")
    return min(cp[0], floor[0]), max(cp[1], floor[1])


def pipeline_sizes(records: list[tuple[int, bool]]) -> tuple[float, float, float]:
    units = np.array([m for m, _ in records], dtype=np.float64)
    hits = np.array([hit for _, hit in records])
    args = ((units * hits).sum(), (units**2 * hits).sum(), units.sum(), (units**2).sum(),
            len(records))
    return (float(kish_effective_n(args[2], args[3])),
            float(linearised_effective_n(*args)), float(units_effective_n(*args)))


def random_records(rng: np.random.Generator) -> list[tuple[int, bool]]:
    n = int(rng.integers(1, 60))
    sizes = rng.choice([1, 2, 5, 10, 20, 100, 440, 1200], size=n)
    hits = rng.random(n) < rng.choice([0.0, 0.02, 0.3, 0.7, 1.0])
    return [(int(m), bool(h)) for m, h in zip(sizes, hits, strict=True)]


def test_effective_n_matches_the_sums_by_hand() -> None:
    rng = np.random.default_rng(23)
    for _ in range(200):
        records = random_records(rng)
        kish, linearised, effective = pipeline_sizes(records)
        expected = by_hand(records)
        assert (kish, linearised, effective) == pytest.approx(
            (expected["kish"], expected["linearised"], expected["effective_n"]), rel=1e-9)
        assert effective <= len(records) * (1 + 1e-12)


@pytest.mark.parametrize(("records", "kish"), [
    ([(100, True)] * 40, 40.0),  # all of one size: the number of records
    ([(1000, True), *[(10, False)] * 100], 2000**2 / (1000**2 + 100 * 10**2)),  # about 4
    ([(1, True)] * 3 + [(1, False)] * 7, 10.0),
])
def test_kish_effective_n_statements(records: list[tuple[int, bool]], kish: float) -> None:
    assert pipeline_sizes(records)[0] == pytest.approx(kish, rel=1e-12)


def test_one_unit_records_have_n_minus_one_linearised_records() -> None:
    """docs: for one-unit records the linearised effective n is n - 1 (its n / (n - 1))."""
    records = [(1, True)] * 3 + [(1, False)] * 7
    assert pipeline_sizes(records)[1:] == pytest.approx((9.0, 9.0), rel=1e-12)


def test_every_interval_meets_the_contract() -> None:
    """On 2,000 random samples of records: never narrower than Wilson on the records (with the
    same share), a positive lower bound for a positive share, an upper bound below 1 for a
    share below 1, the share inside, the same numbers on a second call."""
    rng = np.random.default_rng(7)
    samples = [random_records(rng) for _ in range(2000)]
    n = np.array([len(r) for r in samples], dtype=np.float64)
    sums = np.array([[sum(m for m, h in r if h), sum(m * m for m, h in r if h),
                      sum(m for m, _ in r), sum(m * m for m, _ in r)] for r in samples],
                    dtype=np.float64)
    p = sums[:, 0] / sums[:, 2]
    low, high = korn_graubard(p, units_effective_n(*sums.T, n), n)
    floor_low, floor_high = proportion_confint(p * n, n, method="wilson")
    assert np.all(high - low >= (floor_high - floor_low) - 1e-12)
    assert np.all((low <= p) & (p <= high))
    assert np.array_equal(low > 0, p > 0) and np.array_equal(high < 1, p < 1)
    assert {0.0, 1.0} <= set(p)  # the edges are among the samples
    again = korn_graubard(p, units_effective_n(*sums.T, n), n)
    assert np.array_equal(again[0], low) and np.array_equal(again[1], high)  # deterministic


@pytest.mark.parametrize("share", [1e-9, 1e-7, 1e-4, 1 - 1e-4, 1 - 1e-9, 1 - 1e-15])
def test_bounds_stay_inside_0_and_1_at_extreme_shares(share: float) -> None:
    """Where the exact bound is closer to 0 (1) than a double can hold, the nearest double
    inside is published: never 0 for a share above 0, never 1 for one below 1."""
    for method in (lambda p: wilson(p, 1e7), lambda p: korn_graubard(p, 50.0, 7000)):
        low, high = method(share)
        assert 0 < low <= share <= high <= LARGEST_BELOW_1


def test_intervals_change_continuously_as_a_share_reaches_0_or_1() -> None:
    """No method switch at 0 or 1: the bounds for a share of 1e-12 (1 - 1e-12) are within
    1e-9 of those at 0 (1), for Wilson and for Korn-Graubard; and as the one record in the
    category shrinks to nothing (100 records), the effective n and the interval tend to those
    of a share of 0."""
    for n, effective in ((10, 10.0), (101, 100.02), (7000, 87.0)):
        for edge, near in ((0.0, 1e-12), (1.0, 1 - 1e-12)):
            assert korn_graubard(near, effective, n) == pytest.approx(
                korn_graubard(edge, effective, n), abs=1e-9)
            assert wilson(near, n) == pytest.approx(wilson(edge, n), abs=1e-9)
    at_zero = units_effective_n(0.0, 0.0, 9900.0, 990000.0, 100)
    zero_interval = korn_graubard(0.0, at_zero, 100)
    for tiny in (1e-3, 1e-6, 1e-9):  # units of the one record in the category
        total = 9900 + tiny
        effective = units_effective_n(tiny, tiny**2, total, 990000 + tiny**2, 100)
        assert effective == pytest.approx(at_zero, rel=10 * tiny)
        assert korn_graubard(tiny / total, effective, 100) == pytest.approx(
            zero_interval, abs=10 * tiny)


@pytest.mark.parametrize(("effective_n", "low", "high", "flagged"), [
    (29.999, 0.1, 0.2, True), (30.0, 0.1, 0.2, False), (500.0, 0.1, 0.4000001, True),
    (500.0, 0.1, 0.3999999, False), (500.0, 0.0, 0.3, False)])
def test_low_reliability_thresholds(effective_n: float, low: float, high: float,
                                    flagged: bool) -> None:
    assert bool(low_reliability(effective_n, low, high)) is flagged


# --- the edge cases, through the figures stage -----------------------------------------------

# Each country is its own sample (docs/figures.md): (units, origin) per ammunition record.
EDGE_CASES: dict[str, list[tuple[int, str]]] = {
    "Jordan": [(12, "Russia")],  # one record
    "Lebanon": [(1000, "Russia"), (10, "China")],  # two records of 1,000 and 10 units
    "Libya": [(100, "Russia")] * 100,  # 100 records of 100 units, all Russian
    "Yemen": [(100, "Russia")] * 99 + [(99, "Russia"), (1, "China")],  # one unit moved
    "Syria": [(1, "Russia")] * 7 + [(1, "China")] * 3,  # ten one-unit records
    "Egypt": [(1, "Russia")] * 31 + [(1, "China")],  # effective n 31: not low reliability
    "Tunisia": [(1, "Russia")] * 29 + [(1, "China")],  # effective n 29: low reliability
}
# Weapons: items are independent draws; n = effective_n = items.
WEAPONS = {"Egypt": [("Russia", 29), ("China", 1)], "Tunisia": [("Russia", 28), ("China", 1)]}


@pytest.fixture(scope="module")
def edge_figures(sample_build: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
                 ) -> dict[str, dict[tuple[str, str], dict]]:
    """The by-origin figures of a copy of the sample's database whose items are EDGE_CASES
    and WEAPONS, each record at a site of its own; keyed by (country, origin)."""
    copy = tmp_path_factory.mktemp("edges") / "edges.duckdb"
    shutil.copyfile(sample_build[0], copy)
    rows = [(country, "ammunition", "cartridge", origin, units)
            for country, records in EDGE_CASES.items() for units, origin in records]
    rows += [(country, "weapons", "weapon", origin, 1)
             for country, weapons in WEAPONS.items() for origin, count in weapons
             for _ in range(count)]
    edge_items = pl.DataFrame(rows, schema=["documented_in", "item_kind", "category", "origin",
                                            "quantity"], orient="row").with_row_index("number")
    with duckdb.connect(str(copy)) as con:
        con.register("edge_items", edge_items)
        con.execute("DELETE FROM items")
        con.execute("""
            INSERT INTO items BY NAME
            SELECT 'E-' || number AS record_id, DATE '2016-01-01' AS documented_on,
                   documented_in, 'site ' || number AS site, 'site ' || number AS site_key,
                   category, item_kind, false AS anti_armour, 'unknown' AS calibre_family,
                   origin, quantity, number AS row_number
            FROM edge_items
        """)
        compute_figures(con, FigureSettings())
        return {figure: {(r["documented_in"], r["country"]): r
                         for r in con.sql(f"SELECT * FROM fig_{figure}").pl().to_dicts()}
                for figure in ("ammunition_by_origin", "weapons_by_origin")}


@pytest.mark.parametrize("country", EDGE_CASES)
def test_edge_cases_match_the_independent_computation(edge_figures, country: str) -> None:
    """Every share of each edge case: n, effective_n (sums by hand), the interval
    (statsmodels) and low_reliability (the contract's rule)."""
    records = EDGE_CASES[country]
    for origin in {o for _, o in records}:
        marked = [(units, o == origin) for units, o in records]
        expected = by_hand(marked)
        low, high = expected_units_interval(marked)
        row = edge_figures["ammunition_by_origin"][(country, origin)]
        assert row["n"] == len(records)
        assert row["effective_n"] == pytest.approx(expected["effective_n"], rel=1e-9)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), rel=1e-9,
                                                               abs=1e-15)
        assert row["low_reliability"] is (expected["effective_n"] < 30 or high - low > 0.3)


def test_edge_cases_as_docs_state_them(edge_figures) -> None:
    """The numbers docs/figures.md quotes, worked out by hand there."""
    units = edge_figures["ammunition_by_origin"]
    one = units[("Jordan", "Russia")]  # Clopper-Pearson on 1: (0.025)^(1/1)
    assert (one["ci_low"], one["ci_high"], one["effective_n"]) == pytest.approx((0.025, 1, 1))
    two = units[("Lebanon", "China")]
    assert two["effective_n"] == pytest.approx(1010**2 / (1000**2 + 10**2))
    assert 0 < two["ci_low"] < 1e-100 and two["ci_high"] == pytest.approx(0.9743, abs=1e-4)
    assert units[("Lebanon", "Russia")]["ci_high"] == LARGEST_BELOW_1
    assert units[("Lebanon", "Russia")]["ci_low"] == pytest.approx(0.0257, abs=1e-4)
    all_russian = units[("Libya", "Russia")]  # Wilson on 100: 100 / (100 + z^2)
    assert all_russian["ci_low"] == pytest.approx(100 / (100 + Z95**2), abs=1e-12)
    assert all_russian["ci_high"] == 1.0
    moved, china = units[("Yemen", "Russia")], units[("Yemen", "China")]
    assert moved["ci_low"] == pytest.approx(0.9632, abs=1e-4)  # no jump: 0.0002 from above
    assert moved["ci_low"] - all_russian["ci_low"] == pytest.approx(0.0002, abs=1e-4)
    assert 0 < china["ci_low"] < 1e-100 and china["ci_high"] == pytest.approx(0.0368, abs=1e-4)
    assert moved["ci_high"] < 1
    ten = units[("Syria", "China")]  # one-unit records: Clopper-Pearson on n - 1 = 9
    assert ten["effective_n"] == pytest.approx(9.0)
    assert (ten["ci_low"], ten["ci_high"]) == pytest.approx(
        proportion_confint(2.7, 9, method="beta"), rel=1e-9)
    assert (ten["ci_low"], ten["ci_high"]) == pytest.approx((0.0590, 0.6720), abs=1e-4)
    assert [units[(c, "China")]["low_reliability"] for c in ("Egypt", "Tunisia")] == [
        False, True]


def test_weapons_are_wilson_on_their_items(edge_figures) -> None:
    for country, weapons in WEAPONS.items():
        n = sum(count for _, count in weapons)
        for origin, count in weapons:
            row = edge_figures["weapons_by_origin"][(country, origin)]
            assert (row["ci_low"], row["ci_high"]) == pytest.approx(
                proportion_confint(count, n, method="wilson"), rel=1e-12, abs=1e-15)
            assert (row["n"], row["effective_n"]) == (n, n)
            assert row["low_reliability"] is (n < 30 or row["ci_high"] - row["ci_low"] > 0.3)
    assert [edge_figures["weapons_by_origin"][(c, "China")]["low_reliability"]
            for c in ("Egypt", "Tunisia")] == [False, True]


# --- the coverage benchmark and the design effect, as docs/figures.md states them -----------

def between(text: str, start: str, end: str) -> str:
    return text.split(start, 1)[1].split(end, 1)[0].strip()


@pytest.fixture(scope="module")
def results() -> dict:
    return json.loads(coverage.RESULTS.read_text())


def cells(results: dict, scenario: str) -> list[dict]:
    return [c for c in results["cells"] if c["scenario"] == scenario]


def test_docs_hold_the_committed_coverage_tables(results: dict) -> None:
    docs = (REPO_ROOT / "docs" / "figures.md").read_text()
    assert between(docs, coverage.START, coverage.END) == coverage.document(results)


def test_the_shipped_method_is_the_one_the_benchmark_chose(results: dict) -> None:
    """Among the candidates that cover at least as well as `current` in every independent cell
    and at least 90% in the target cells, the highest lowest target-cell coverage over all
    three scenarios; and the benchmark measures the shipped code."""
    def worst_target(name: str) -> float:
        return min(c["methods"][name]["coverage"] for c in results["cells"]
                   if name in c["methods"] and c["share"] >= 0.05 and c["records"] >= 200)
    passing = [name for name in results["methods"]
               if not any(coverage.acceptance(results, name).values())]
    assert max(passing, key=worst_target) == coverage.CHOSEN == "kg_both"
    sample = coverage.Sample(np.array([[1000.0, 10.0, 5.0]]), np.array([[False, True, True]]))
    expected = korn_graubard(15 / 1015, units_effective_n(15, 125, 1015, 1000125, 3), 3)
    assert coverage.METHODS[coverage.CHOSEN][1](sample) == pytest.approx(expected)


def test_coverage_statements_in_the_docs(results: dict) -> None:
    """Each sentence of docs/figures.md's "Coverage" about where methods stand."""
    def cover(scenario: str, name: str, **where: float) -> list[float]:
        return [c["methods"][name]["coverage"] for c in cells(results, scenario)
                if all(c[k] == v for k, v in where.items())]
    assert min(cover("independent", "kg_both")) >= 0.95
    target = [c for c in results["cells"] if c["share"] >= 0.05 and c["records"] >= 200]
    assert min(c["methods"]["kg_kish"]["coverage"] for c in target
               if c["scenario"] == "large_crates") < 0.90
    small = cells(results, "small_crates")
    best = {(c["share"], c["records"]): max(v["coverage"] for v in c["methods"].values())
            for c in small}
    assert all(best[(0.5, n)] < 0.90 for n in coverage.RECORDS if n < 466)
    assert best[(0.5, 466)] >= 0.90
    assert best[(0.5, 20)] < 0.72 and best[(0.5, 40)] < 0.72
    assert 0.82 <= min(best[(0.2, 20)], best[(0.2, 40)]) <= max(best[(0.2, 20)],
                                                                  best[(0.2, 40)]) <= 0.87
    worse = [c for c in results["cells"] if c["methods"]["kg_both"]["coverage"]
             < c["methods"]["current"]["coverage"]]
    assert worse and all(c["scenario"] == "large_crates" and c["share"] <= 0.02
                         and c["records"] <= 100 and c["methods"]["kg_both"]["coverage"] > 0.98
                         for c in worse)


def test_coverage_benchmark_runs_and_is_deterministic() -> None:
    sizes = coverage.sample_sizes()
    assert (sizes.size, sizes.sum()) == (733, 40984)  # the shipped sample's ammunition records
    small = {"shares": (0.05,), "records": (20,), "runs": 300, "bootstrap_runs": 50}
    first, second = coverage.run(sizes, **small), coverage.run(sizes, **small)
    assert first == second
    assert {c["scenario"] for c in first["cells"]} == set(coverage.SCENARIOS)
    assert set(first["cells"][0]["methods"]) == set(coverage.ORDER)


def test_design_effect_of_sites_is_as_docs_state(sample_build: tuple[Path, Path]) -> None:
    rows = design_effect.measure(design_effect.weapons(sample_build[0]),
                                 np.random.default_rng(design_effect.SEED))
    docs = (REPO_ROOT / "docs" / "figures.md").read_text()
    assert between(docs, design_effect.START, design_effect.END) == design_effect.table(rows)
    assert {r["dimension"] for r in rows} == {"origin", "period"}  # no family share in range
    for r in rows:
        assert r["median_deff"] <= design_effect.MATERIAL
        assert r["median_deff"] <= r["chance_median_deff_95"][1]
