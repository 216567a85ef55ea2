"""Reconciliation: the published figures agree with each other and with `items`.

Each rule is broken on purpose in a copy of a built database and must fail for the group that was
broken; near misses (a rounding-size difference, the Unknown row, groups with nothing known) must
pass.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from pipeline.assets import ASSETS
from pipeline.checks import ASSET_CHECKS, reconciliation_check
from pipeline.cli import main
from pipeline.definitions import build_definitions
from pipeline.paths import Paths
from pipeline.stages import reconcile
from pipeline.stages.figures import FigureSettings, compute_figures, load_settings, save_settings
from pipeline.stages.reconcile import describe_failures, failed_checks, reconciliation
from tests.conftest import TODAY, write_dirty_raw_folder

RULES = {"shares_sum_to_one", "share_equals_count_over_known", "share_within_interval",
         "interval_meets_contract", "groups_add_up_to_all", "one_count_per_key",
         "summary_equals_breakdown", "figure_matches_items", "non_state_rows_agree",
         "lot_spread_matches_items", "places_add_up_to_summary", "sites_match_items",
         "timeline_months_complete"}


@pytest.fixture
def sample_copy(sample_build: tuple[Path, Path], tmp_path: Path) -> duckdb.DuckDBPyConnection:
    """A read-write connection to a copy of the sample build's database."""
    database, _ = sample_build
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(database, copy)
    with duckdb.connect(str(copy)) as con:
        yield con


def failing(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str, str]]:
    return {(row["rule"], row["figure"], row["grp"])
            for row in failed_checks(con).iter_rows(named=True)}


def test_sample_build_reconciles(sample_build: tuple[Path, Path]) -> None:
    database, _ = sample_build
    with duckdb.connect(str(database), read_only=True) as con:
        results = reconciliation(con)
        unknown = con.sql("SELECT weapons, share FROM fig_weapons_by_origin "
                          "WHERE country = 'Unknown' AND documented_in = 'Iraq'").fetchall()
    assert set(results["rule"]) == RULES
    assert results.filter(~pl.col("passed")).is_empty()
    # the Unknown row has weapons and an empty share, and the shares still sum to 1
    assert unknown[0][0] > 0 and unknown[0][1] is None
    sums = results.filter(rule="shares_sum_to_one", figure="weapons_by_origin", grp="Iraq")
    assert sums.select("expected", "passed").rows() == [(1.0, True)]


def test_dirty_build_reconciles(dirty_build: Path) -> None:
    with duckdb.connect(str(dirty_build / "armtrace.duckdb"), read_only=True) as con:
        results = reconciliation(con)
    assert results.height > 0
    assert results.filter(~pl.col("passed")).is_empty()


def test_reconciliation_leaves_nothing_in_the_database(sample_build: tuple[Path, Path],
                                                       tmp_path: Path) -> None:
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(sample_build[0], copy)
    with duckdb.connect(str(copy)) as con:
        before = con.sql("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()
        reconciliation(con)
    with duckdb.connect(str(copy), read_only=True) as con:
        assert con.sql("SELECT view_name FROM duckdb_views() "
                       "WHERE view_name LIKE 'reconcile%'").fetchall() == []
        assert con.sql("SELECT function_name FROM duckdb_functions() "
                       "WHERE function_name LIKE 'reconcile%'").fetchall() == []
        assert con.sql("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall() == before


SYRIA_WEAPON = ("(SELECT min(row_number) FROM items "
                "WHERE item_kind = 'weapons' AND documented_in = 'Syria')")
IRAQ_AMMUNITION_OF_KNOWN_ORIGIN = ("(SELECT min(row_number) FROM items WHERE origin IS NOT NULL "
                                   "AND item_kind = 'ammunition' AND documented_in = 'Iraq')")


@pytest.mark.parametrize(("tamper", "expected"), [
    pytest.param(
        "UPDATE fig_weapons_by_origin SET share = share + 0.01 "
        "WHERE documented_in = 'Iraq' AND country = 'China'",
        {("shares_sum_to_one", "weapons_by_origin", "Iraq"),
         ("share_equals_count_over_known", "weapons_by_origin", "Iraq")},
        id="share-off-by-a-hundredth"),
    pytest.param(
        "UPDATE fig_eu_share SET share = share + 0.001 "
        "WHERE item_kind = 'ammunition' AND documented_in = 'Syria'",
        {("share_equals_count_over_known", "eu_share", "Syria")},
        id="eu-share-not-its-count-over-known-origin"),
    pytest.param(
        "UPDATE fig_ammunition_by_origin SET share = 0.0 "
        "WHERE country = 'Unknown' AND documented_in = 'Syria'",
        {("share_equals_count_over_known", "ammunition_by_origin", "Syria"),
         ("share_within_interval", "ammunition_by_origin", "Syria")},
        id="unknown-origin-with-a-share"),
    pytest.param(
        "UPDATE fig_weapons_by_origin SET ci_high = share - 0.001 "
        "WHERE documented_in = 'Syria' AND country = 'China'",
        {("share_within_interval", "weapons_by_origin", "Syria")},
        id="share-above-its-interval"),
    pytest.param(
        "UPDATE fig_anti_armour_recent SET recent_share_ci_high = 1.5 WHERE documented_in = 'All'",
        {("share_within_interval", "anti_armour_recent", "All")},
        id="interval-beyond-one"),
    pytest.param(
        "UPDATE fig_ammunition_by_origin SET ci_low = share - 0.001, ci_high = share + 0.001 "
        "WHERE documented_in = 'Iraq' AND country = 'China'",
        {("interval_meets_contract", "ammunition_by_origin", "Iraq")},
        id="interval-narrower-than-wilson-on-the-records"),
    pytest.param(
        "UPDATE fig_anti_armour_recent SET recent_eu_share_ci_low = 0 WHERE documented_in = 'Iraq'",
        {("interval_meets_contract", "anti_armour_recent", "Iraq")},
        id="lower-bound-zero-for-a-positive-share"),
    pytest.param(
        "UPDATE fig_eu_share SET low_reliability = NOT low_reliability "
        "WHERE item_kind = 'weapons' AND documented_in = 'Iraq'",
        {("interval_meets_contract", "eu_share", "Iraq")},
        id="low-reliability-not-as-the-rule-says"),
    pytest.param(
        "UPDATE fig_calibre_family SET effective_n = n + 1 "
        "WHERE item_kind = 'ammunition' AND documented_in = 'Syria' AND family = 'nato'",
        {("interval_meets_contract", "calibre_family", "Syria")},
        id="effective-n-above-n"),
    pytest.param(
        "UPDATE fig_weapons_by_origin SET n = 5 WHERE documented_in = 'Iraq' "
        "AND country = 'Unknown'",
        {("interval_meets_contract", "weapons_by_origin", "Iraq")},
        id="sample-size-of-an-empty-share"),
    pytest.param(
        "UPDATE fig_calibre_family SET count = count + 1 "
        "WHERE item_kind = 'ammunition' AND documented_in = 'Syria' AND family = 'nato'",
        {("groups_add_up_to_all", "calibre_family", "All"),
         ("figure_matches_items", "calibre_family", "Syria"),
         ("summary_equals_breakdown", "calibre_family", "Syria")},
        id="one-group-count-changed"),
    pytest.param(
        "UPDATE fig_manufacture_year SET count = count + 1 WHERE item_kind = 'weapons' "
        "AND documented_in = 'All' AND year = 1975",
        {("groups_add_up_to_all", "manufacture_year", "All"),
         ("summary_equals_breakdown", "manufacture_year", "All")},
        id="all-row-changed"),
    pytest.param(
        "UPDATE fig_documentation_summary SET weapons = weapons + 1 WHERE documented_in = 'Iraq'",
        {("summary_equals_breakdown", "weapons_by_origin", "Iraq"),
         ("groups_add_up_to_all", "documentation_summary", "All"),
         ("figure_matches_items", "documentation_summary", "Iraq")},
        id="summary-weapons-changed"),
    pytest.param(
        "UPDATE fig_documentation_summary SET sites = sites - 1 WHERE documented_in = 'Syria'",
        {("figure_matches_items", "documentation_summary", "Syria")},
        id="summary-sites-changed"),
    pytest.param(
        "UPDATE fig_eu_share SET known_origin_count = known_origin_count + 1 "
        "WHERE item_kind = 'weapons' AND documented_in = 'Iraq'",
        {("summary_equals_breakdown", "eu_share", "Iraq"),
         ("share_equals_count_over_known", "eu_share", "Iraq")},
        id="eu-known-origin-count-changed"),
    pytest.param(
        "UPDATE fig_anti_armour_recent SET recent_units = recent_units + 1 "
        "WHERE documented_in = 'Iraq'",
        {("figure_matches_items", "anti_armour_recent", "Iraq"),
         ("groups_add_up_to_all", "anti_armour_recent", "All"),
         ("share_equals_count_over_known", "anti_armour_recent", "Iraq")},
        id="recent-anti-armour-units-changed"),
    pytest.param(
        "INSERT INTO fig_weapons_by_origin SELECT * FROM fig_weapons_by_origin "
        "WHERE documented_in = 'Syria' AND country = 'Unknown'",
        {("one_count_per_key", "weapons_by_origin", "Syria")},
        id="duplicate-row"),
    pytest.param(
        "UPDATE fig_anti_armour_recent SET since_2010_units = NULL WHERE documented_in = 'Syria'",
        {("one_count_per_key", "anti_armour_recent", "Syria")},
        id="missing-count"),
    pytest.param(
        "DELETE FROM fig_weapons_by_origin WHERE documented_in = 'Iraq' AND country = 'Unknown'",
        {("summary_equals_breakdown", "weapons_by_origin", "Iraq"),
         ("figure_matches_items", "weapons_by_origin", "Iraq")},
        id="unknown-row-dropped"),
    pytest.param(
        f"DELETE FROM items WHERE row_number = {SYRIA_WEAPON}",
        {("figure_matches_items", "documentation_summary", "Syria"),
         ("figure_matches_items", "weapons_by_origin", "Syria"),
         ("figure_matches_items", "weapons_by_origin", "All")},
        id="item-deleted"),
    pytest.param(
        f"UPDATE items SET origin = NULL WHERE row_number = {IRAQ_AMMUNITION_OF_KNOWN_ORIGIN}",
        {("figure_matches_items", "ammunition_by_origin", "Iraq"),
         ("figure_matches_items", "eu_share", "Iraq")},
        id="item-origin-changed"),
    pytest.param(
        "UPDATE fig_non_state_production SET count = count + 1 "
        "WHERE item_kind = 'ammunition' AND documented_in = 'Syria'",
        {("non_state_rows_agree", "non_state_production", "Syria"),
         ("figure_matches_items", "non_state_production", "Syria"),
         ("groups_add_up_to_all", "non_state_production", "All"),
         ("share_equals_count_over_known", "non_state_production", "Syria")},
        id="non-state-production-count-changed"),
    pytest.param(
        "UPDATE fig_weapons_by_origin SET weapons = weapons + 1 "
        "WHERE country = 'Unnamed improvised producer (non-state)' AND documented_in = 'Iraq'",
        {("non_state_rows_agree", "non_state_production", "Iraq"),
         ("summary_equals_breakdown", "weapons_by_origin", "Iraq")},
        id="non-state-row-changed"),
    pytest.param(
        "UPDATE fig_ammunition_by_origin SET share = 0.01, ci_low = 0.0, ci_high = 0.02 "
        "WHERE country = 'Islamic State (non-state)' AND documented_in = 'Iraq'",
        {("share_equals_count_over_known", "ammunition_by_origin", "Iraq"),
         ("shares_sum_to_one", "ammunition_by_origin", "Iraq")},
        id="non-state-row-with-a-share"),
    pytest.param(
        "UPDATE fig_lot_spread SET days_between = days_between + 1 "
        "WHERE model = 'RGD-5' AND origin = 'Russia'",
        {("lot_spread_matches_items", "lot_spread", "All")},
        id="lot-days-between-changed"),
    pytest.param(
        "DELETE FROM fig_lot_spread WHERE origin = 'Romania'",
        {("lot_spread_matches_items", "lot_spread", "All")},
        id="lot-dropped"),
    pytest.param(
        "UPDATE fig_ied_components SET items = items + 1 WHERE rowid = "
        "(SELECT min(rowid) FROM fig_ied_components WHERE documented_in = 'Syria')",
        {("figure_matches_items", "ied_components", "Syria"),
         ("groups_add_up_to_all", "ied_components", "All"),
         ("summary_equals_breakdown", "ied_components", "Syria")},
        id="ied-components-count-changed"),
    pytest.param(
        "UPDATE figure_settings SET as_of = DATE '1990-01-01'",
        {("figure_matches_items", "eu_share", "All")},
        id="eu-membership-date-changed"),
])
def test_a_broken_rule_fails_for_its_group(
    sample_copy: duckdb.DuckDBPyConnection, tamper: str, expected: set[tuple[str, str, str]]
) -> None:
    assert failing(sample_copy) == set()
    ((changed,),) = sample_copy.execute(tamper).fetchall()
    assert changed > 0, "the tampering must change something"
    failed = failing(sample_copy)
    assert expected <= failed, failed


def test_a_share_off_by_less_than_the_tolerance_passes(
    sample_copy: duckdb.DuckDBPyConnection,
) -> None:
    change = ("UPDATE fig_weapons_by_origin SET share = share + ? "
              "WHERE documented_in = 'Iraq' AND country = 'China'")
    sample_copy.execute(change, [reconcile.TOLERANCE / 100])
    assert failing(sample_copy) == set()
    sample_copy.execute(change, [reconcile.TOLERANCE * 2])
    assert ("shares_sum_to_one", "weapons_by_origin", "Iraq") in failing(sample_copy)


def test_a_count_off_by_one_fails_however_large(sample_copy: duckdb.DuckDBPyConnection) -> None:
    """Counts are compared exactly: no tolerance hides one unit in 10^15."""
    sample_copy.execute("UPDATE fig_documentation_summary SET ied_items = ied_items + 10 ^ 15 "
                        "WHERE documented_in <> 'Syria'")
    assert failing(sample_copy) == {
        ("figure_matches_items", "documentation_summary", "Iraq"),
        ("figure_matches_items", "documentation_summary", "All"),
        ("summary_equals_breakdown", "ied_components", "Iraq"),
        ("summary_equals_breakdown", "ied_components", "All"),
        ("places_add_up_to_summary", "documentation_sites", "Iraq"),
        ("places_add_up_to_summary", "documentation_timeline", "Iraq"),
        ("places_add_up_to_summary", "documentation_timeline", "All")}
    sample_copy.execute("UPDATE fig_documentation_summary SET ied_items = ied_items + 1 "
                        "WHERE documented_in = 'All'")
    assert ("groups_add_up_to_all", "documentation_summary", "All") in failing(sample_copy)


@pytest.mark.parametrize("edit", [
    pytest.param("UPDATE items SET origin = NULL, origin_code = NULL "
                 "WHERE documented_in = 'Syria' AND item_kind = 'weapons'",
                 id="no-weapon-of-known-origin-in-a-group"),
    pytest.param("UPDATE items SET anti_armour = false WHERE documented_in = 'Syria'",
                 id="no-anti-armour-in-a-group"),
    pytest.param("DELETE FROM items WHERE documented_in = 'Syria' AND item_kind = 'weapons'",
                 id="no-weapons-in-a-group"),
    pytest.param("UPDATE items SET year_of_manufacture = NULL, calibre_family = 'unknown' "
                 "WHERE documented_in = 'Iraq' AND item_kind = 'ammunition'",
                 id="no-year-or-calibre-in-a-group"),
    pytest.param("UPDATE items SET site_key = 'market'", id="one-site-name-in-every-country"),
])
def test_edge_data_reconciles_when_figures_are_recomputed(
    sample_copy: duckdb.DuckDBPyConnection, edit: str
) -> None:
    """Empty shares, missing groups and shared site names are not disagreements."""
    sample_copy.execute(edit)
    compute_figures(sample_copy, load_settings(sample_copy))
    assert failing(sample_copy) == set()


def test_figures_with_other_settings_reconcile(sample_copy: duckdb.DuckDBPyConnection) -> None:
    settings = FigureSettings(dt.date(2004, 1, 1), recent_from=2010, period_edges=(1990,))
    save_settings(sample_copy, compute_figures(sample_copy, settings))
    assert failing(sample_copy) == set()
    sample_copy.execute("UPDATE figure_settings SET recent_from = 2014")
    assert ("figure_matches_items", "anti_armour_recent", "All") in failing(sample_copy)


def test_a_group_with_nothing_known_has_no_shares_to_sum(
    sample_copy: duckdb.DuckDBPyConnection,
) -> None:
    sample_copy.execute("UPDATE items SET origin = NULL, origin_code = NULL "
                        "WHERE documented_in = 'Syria' AND item_kind = 'weapons'")
    compute_figures(sample_copy, load_settings(sample_copy))
    results = reconciliation(sample_copy)
    sums = results.filter(rule="shares_sum_to_one", figure="weapons_by_origin", grp="Syria")
    assert sums.select("expected", "actual", "passed").rows() == [(None, None, True)]
    sample_copy.execute("UPDATE fig_weapons_by_origin SET share = 1.0 "
                        "WHERE documented_in = 'Syria'")
    assert ("shares_sum_to_one", "weapons_by_origin", "Syria") in failing(sample_copy)


def test_the_check_runs_in_the_asset_graph_and_blocks(tmp_path: Path) -> None:
    raw = write_dirty_raw_folder(tmp_path / "raw")
    paths = Paths.resolve(raw, tmp_path / "curated", tmp_path / "reports")
    result = dg.materialize(
        [*ASSETS, *ASSET_CHECKS], resources=build_definitions(paths).resources,
        instance=dg.DagsterInstance.ephemeral(),
        run_config={"ops": {"normalised_rows": {"config": {"today": TODAY}}}},
    )
    assert result.success
    (evaluation,) = [e for e in result.get_asset_check_evaluations()
                     if e.check_name == "reconciliation"]
    assert evaluation.passed and evaluation.asset_key == dg.AssetKey("figures")
    assert evaluation.metadata["rules"].value == len(RULES)
    assert evaluation.metadata["failures"].value == 0
    (spec,) = reconciliation_check.check_specs
    assert spec.blocking


def test_a_failed_reconciliation_stops_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No share can be within a negative tolerance, so every share check fails: the build stops
    before the report and leaves nothing published."""
    raw = write_dirty_raw_folder(tmp_path / "raw")
    monkeypatch.setattr(reconcile, "TOLERANCE", -1.0)
    code = main(["build", "--raw", str(raw), "--curated", str(tmp_path / "curated"),
                 "--reports", str(tmp_path / "reports"), "--today", TODAY])
    assert code == 1
    assert "figures_reconciliation" in capsys.readouterr().err
    assert not (tmp_path / "curated" / "armtrace.duckdb").exists()
    assert not (tmp_path / "reports").exists()


def test_failures_are_described_one_line_each(sample_copy: duckdb.DuckDBPyConnection) -> None:
    sample_copy.execute("UPDATE fig_documentation_summary SET days = 7 WHERE documented_in = 'All'")
    failed = failed_checks(sample_copy)
    assert describe_failures(failed).splitlines() == [
        "figure_matches_items: documentation_summary All days: expected "
        f"{failed['expected'][0]}, got 7.0"]
    many = pl.concat([failed] * 7)
    assert describe_failures(many, limit=5).splitlines()[-1] == "... and 2 more"
