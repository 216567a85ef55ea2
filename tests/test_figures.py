"""The figures as the contract defines them, computed again by hand in plain Python from the
curated items of a raw folder the calibration never saw (another seed), must equal the SQL's.

The hand computation shares nothing with pipeline/figures/*.sql: it reads `items` and the EU
membership CSV and follows shared/spec/figures.md and docs/figures.md line by line.
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


def cluster_interval(records: list[tuple[int, bool]]) -> tuple[float, float]:
    """records: (units, in category). Ratio estimator with linearised variance; Wilson over
    records when the share is 0 or 1."""
    n = len(records)
    total = sum(m for m, _ in records)
    inside = sum(m for m, hit in records if hit)
    p = inside / total
    if inside in (0, total):
        return wilson(0 if inside == 0 else n, n)
    variance = n / (n - 1) * sum((m * hit - p * m) ** 2 for m, hit in records) / total**2
    half = Z * math.sqrt(variance)
    return max(0.0, p - half), min(1.0, p + half)


Row = dict[str, Any]


def same(got: tuple, expected: tuple) -> bool:
    """Equal counts, and shares equal up to floating-point rounding (None only with None)."""
    return len(got) == len(expected) and all(
        (a is None and b is None) or (a is not None and b is not None
                                      and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12))
        for a, b in zip(got, expected, strict=True))


def shares(items: list[Row], value: Callable[[Row], Any], ammunition: bool,
           domain: tuple[Any, ...] = ()) -> dict[Any, tuple[int, Any, Any, Any]]:
    """value -> (count, share, ci_low, ci_high); None values are unknown; values of `domain`
    are listed even when no item has them."""
    amount = (lambda r: r["quantity"]) if ammunition else (lambda r: 1)
    known = [r for r in items if value(r) is not None]
    total = sum(amount(r) for r in known)
    out = {}
    for v in sorted({value(r) for r in items if value(r) is not None} | set(domain)):
        count = sum(amount(r) for r in known if value(r) == v)
        if ammunition:
            low, high = cluster_interval([(r["quantity"], value(r) == v) for r in known])
        else:
            low, high = wilson(count, total)
        out[v] = (count, count / total, low, high)
    unknown = sum(amount(r) for r in items if value(r) is None)
    if unknown:
        out[None] = (unknown, None, None, None)
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
            sum(r["quantity"] for r in rows if r["item_kind"] == "ied_materiel"),
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
            expected[(group, value or "Unknown")] = numbers
    check(figures[figure], expected, ("documented_in", "country"),
          (count, "share", "ci_low", "ci_high"))


def test_calibre_family_by_hand(unseen) -> None:
    items, figures = unseen
    expected: dict[tuple, tuple] = {}
    for kind in ("weapons", "ammunition"):
        for group, rows in groups([i for i in items if i["item_kind"] == kind]).items():
            family = shares(rows, lambda r: None if r["calibre_family"] == "unknown"
                            else r["calibre_family"], kind == "ammunition")
            for value, numbers in family.items():
                expected[(kind, group, value or "unknown")] = numbers
            expected.setdefault((kind, group, "unknown"), (0, None, None, None))
    got = {(r["item_kind"], r["documented_in"], r["family"]): r for r in figures["calibre_family"]}
    for key, (count, share, _, _) in expected.items():
        assert same((got[key]["count"], got[key]["share"]), (count, share)), key
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
            for value, (count, share, low, high) in shares(rows, period,
                                                           kind == "ammunition").items():
                r = got[(kind, group, value or "unknown")]
                assert same((r["count"], r["share"], r["ci_low"], r["ci_high"]),
                            (count, share, low, high)), (kind, group, value)
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
            count, share, low, high = eu[True]
            known = sum(v[0] for k, v in eu.items() if k is not None)
            expected[(kind, group)] = (count, known, share, low, high)
    check(figures["eu_share"], expected, ("item_kind", "documented_in"),
          ("eu_count", "known_origin_count", "share", "ci_low", "ci_high"))


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
            assert same((row["recent_units"], row["recent_share"], row["recent_share_ci_low"],
                         row["recent_share_ci_high"]), recent_share)
        for prefix, pool in (("recent_eu_", recent), ("since_2010_eu_", since_2010)):
            eu_units = sum(r["quantity"] for r in pool if r["origin_code"] in members)
            assert row[f"{prefix}units"] == eu_units
            if pool:
                eu = shares(pool, lambda r: None if r["origin_code"] is None
                            else r["origin_code"] in members, True, (True, False))
                _, share, low, high = eu[True]
                assert same((row[f"{prefix}share"], row[f"{prefix}share_ci_low"],
                             row[f"{prefix}share_ci_high"]), (share, low, high))
            else:
                assert row[f"{prefix}share"] is None


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
