"""The figures as the contract defines them, computed again by hand in plain Python from the
curated items of a raw folder the calibration never saw (another seed), must equal the SQL's.

The hand computation shares nothing with pipeline/figures/*.sql: it reads `items` and the EU
membership CSV and follows docs/figures.md line by line.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from statsmodels.stats.proportion import proportion_confint

from pipeline.cli import main
from pipeline.paths import REPO_ROOT
from tests.conftest import TODAY

Z = 1.959963984540054
UNSEEN_SEED = 11


def wilson(k: int, n: int) -> tuple[float, float]:
    if k == 0:
        return 0.0, (Z**2 / n) / (1 + Z**2 / n) if n else 0.0  # closed form at k = 0
    p = k / n
    centre = p + Z**2 / (2 * n)
    spread = Z * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n * n))
    low, high = (centre - spread) / (1 + Z**2 / n), (centre + spread) / (1 + Z**2 / n)
    return max(0.0, low), (1.0 if k == n else min(1.0, high))


def test_wilson_matches_textbook_values() -> None:
    assert wilson(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)


def cluster_interval(records: list[tuple[int, bool]]) -> tuple[float, float, float]:
    """records: (units, in category). The effective number of records is the smaller of
    Kish's, (sum m)^2 / sum m^2, and p(1 - p) over the linearised variance of the ratio
    (capped at the records; the records where that variance is 0); the interval is
    Clopper-Pearson on it (statsmodels), widened to Wilson on the records where narrower.
    Returns (effective n, low, high)."""
    n = len(records)
    total = sum(m for m, _ in records)
    inside = sum(m for m, hit in records if hit)
    p = inside / total
    kish = total**2 / sum(m * m for m, _ in records)
    variance = (n / (n - 1) * sum((m * hit - p * m) ** 2 for m, hit in records) / total**2
                if n > 1 else 0.0)
    effective = min(kish, min(n, p * (1 - p) / variance) if variance > 0 else n)
    cp = proportion_confint(p * effective, effective, alpha=0.05, method="beta")
    floor = proportion_confint(p * n, n, alpha=0.05, method="wilson")
    return effective, min(cp[0], floor[0]), max(cp[1], floor[1])


Row = dict[str, Any]
MEASURES = ("count", "share", "ci_low", "ci_high", "n", "effective_n", "low_reliability")
# anti_armour_recent's columns of one share, after its prefix
SHARE_COLUMNS = ("share", "share_ci_low", "share_ci_high", "share_n", "share_effective_n",
                 "share_low_reliability")


def same(got: tuple, expected: tuple) -> bool:
    """Equal counts, and shares equal up to floating-point rounding (None only with None)."""
    return len(got) == len(expected) and all(
        (a is None and b is None) or (a is not None and b is not None
                                      and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12))
        for a, b in zip(got, expected, strict=True))


def shares(items: list[Row], value: Callable[[Row], Any], ammunition: bool,
           domain: tuple[Any, ...] = ()) -> dict[Any, tuple]:
    """value -> (count, share, ci_low, ci_high, n, effective_n, low_reliability); None values
    are unknown; values of `domain` are listed even when no item has them."""
    amount = (lambda r: r["quantity"]) if ammunition else (lambda r: 1)
    known = [r for r in items if value(r) is not None]
    total = sum(amount(r) for r in known)
    out = {}
    for v in sorted({value(r) for r in items if value(r) is not None} | set(domain)):
        count = sum(amount(r) for r in known if value(r) == v)
        if ammunition:
            effective, low, high = cluster_interval([(r["quantity"], value(r) == v)
                                                     for r in known])
        else:
            effective = len(known)
            low, high = wilson(count, total)
        flagged = effective < 30 or high - low > 0.30
        out[v] = (count, count / total, low, high, len(known), effective, flagged)
    unknown = sum(amount(r) for r in items if value(r) is None)
    if unknown:
        out[None] = (unknown, None, None, None, None, None, None)
    return out


@pytest.fixture(scope="module")
def unseen(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Row], dict[str, list[Row]]]:
    root = tmp_path_factory.mktemp("unseen")
    assert main(["sample", "--out", str(root / "raw"), "--seed", str(UNSEEN_SEED)]) == 0
    assert main(["build", "--raw", str(root / "raw"), "--curated", str(root / "c"),
                 "--reports", str(root / "r"), "--today", TODAY]) == 0
    with duckdb.connect(str(root / "c" / "armtrace.duckdb"), read_only=True) as con:
        items = con.sql("SELECT * FROM items").pl().to_dicts()
    figures = json.loads((root / "r" / "statistics.json").read_text())["figures"]
    return items, figures


def groups(items: list[Row]) -> dict[str, list[Row]]:
    by_group: dict[str, list[Row]] = defaultdict(list)
    for item in items:
        by_group[item["documented_in"]].append(item)
    return {**by_group, "All": items}


def eu_members(as_of: dt.date) -> set[str]:
    table = pl.read_csv(REPO_ROOT / "data" / "reference" / "eu_membership.csv",
                        try_parse_dates=True)
    return {code for code, joined, left in table.rows()
            if joined <= as_of and (left is None or left > as_of)}


def check(figure_rows: list[Row], expected: dict[tuple, tuple], key: tuple[str, ...],
          measures: tuple[str, ...]) -> None:
    got = {tuple(r[k] for k in key): tuple(r[m] for m in measures) for r in figure_rows}
    expected = {k: v for k, v in expected.items()}
    assert got.keys() == expected.keys()
    for k, values in expected.items():
        assert same(got[k], values), (k, got[k], values)


def test_documentation_summary_by_hand(unseen) -> None:
    items, figures = unseen
    expected = {}
    for group, rows in groups(items).items():
        expected[(group,)] = (
            sum(r["item_kind"] == "weapons" for r in rows),
            sum(r["quantity"] for r in rows if r["item_kind"] == "ammunition"),
            sum(r["item_kind"] == "ied_materiel" for r in rows),  # rows, whatever quantity
            len(rows), len({r["site"].strip().casefold() for r in rows}),
            len({r["documented_on"] for r in rows}))
    check(figures["documentation_summary"], expected, ("documented_in",),
          ("weapons", "ammunition_units", "ied_items", "records", "sites", "days"))


@pytest.mark.parametrize(("figure", "kind", "count"), [
    ("weapons_by_origin", "weapons", "weapons"), ("ammunition_by_origin", "ammunition", "units")])
def test_origin_shares_by_hand(unseen, figure: str, kind: str, count: str) -> None:
    items, figures = unseen
    expected = {}
    for group, rows in groups([i for i in items if i["item_kind"] == kind]).items():
        for value, numbers in shares(rows, lambda r: r["origin"], kind == "ammunition").items():
            if value is not None:
                expected[(group, value)] = numbers
        # no state of manufacture: unknown, or a non-state producer's own row; no share
        for row in rows:
            if row["origin"] is None:
                so_far = expected.get((group, origin_value(row)), (0,))[0]
                amount = row["quantity"] if kind == "ammunition" else 1
                expected[(group, origin_value(row))] = (so_far + amount, *[None] * 6)
    check(figures[figure], expected, ("documented_in", "country"),
          (count, "share", "ci_low", "ci_high", "n", "effective_n", "low_reliability"))


def test_calibre_family_by_hand(unseen) -> None:
    items, figures = unseen
    expected: dict[tuple, tuple] = {}
    for kind in ("weapons", "ammunition"):
        for group, rows in groups([i for i in items if i["item_kind"] == kind]).items():
            family = shares(rows, lambda r: None if r["calibre_family"] == "unknown"
                            else r["calibre_family"], kind == "ammunition")
            for value, numbers in family.items():
                expected[(kind, group, value or "unknown")] = numbers
            expected.setdefault((kind, group, "unknown"), (0, *[None] * 6))
    got = {(r["item_kind"], r["documented_in"], r["family"]): r for r in figures["calibre_family"]}
    for key, numbers in expected.items():
        assert same(tuple(got[key][c] for c in MEASURES), numbers), key
    assert all(r["count"] == 0 for k, r in got.items() if k not in expected)


def test_manufacture_period_and_year_by_hand(unseen) -> None:
    items, figures = unseen
    def period(r: Row) -> str | None:
        year = r["year_of_manufacture"]
        if year is None:
            return None
        return ("before 1960" if year < 1960 else "1960-1989" if year < 1990 else
                "1990-2009" if year < 2010 else "2010-2013" if year < 2014 else "2014 and later")
    got = {(r["item_kind"], r["documented_in"], r["period"]): r
           for r in figures["manufacture_period"]}
    years = {(r["item_kind"], r["documented_in"], r["year"]): r["count"]
             for r in figures["manufacture_year"]}
    expected_years: dict[tuple, int] = defaultdict(int)
    for kind in ("weapons", "ammunition"):
        for group, rows in groups([i for i in items if i["item_kind"] == kind]).items():
            for value, numbers in shares(rows, period, kind == "ammunition").items():
                r = got[(kind, group, value or "unknown")]
                assert same(tuple(r[c] for c in MEASURES), numbers), (kind, group, value)
            for item in rows:
                if item["year_of_manufacture"] is not None:
                    expected_years[(kind, group, item["year_of_manufacture"])] += (
                        item["quantity"] if kind == "ammunition" else 1)
    assert years == dict(expected_years)


def test_eu_share_by_hand(unseen) -> None:
    items, figures = unseen
    as_of = max(i["documented_on"] for i in items)
    members = eu_members(as_of)
    expected = {}
    for kind in ("weapons", "ammunition"):
        for group, rows in groups([i for i in items if i["item_kind"] == kind]).items():
            eu = shares(rows, lambda r: None if r["origin_code"] is None
                        else r["origin_code"] in members, kind == "ammunition", (True, False))
            count, *rest = eu[True]
            known = sum(v[0] for k, v in eu.items() if k is not None)
            expected[(kind, group)] = (count, known, *rest)
    check(figures["eu_share"], expected, ("item_kind", "documented_in"),
          ("eu_count", "known_origin_count", *MEASURES[1:]))


def test_anti_armour_recent_by_hand(unseen) -> None:
    items, figures = unseen
    members = eu_members(max(i["documented_on"] for i in items))
    got = {r["documented_in"]: r for r in figures["anti_armour_recent"]}
    ammunition = [i for i in items if i["item_kind"] == "ammunition"]
    for group, rows in groups(ammunition).items():
        anti = [r for r in rows if r["anti_armour"]]
        dated = [r for r in anti if r["year_of_manufacture"] is not None]
        recent = [r for r in dated if r["year_of_manufacture"] >= 2014]
        since_2010 = [r for r in dated if r["year_of_manufacture"] >= 2010]
        row = got[group]
        assert row["anti_armour_units"] == sum(r["quantity"] for r in anti)
        assert row["recent_units"] == sum(r["quantity"] for r in recent)
        assert row["since_2010_units"] == sum(r["quantity"] for r in since_2010)
        if dated:
            recent_share = shares(dated, lambda r: r["year_of_manufacture"] >= 2014, True,
                                  (True, False))[True]
            assert same((row["recent_units"], *(row[f"recent_{c}"] for c in SHARE_COLUMNS)),
                        recent_share)
        for prefix, pool in (("recent_eu_", recent), ("since_2010_eu_", since_2010)):
            eu_units = sum(r["quantity"] for r in pool if r["origin_code"] in members)
            assert row[f"{prefix}units"] == eu_units
            if pool:
                eu = shares(pool, lambda r: None if r["origin_code"] is None
                            else r["origin_code"] in members, True, (True, False))
                assert same(tuple(row[f"{prefix}{c}"] for c in SHARE_COLUMNS), eu[True][1:])
            else:
                assert all(row[f"{prefix}{c}"] is None for c in SHARE_COLUMNS)


def share_columns(row: Row) -> list[dict[str, Any]]:
    """Every share of a figure row with its interval and sample size, by the contract's names:
    share, ci_low, ... in one-share figures; <x>_share, <x>_share_ci_low, ... otherwise."""
    names = [c for c in row if c == "share" or c.endswith("_share")]
    return [{part: row[part if name == "share" else f"{name}_{part}"] if part != "share"
             else row[name] for part in ("share", "ci_low", "ci_high", "n", "effective_n",
                                         "low_reliability")} for name in names]


def assert_shares_meet_the_contract(figures: dict[str, list[Row]]) -> int:
    """The contract's requirements on every share; returns how many shares were checked."""
    checked = 0
    for figure, rows in figures.items():
        for row in rows:
            for s in share_columns(row):
                if s["share"] is None:
                    assert all(v is None for v in s.values()), (figure, row)
                    continue
                p, low, high, n, effective = (s[k] for k in ("share", "ci_low", "ci_high", "n",
                                                             "effective_n"))
                floor_low, floor_high = proportion_confint(p * n, n, method="wilson")
                assert 0 <= low <= p <= high <= 1, (figure, row)
                assert (low > 0) == (p > 0) and (high < 1) == (p < 1), (figure, row)
                assert 0 < effective <= n and isinstance(n, int), (figure, row)
                assert high - low >= floor_high - floor_low - 1e-12, (figure, row)
                assert s["low_reliability"] is (effective < 30 or high - low > 0.30)
                checked += 1
    return checked


def test_every_share_meets_the_contract(unseen) -> None:
    _, figures = unseen
    assert assert_shares_meet_the_contract(figures) > 150


def test_settings_from_the_cli_change_the_figures(tmp_path: Path) -> None:
    """UK ammunition stops counting as EU after Brexit; recent and period edges move."""
    raw = REPO_ROOT / "data" / "raw"
    assert main(["build", "--raw", str(raw), "--curated", str(tmp_path / "c"), "--reports",
                 str(tmp_path / "r"), "--today", TODAY, "--as-of", "2021-01-01",
                 "--recent-from", "2015", "--period-edges", "1950,2000"]) == 0
    statistics = json.loads((tmp_path / "r" / "statistics.json").read_text())
    assert statistics["settings"] == {"as_of": "2021-01-01", "recent_from": 2015,
                                      "period_edges": [1950, 2000]}
    figures = statistics["figures"]
    eu = next(r for r in figures["eu_share"]
              if r["item_kind"] == "ammunition" and r["documented_in"] == "All")
    with duckdb.connect(str(tmp_path / "c" / "armtrace.duckdb"), read_only=True) as con:
        ((uk_units,),) = con.sql("SELECT sum(quantity)::INT FROM items WHERE origin_code = 'GBR' "
                                 "AND item_kind = 'ammunition'").fetchall()
    assert eu["eu_count"] == 8000 - uk_units
    assert {r["period"] for r in figures["manufacture_period"]} == {
        "before 1950", "1950-1999", "2000 and later", "unknown"}
    assert {r["recent_from"] for r in figures["anti_armour_recent"]} == {2015}


@pytest.mark.parametrize("flags", [["--as-of", "2017-02-30"], ["--period-edges", "1990,1960"],
                                   ["--recent-from", "soon"]])
def test_bad_settings_are_refused_before_building(tmp_path: Path, flags: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["build", "--curated", str(tmp_path), *flags])
    assert exit_info.value.code == 2
    assert not (tmp_path / "armtrace.duckdb").exists()


# --- the investigation's figures (figures contract 1.2) -------------------------------------

def origin_value(item: Row) -> str:
    """Origin as the by-origin figures, lot_spread and ied_components name it."""
    if item["origin"] is not None:
        return item["origin"]
    return f"{item['producer']} (non-state)" if item["producer"] else "Unknown"


def most_frequent(spellings: list[tuple[int, str]]) -> str:
    """The most frequent text among (row_number, text) pairs; ties go to the one seen first."""
    counts: dict[str, int] = defaultdict(int)
    first: dict[str, int] = {}
    for row_number, text in sorted(spellings):
        counts[text] += 1
        first.setdefault(text, row_number)
    return min(counts, key=lambda text: (-counts[text], first[text]))


def test_non_state_production_by_hand(unseen) -> None:
    items, figures = unseen
    expected = {}
    for kind in ("weapons", "ammunition", "ied_materiel"):
        for group, rows in groups([i for i in items if i["item_kind"] == kind]).items():
            amounts = [r["quantity"] if kind == "ammunition" else 1 for r in rows]
            total, n = sum(amounts), len(rows)
            for producer in sorted({r["producer"] for r in rows if r["producer"]}):
                count = sum(a for a, r in zip(amounts, rows, strict=True)
                            if r["producer"] == producer)
                if kind == "ammunition":  # of all the group's records, not of known origin
                    effective, low, high = cluster_interval(
                        [(r["quantity"], r["producer"] == producer) for r in rows])
                else:
                    (low, high), effective = wilson(count, n), n
                expected[(kind, group, producer)] = (
                    count, count / total, low, high, n, effective,
                    effective < 30 or high - low > 0.30)
    assert {k[0] for k in expected} == {"weapons", "ammunition", "ied_materiel"}
    check(figures["non_state_production"], expected, ("item_kind", "documented_in", "producer"),
          ("count", "share", "ci_low", "ci_high", "n", "effective_n", "low_reliability"))


@pytest.mark.parametrize(("figure", "kind", "count"), [
    ("weapons_by_origin", "weapons", "weapons"), ("ammunition_by_origin", "ammunition", "units")])
def test_non_state_rows_of_the_by_origin_figures_by_hand(unseen, figure: str, kind: str,
                                                         count: str) -> None:
    """Each producer has its own row, share empty, outside the denominator (which the origin
    shares by hand above already hold)."""
    items, figures = unseen
    expected: dict[tuple, tuple] = defaultdict(lambda: (0, *[None] * 6))
    for group, rows in groups([i for i in items if i["item_kind"] == kind]).items():
        for r in rows:
            if r["producer"]:
                amount = r["quantity"] if kind == "ammunition" else 1
                key = (group, f"{r['producer']} (non-state)")
                expected[key] = (expected[key][0] + amount, *[None] * 6)
    assert expected
    rows = [r for r in figures[figure] if r["country"].endswith(" (non-state)")]
    check(rows, dict(expected), ("documented_in", "country"), (count, *MEASURES[1:]))


def test_lot_spread_by_hand(unseen) -> None:
    items, figures = unseen
    lots: dict[tuple, list[Row]] = defaultdict(list)
    for item in items:
        if item["item_kind"] == "ammunition" and item["model_key"] and item["lot_key"]:
            lots[(item["model_key"], origin_value(item), item["lot_key"])].append(item)
    expected = []
    for (_, origin, lot_key), rows in lots.items():
        sites = {r["site_key"] for r in rows}
        if len(sites) < 2:
            continue
        first = min(r["documented_on"] for r in rows)
        last = max(r["documented_on"] for r in rows)
        expected.append({
            "model": most_frequent([(r["row_number"], r["model_designation"] or r["model"])
                                    for r in rows]),
            "origin": origin, "lot_key": lot_key,
            "lot_number": most_frequent([(r["row_number"], r["lot_number"]) for r in rows]),
            "records": len(rows), "units": sum(r["quantity"] for r in rows),
            "sites": len(sites), "countries": len({r["documented_in"] for r in rows}),
            "first_documented": first.isoformat(), "last_documented": last.isoformat(),
            "days_between": (last - first).days})
    expected.sort(key=lambda r: (-r["sites"], -r["units"], r["model"], r["lot_key"], r["origin"]))
    assert len(expected) >= 3 and any(r["countries"] == 2 for r in expected)
    assert figures["lot_spread"] == expected


def test_ied_components_by_hand(unseen) -> None:
    items, figures = unseen
    unknown = {"", "unknown", "unk", "n/a", "na", "n.a.", "?", "-", "--", "none", "not known",
               "nk"}

    def key(item: Row) -> str | None:
        text = item["manufacturer"]
        return None if text is None or text.lower() in unknown else " ".join(
            text.split()).casefold()

    components = [i for i in items if i["item_kind"] == "ied_materiel"]
    spellings: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for item in components:
        if key(item) is not None:
            spellings[key(item)].append((item["row_number"], item["manufacturer"]))
    shown = {k: most_frequent(v) for k, v in spellings.items()}
    expected: dict[tuple, int] = defaultdict(int)
    for group, rows in groups(components).items():
        for item in rows:
            maker = key(item)
            expected[(group, origin_value(item), shown[maker] if maker else None)] += 1
    got = {(r["documented_in"], r["origin"], r["manufacturer"]): r["items"]
           for r in figures["ied_components"]}
    assert got == dict(expected)
    assert len(shown) == 51 and any(m is None for _, _, m in got)
    assert len({k for k, v in spellings.items() if len({s for _, s in v}) > 1}) > 0
