"""The shipped synthetic sample reproduces CAR's published figures, reproducibly.

Each published value is asserted as CAR's reports round it (data/raw/SYNTHETIC.md names them);
counts exactly.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipeline.cli import main
from pipeline.paths import REPO_ROOT
from pipeline.provenance import SAMPLE_FILES
from pipeline.report.quality import UNKNOWN_CALIBRES_SQL, UNKNOWN_MODELS_SQL
from pipeline.sample import plan
from pipeline.sample.archive import archive_records
from pipeline.sample.plan import DEFAULT_SEED
from pipeline.stages.figures import FIGURE_IDS
from tests.conftest import SHIPPED_SAMPLE, build


@pytest.fixture(scope="session")
def figures(sample_build: tuple[Path, Path]) -> dict[str, list[dict]]:
    return json.loads((sample_build[1] / "statistics.json").read_text())["figures"]


@pytest.fixture
def sql(sample_build: tuple[Path, Path]):
    with duckdb.connect(str(sample_build[0]), read_only=True) as con:
        yield lambda query: con.sql(query).fetchall()


def row(figures: dict[str, list[dict]], figure: str, **match: object) -> dict:
    found = [r for r in figures[figure] if all(r[k] == v for k, v in match.items())]
    assert len(found) == 1, (figure, match, found)
    return found[0]


def test_fieldwork_july_2014_to_november_2017_in_iraq_and_syria(sql) -> None:
    ((first, last),) = sql("SELECT min(documented_on), max(documented_on) FROM items")
    assert (first.year, first.month, last.year, last.month) == (2014, 7, 2017, 11)
    assert sql("SELECT DISTINCT documented_in FROM items ORDER BY 1") == [("Iraq",), ("Syria",)]


@pytest.mark.parametrize(("group", "weapons", "units", "sites"), [
    ("Iraq", 1270, 29168, 84), ("Syria", 562, 11816, 27), ("All", 1832, 40984, 111)])
def test_weapons_ammunition_and_sites_documented(figures, group: str, weapons: int, units: int,
                                                 sites: int) -> None:
    summary = row(figures, "documentation_summary", documented_in=group)
    assert (summary["weapons"], summary["ammunition_units"], summary["sites"]) == (
        weapons, units, sites)


@pytest.mark.parametrize(("kind", "family", "published"), [
    ("weapons", "warsaw_pact", 0.97), ("ammunition", "warsaw_pact", 0.87),
    ("weapons", "nato", 0.03), ("ammunition", "nato", 0.13)])
def test_calibre_family_shares(figures, kind: str, family: str, published: float) -> None:
    share = row(figures, "calibre_family", item_kind=kind, documented_in="All",
                family=family)["share"]
    assert round(share, 2) == published


WEAPON_ORIGINS = {"China": 0.435, "Romania": 0.121, "Russia": 0.096, "Hungary": 0.072,
                  "Bulgaria": 0.053, "Serbia": 0.040, "Germany": 0.036, "Iraq": 0.032,
                  "Poland": 0.022, "Czech Republic": 0.021, "United States": 0.018,
                  "Iran": 0.009}


@pytest.mark.parametrize(("country", "published"), WEAPON_ORIGINS.items())
def test_weapons_by_country_of_manufacture(figures, country: str, published: float) -> None:
    share = row(figures, "weapons_by_origin", documented_in="All", country=country)["share"]
    assert round(share, 3) == published


def test_other_weapon_origins_each_below_iran(figures) -> None:
    rest = [r for r in figures["weapons_by_origin"] if r["documented_in"] == "All"
            and r["country"] not in WEAPON_ORIGINS and r["share"] is not None]
    assert rest and all(r["share"] < 0.009 for r in rest)


@pytest.mark.parametrize(("country", "published"), [("Russia", 0.255), ("China", 0.254)])
def test_ammunition_shares_by_country(figures, country: str, published: float) -> None:
    share = row(figures, "ammunition_by_origin", documented_in="All", country=country)["share"]
    assert round(share, 3) == published


@pytest.mark.parametrize(("group", "country", "units"), [
    ("All", "Serbia", 1211), ("All", "Bosnia and Herzegovina", 704), ("All", "Albania", 53),
    ("Iraq", "Albania", 21), ("Syria", "Albania", 32)])
def test_ammunition_units_by_country(figures, group: str, country: str, units: int) -> None:
    assert row(figures, "ammunition_by_origin", documented_in=group,
               country=country)["units"] == units


@pytest.mark.parametrize(("kind", "about"), [("weapons", 0.3), ("ammunition", 0.2)])
def test_eu_member_states_share(figures, kind: str, about: float) -> None:
    share = row(figures, "eu_share", item_kind=kind, documented_in="All")["share"]
    assert round(share, 1) == about


def test_russia_and_china_made_more_than_half_of_all_weapons_in_1960_1989(sql) -> None:
    ((made, weapons),) = sql("""
        SELECT count(*) FILTER (WHERE origin IN ('Russia', 'China')
                                  AND year_of_manufacture BETWEEN 1960 AND 1989),
               count(*)
        FROM items WHERE item_kind = 'weapons'""")
    assert made / weapons > 0.5


def test_anti_armour_ammunition_used_in_iraq(figures) -> None:
    iraq = row(figures, "anti_armour_recent", documented_in="Iraq")
    assert iraq["recent_from"] == 2014
    assert 0.375 <= iraq["recent_share"] < 0.40  # "almost 40%" made 2014 or later
    assert 0.175 <= iraq["recent_eu_share"] < 0.20  # "nearly 20%" of those by EU states
    assert round(iraq["since_2010_eu_share"], 2) == 0.40  # "40% of those made since 2010"


def test_pg9_rockets_of_the_romanian_lot_were_recovered(sql) -> None:
    found = sql("""SELECT count(*), min(documented_on) FROM items
                   WHERE model_designation = 'PG-9' AND origin = 'Romania'
                     AND lot_key = '1214451'""")
    count, first = found[0]
    assert count > 0 and first > dt.date(2014, 10, 6)


def test_missile_recovered_59_days_after_export(sql) -> None:
    found = sql("""SELECT documented_on, documented_in, origin FROM items
                   WHERE model_designation = '9M111' AND serial_key = '044715'""")
    assert found == [(dt.date(2015, 12, 11) + dt.timedelta(days=59), "Iraq", "Bulgaria")]


def test_2014_study_of_1730_cartridges(sql) -> None:
    study = """FROM items WHERE documented_on BETWEEN '2014-07-01' AND '2014-08-31'
               AND category = 'cartridge'"""
    ((units, sites, countries, first, last),) = sql(f"""
        SELECT sum(quantity), count(DISTINCT site_key), count(DISTINCT origin),
               min(year_of_manufacture), max(year_of_manufacture) {study}""")
    assert (units, sites, countries, first, last) == (1730, 4, 21, 1945, 2014)
    by_origin = dict(sql(f"SELECT origin, sum(quantity)::INT {study} GROUP BY origin"))
    assert {c: by_origin[c] for c in ("Russia", "China", "United States", "Romania", "Iran",
                                      "Syria")} == {"Russia": 492, "China": 445,
                                                    "United States": 323, "Romania": 77,
                                                    "Iran": 26, "Syria": 18}
    recent = dict(sql(f"""SELECT origin, sum(quantity)::INT {study}
                          AND year_of_manufacture BETWEEN 2010 AND 2014 GROUP BY origin"""))
    assert sum(recent.values()) == 170
    assert recent["Bulgaria"] + recent["China"] > 170 / 2


def test_more_than_700_ied_components_traced_to_51_companies_in_20_countries(figures) -> None:
    traced = [r for r in figures["ied_components"]
              if r["documented_in"] == "All" and r["manufacturer"] is not None]
    assert sum(r["items"] for r in traced) > 700
    assert len({r["manufacturer"] for r in traced}) == 51
    assert len({r["origin"] for r in traced}) == 20
    assert not any(r["origin"] == "Unknown" or r["origin"].endswith("(non-state)")
                   for r in traced)


def test_a_component_reached_the_group_a_month_after_its_lawful_supply(sql) -> None:
    found = sql("""SELECT c.days_to_recovery, c.retransfer_clause FROM fig_diversion_chains AS c
                   JOIN items AS i USING (record_id) WHERE i.item_kind = 'ied_materiel'""")
    assert len(found) == 1 and 28 <= found[0][0] <= 35 and found[0][1] == "no"


def test_the_group_made_ammunition_and_ied_materiel_in_both_countries(figures) -> None:
    made = {(r["item_kind"], r["documented_in"]): r["count"]
            for r in figures["non_state_production"] if r["producer"] == plan.ISLAMIC_STATE}
    for group in plan.GROUPS:
        assert made[("ammunition", group)] == sum(
            c.units for c in plan.NON_STATE_AMMUNITION if c.group == group)
        assert made[("ied_materiel", group)] > 0
    assert made[("ied_materiel", "All")] == plan.IED_UNTRACED[plan.ISLAMIC_STATE]
    improvised = row(figures, "weapons_by_origin", documented_in="All",
                     country=f"{plan.IMPROVISED} (non-state)")
    assert improvised["weapons"] == plan.NON_STATE_WEAPONS and improvised["share"] is None


def test_lots_found_at_several_sites_and_in_both_countries(figures) -> None:
    lots = {(r["model"], r["origin"], r["lot_number"].replace(" ", "-")): r
            for r in figures["lot_spread"]}
    mortar = lots[("IS 82mm mortar", f"{plan.ISLAMIC_STATE} (non-state)", plan.IS_MORTAR_LOT)]
    grenade = lots[("RGD-5", "Russia", plan.GRENADE_LOT)]
    assert mortar["countries"] == grenade["countries"] == 2
    assert mortar["sites"] > 10 and grenade["sites"] >= 3
    # the same lot number on F-1s and on Bulgarian RGD-5s is other lots: not counted here
    assert grenade["units"] == sum(c.units for c in plan.LOT_SPREAD
                                   if c.model == "RGD-5" and c.origin == "RUS")


def test_every_row_the_generator_adds_is_removed_by_the_rule_it_exercises(sql) -> None:
    """The generator tags each extra row with what the pipeline must do with it."""
    records = archive_records(DEFAULT_SEED)
    roles = Counter(r.role for r in records)
    merged = dict(sql("SELECT rule, count(*) FROM dedup_decisions GROUP BY rule"))
    assert merged == {"identical_row": roles["identical_row"],
                      "re_documented_item": roles["re_documented"],
                      "double_entry": roles["double_entry"]}
    assert sql("SELECT count(*) FROM record_versions") == [(roles["stale_version"],)]
    assert sql("SELECT count(*) FROM quarantine") == [(roles["invalid"],)]
    assert sql("SELECT count(*) FROM items") == [(roles["item"],)]
    planned = {r.record_id for r in records if r.role == "item"}
    assert {rid for (rid,) in sql("SELECT record_id FROM items")} == planned


def test_shipped_sample_is_the_generator_output_and_labelled_synthetic(tmp_path: Path) -> None:
    table = tmp_path / SAMPLE_FILES
    assert main(["sample", "--out", str(tmp_path / "s"), "--fingerprints", str(table)]) == 0
    fresh = {p.relative_to(tmp_path / "s"): p.read_bytes()
             for p in sorted((tmp_path / "s").rglob("*")) if p.is_file()}
    shipped = {p.relative_to(SHIPPED_SAMPLE): p.read_bytes()
               for p in sorted(SHIPPED_SAMPLE.rglob("*")) if p.is_file()}
    assert fresh == shipped
    # the committed fingerprints are the generator's: they cannot go stale
    committed = pl.read_csv(REPO_ROOT / "data" / "reference" / SAMPLE_FILES)
    assert pl.read_csv(table).equals(committed.filter(seed=DEFAULT_SEED, scale=1))
    assert sorted(committed["path"]) == sorted(p.as_posix() for p in fresh)
    assert b"SYNTHETIC" in fresh[Path("SYNTHETIC.md")]
    for path, data in fresh.items():
        if path.suffix in (".csv", ".tsv", ".txt") and path.parts[0] == "items":
            assert b"SYNTHETIC" in data.splitlines()[1], path  # every row carries the label


def test_sample_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "keep.csv").write_text("analyst's work\n")
    assert main(["sample", "--out", str(tmp_path)]) == 1
    assert (tmp_path / "keep.csv").read_text() == "analyst's work\n"


def test_two_builds_give_byte_identical_statistics_and_tables(
        sample_build: tuple[Path, Path], tmp_path: Path) -> None:
    _, first = sample_build
    _, second = build(SHIPPED_SAMPLE, tmp_path)  # another folder: no paths leak into outputs
    tables = sorted(p.name for p in (first / "tables").iterdir())
    assert tables == sorted(f"{figure}.csv" for figure in FIGURE_IDS)  # one per figure
    outputs = ["statistics.json", *(f"tables/{name}" for name in tables)]
    for name in outputs:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_the_sample_uses_only_vocabulary_the_reference_tables_know(sample_build) -> None:
    """The sample shows what a clean build looks like: every model and calibre it writes is in
    data/reference (its unmatched headers, Dataset and Photo ref, are extra columns on purpose)."""
    with duckdb.connect(str(sample_build[0]), read_only=True) as con:
        assert con.sql(UNKNOWN_MODELS_SQL).fetchall() == []
        assert con.sql(UNKNOWN_CALIBRES_SQL).fetchall() == []


def test_report_is_labelled_synthetic(sample_build: tuple[Path, Path]) -> None:
    reports = sample_build[1]
    assert json.loads((reports / "statistics.json").read_text())["synthetic"] is True
    assert "Synthetic data." in (reports / "index.html").read_text()


def test_scale_multiplies_volume_and_keeps_the_shape_and_the_label(
        tmp_path: Path, figures: dict[str, list[dict]]) -> None:
    """At scale 2 the item logs are not in data/reference/sample_files.csv and SYNTHETIC.md
    is deleted: the report is labelled all the same, by the rows' own mark."""
    assert main(["sample", "--out", str(tmp_path / "raw"), "--scale", "2"]) == 0
    (tmp_path / "raw" / "SYNTHETIC.md").unlink()
    _, reports = build(tmp_path / "raw", tmp_path)
    statistics = json.loads((reports / "statistics.json").read_text())
    assert statistics["synthetic"] is True
    assert "Synthetic data." in (reports / "index.html").read_text()
    scaled = statistics["figures"]
    for group in ("Iraq", "Syria", "All"):
        base = row(figures, "documentation_summary", documented_in=group)
        double = row(scaled, "documentation_summary", documented_in=group)
        assert {k: double[k] for k in ("weapons", "ammunition_units", "records", "sites")} == {
            k: 2 * base[k] for k in ("weapons", "ammunition_units", "records", "sites")}
    for figure in ("weapons_by_origin", "eu_share", "calibre_family"):
        assert [r.get("share") for r in scaled[figure]] == pytest.approx(
            [r.get("share") for r in figures[figure]])
