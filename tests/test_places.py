"""documentation_sites and documentation_timeline: the figures against a polars computation of
their contract definitions from `items`, their reconciliation rules broken on purpose (and
their near misses passing), and the map and timeline of the report, drawn offline."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
import vl_convert

from pipeline.report.charts import SYNTHETIC_LABEL
from pipeline.report.maps import (
    BASEMAP,
    MAX_MAP_SITES,
    coordinates_note,
    drawn_sites,
    map_extent,
    place_charts,
    places_claim,
)
from pipeline.stages.figures import compute_figures, load_settings, read_figures
from pipeline.stages.reconcile import failed_checks

COUNTS = ("records", "weapons", "ammunition_units", "ied_items")
IRAQ_SYRIA = {"Iraq": "IRQ", "Syria": "SYR"}


@pytest.fixture
def sample_copy(sample_build: tuple[Path, Path], tmp_path: Path) -> duckdb.DuckDBPyConnection:
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(sample_build[0], copy)
    with duckdb.connect(str(copy)) as con:
        yield con


LOCATE = """
    -- coordinates for most records (the sample has none): each site about its own point, a
    -- record in seven with none, one in eleven with only a latitude; and a second spelling of
    -- one site, written less often than the first
    UPDATE items SET
        latitude = CASE WHEN row_number % 7 <> 0
                        THEN 33 + hash(site_key) % 300 / 100 + row_number % 5 / 1000 END,
        longitude = CASE WHEN row_number % 7 <> 0 AND row_number % 11 <> 0
                         THEN 39 + hash(site_key) % 500 / 100 - row_number % 3 / 1000 END;
    UPDATE items SET site = upper(site) || '  '
    WHERE site_key = 'tabqa, site 2' AND row_number % 4 = 0;
"""


@pytest.fixture
def located(sample_copy: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """The sample copy with coordinates and a second spelling, its figures recomputed."""
    sample_copy.execute(LOCATE)
    compute_figures(sample_copy, load_settings(sample_copy))
    return sample_copy


def counts(frame: pl.DataFrame, *keys: str) -> pl.DataFrame:
    return frame.group_by(*keys).agg(
        records=pl.len(),
        weapons=(pl.col("item_kind") == "weapons").sum(),
        ammunition_units=pl.col("quantity").filter(pl.col("item_kind") == "ammunition").sum(),
        ied_items=(pl.col("item_kind") == "ied_materiel").sum())


def middle(values: pl.Expr) -> pl.Expr:
    """The contract's median: the middle value, the mean of the middle two for an even count."""
    ordered = values.drop_nulls().sort()
    n = ordered.len()
    return pl.when(n > 0).then((ordered.get((n - 1) // 2) + ordered.get(n // 2)) / 2)


def test_documentation_sites_by_polars(located: duckdb.DuckDBPyConnection) -> None:
    items = located.sql("SELECT * FROM items").pl()
    both = pl.col("latitude").is_not_null() & pl.col("longitude").is_not_null()
    spelling = (items.group_by("site_key", "site").agg(times=pl.len(),
                                                        first=pl.col("row_number").min())
                .sort("times", "first", descending=[True, False])
                .group_by("site_key", maintain_order=True).first().select("site_key", "site"))
    expected = counts(items, "documented_in", "site_key").join(
        items.group_by("documented_in", "site_key").agg(
            latitude=middle(pl.col("latitude").filter(both)),
            longitude=middle(pl.col("longitude").filter(both)),
            first_documented=pl.col("documented_on").min(),
            last_documented=pl.col("documented_on").max()),
        on=["documented_in", "site_key"]).join(spelling, on="site_key")
    figure = located.sql("SELECT * FROM fig_documentation_sites").pl()
    columns = ["documented_in", "site", "records", "weapons", "ammunition_units", "ied_items",
               "first_documented", "last_documented"]
    assert figure.select(columns).sort(columns).to_dicts() == expected.select(columns).sort(
        columns).with_columns(pl.col(COUNTS).cast(pl.Int64)).to_dicts()
    coordinates = figure.join(expected, on=["documented_in", "site"], suffix="_expected")
    for axis in ("latitude", "longitude"):
        assert (coordinates[axis] - coordinates[f"{axis}_expected"]).abs().max() < 1e-12
        assert coordinates[axis].null_count() == coordinates[f"{axis}_expected"].null_count()
    # the spelling written most often wins; the sites are those the summary counts
    assert "Tabqa, site 2" in figure["site"].to_list()
    summary = located.sql("SELECT documented_in, sites FROM fig_documentation_summary "
                          "WHERE documented_in <> 'All'").fetchall()
    assert sorted(figure.group_by("documented_in").len().rows()) == sorted(summary)
    # rows: countries in order, then most items first
    assert figure["documented_in"].to_list() == sorted(figure["documented_in"].to_list())


def test_documentation_timeline_by_polars(sample_build: tuple[Path, Path]) -> None:
    with duckdb.connect(str(sample_build[0]), read_only=True) as con:
        items = con.sql("SELECT * FROM items").pl()
        figure = con.sql("SELECT * FROM fig_documentation_timeline").pl()
    items = items.with_columns(month=pl.col("documented_on").dt.strftime("%Y-%m"))
    months = pl.date_range(items["documented_on"].min().replace(day=1),
                           items["documented_on"].max(), "1mo", eager=True).dt.strftime("%Y-%m")
    grid = pl.DataFrame({"documented_in": [*items["documented_in"].unique().sort(), "All"]}).join(
        pl.DataFrame({"month": months}), how="cross")
    counted = pl.concat([counts(items, "documented_in", "month"),
                         counts(items.with_columns(documented_in=pl.lit("All")),
                                "documented_in", "month")])
    expected = grid.join(counted, on=["documented_in", "month"], how="left").with_columns(
        pl.col(COUNTS).fill_null(0).cast(pl.Int64))
    assert figure.to_dicts() == expected.to_dicts()  # in order: groups, All last, months
    assert months[0] == "2014-07" and months[-1] == "2017-11"


# --- reconciliation ------------------------------------------------------------------------

def failing(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str, str]]:
    return {(row["rule"], row["figure"], row["grp"])
            for row in failed_checks(con).iter_rows(named=True)}


ONE_SITE = "(SELECT min(rowid) FROM fig_documentation_sites WHERE documented_in = 'Syria')"


@pytest.mark.parametrize(("tamper", "expected"), [
    pytest.param(f"UPDATE fig_documentation_sites SET weapons = weapons + 1 WHERE rowid = "
                 f"{ONE_SITE}",
                 {("figure_matches_items", "documentation_sites", "Syria"),
                  ("places_add_up_to_summary", "documentation_sites", "Syria")},
                 id="site-count-changed"),
    pytest.param(f"DELETE FROM fig_documentation_sites WHERE rowid = {ONE_SITE}",
                 {("figure_matches_items", "documentation_sites", "Syria"),
                  ("places_add_up_to_summary", "documentation_sites", "Syria"),
                  ("sites_match_items", "documentation_sites", "Syria")},
                 id="site-dropped"),
    pytest.param(f"UPDATE fig_documentation_sites SET site = site || '.' WHERE rowid = "
                 f"{ONE_SITE}",
                 {("sites_match_items", "documentation_sites", "Syria")},
                 id="site-spelling-not-in-items"),
    pytest.param(f"UPDATE fig_documentation_sites SET last_documented = last_documented + 1 "
                 f"WHERE rowid = {ONE_SITE}",
                 {("sites_match_items", "documentation_sites", "Syria")},
                 id="last-date-a-day-late"),
    pytest.param("UPDATE fig_documentation_timeline SET records = records + 1 "
                 "WHERE documented_in = 'Iraq' AND month = '2015-03'",
                 {("figure_matches_items", "documentation_timeline", "Iraq"),
                  ("groups_add_up_to_all", "documentation_timeline", "All"),
                  ("places_add_up_to_summary", "documentation_timeline", "Iraq")},
                 id="month-count-changed"),
    pytest.param("UPDATE fig_documentation_timeline SET month = '2014-06' "
                 "WHERE documented_in = 'All' AND month = '2014-07'",
                 {("timeline_months_complete", "documentation_timeline", "All")},
                 id="month-moved-outside-the-span"),
])
def test_a_broken_place_rule_fails(sample_copy: duckdb.DuckDBPyConnection, tamper: str,
                                   expected: set[tuple[str, str, str]]) -> None:
    assert failing(sample_copy) == set()
    ((changed,),) = sample_copy.execute(tamper).fetchall()
    assert changed > 0
    assert expected <= failing(sample_copy)


def test_a_month_with_nothing_keeps_its_row_of_zeros(
    sample_copy: duckdb.DuckDBPyConnection,
) -> None:
    """Near miss: a country with no item in a month has a row of zeros, which reconciles;
    without that row the counts still add up, and the month rule alone fails."""
    sample_copy.execute("DELETE FROM items WHERE documented_in = 'Syria' "
                        "AND strftime(documented_on, '%Y-%m') = '2015-05'")
    compute_figures(sample_copy, load_settings(sample_copy))
    zeros = sample_copy.sql("SELECT records, weapons, ammunition_units, ied_items "
                            "FROM fig_documentation_timeline "
                            "WHERE documented_in = 'Syria' AND month = '2015-05'").fetchall()
    assert zeros == [(0, 0, 0, 0)]
    assert failing(sample_copy) == set()
    sample_copy.execute("DELETE FROM fig_documentation_timeline "
                        "WHERE documented_in = 'Syria' AND month = '2015-05'")
    assert failing(sample_copy) == {
        ("timeline_months_complete", "documentation_timeline", "Syria")}


def test_site_coordinates_reconcile_within_the_tolerance_only(
    located: duckdb.DuckDBPyConnection,
) -> None:
    assert failing(located) == set()
    shift = "UPDATE fig_documentation_sites SET latitude = latitude + ? WHERE rowid = " + ONE_SITE
    located.execute(shift, [1e-12])
    assert failing(located) == set()
    located.execute(shift, [1e-6])
    assert failing(located) == {("sites_match_items", "documentation_sites", "Syria")}


# --- the report ----------------------------------------------------------------------------

def marks(svg: str, layer: str) -> list[str]:
    """The paths of one mark group of a vega SVG (its class names the layer)."""
    group = re.search(rf'<g class="mark-[a-z]+ role-mark {layer}"[^>]*>(.*?)</g>', svg, re.S)
    return re.findall(r"<path [^>]*>", group.group(1)) if group else []


def offline(svg: str, spec: dict) -> None:
    """No address in the SVG but the SVG and XLink namespaces; all data inline in the spec."""
    addresses = set(re.findall(r"(?:https?:)?//[^\s\"'<>)]+", svg))
    assert addresses <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert '"url"' not in json.dumps(spec)


def test_the_map_draws_sites_on_the_shipped_outlines(located: duckdb.DuckDBPyConnection
                                                     ) -> None:
    figures = read_figures(located)
    chart = place_charts(figures, IRAQ_SYRIA, synthetic=True)["documentation_sites"]
    spec = chart.to_dict()
    svg = vl_convert.vegalite_to_svg(spec)
    offline(svg, spec)
    data = spec["layer"][0]["data"]  # inline, as JSON text (altair may name it)
    outlines = json.loads(spec["datasets"][data["name"]] if "name" in data else data["values"])
    assert {"Iraq", "Syria", "Turkey"} <= {f["properties"]["name"] for f in outlines}
    assert len(outlines) < 40  # only the outlines near the sites, not the world's
    assert len(marks(svg, "layer_0_marks")) == len(outlines)
    sites = figures["documentation_sites"]
    assert len(marks(svg, "layer_1_marks")) == sites.height  # every site has coordinates
    assert SYNTHETIC_LABEL in svg
    extent = map_extent(sites, IRAQ_SYRIA)
    assert 35 < extent.west < 39 < 44 < extent.east < 48
    assert BASEMAP.with_name("NOTICE").read_text().count("Natural Earth") >= 2


def far_sites() -> pl.DataFrame:
    """Two sites in Iraq and three at the edges of the world: the far north-east, the far
    south-west, and one with a latitude but no longitude."""
    return pl.DataFrame({
        "documented_in": ["Iraq", "Iraq", "Iraq", "Iraq", "Iraq"],
        "site": ["Mosul", "Tal Afar", "north", "south", "half"],
        "latitude": [36.34, 36.37, 89.99, -89.99, 10.0],
        "longitude": [43.13, 42.45, 179.99, -179.99, None],
        "records": [10, 3, 1, 2, 4], "weapons": [1, 1, 1, 2, 4],
        "ammunition_units": [100, 0, 0, 0, 0], "ied_items": [0, 0, 0, 0, 0],
        "first_documented": [dt.date(2016, 1, 1)] * 5,
        "last_documented": [dt.date(2016, 1, 2)] * 5})


def test_sites_at_the_edges_of_the_world_are_still_drawn() -> None:
    sites = far_sites()
    timeline = pl.DataFrame({"documented_in": ["Iraq", "All"], "month": ["2016-01"] * 2,
                             "records": [20, 20], "weapons": [9, 9],
                             "ammunition_units": [100, 100], "ied_items": [0, 0]})
    charts = place_charts({"documentation_sites": sites, "documentation_timeline": timeline},
                          {"Iraq": "IRQ"}, synthetic=False)
    svg = vl_convert.vegalite_to_svg(charts["documentation_sites"].to_dict())
    circles = marks(svg, "layer_1_marks")
    assert len(circles) == 4  # "half" has no longitude: in the table, not on the map
    assert "NaN" not in svg and "Infinity" not in svg
    positions = [tuple(map(float, re.search(r'translate\(([-\d.e]+),([-\d.e]+)\)', c).groups()))
                 for c in circles]
    assert len(set(positions)) == 4
    assert "4 of 5 sites have coordinates" in svg
    assert coordinates_note(sites).startswith("4 of the 5 sites have coordinates")
    assert map_extent(sites, {"Iraq": "IRQ"}).east == 180.0
    offline(svg, charts["documentation_sites"].to_dict())


def test_the_sample_map_draws_every_site_with_coordinates(sample_build: tuple[Path, Path]
                                                          ) -> None:
    sites = read_figures_of(sample_build)["documentation_sites"]
    located = sites.filter(pl.col("latitude").is_not_null()).height
    assert 0 < located < sites.height  # the 2014 study's team records no coordinates
    svg = (sample_build[1] / "charts" / "documentation_sites.svg").read_text()
    assert len(marks(svg, "layer_1_marks")) == located


def read_figures_of(build: tuple[Path, Path]) -> dict[str, pl.DataFrame]:
    with duckdb.connect(str(build[0]), read_only=True) as con:
        return read_figures(con)


def test_without_coordinates_the_map_shows_the_countries(sample_build: tuple[Path, Path]
                                                         ) -> None:
    with duckdb.connect(str(sample_build[0]), read_only=True) as con:
        figures = read_figures(con)
    sites = figures["documentation_sites"].with_columns(latitude=None, longitude=None)
    figures = {**figures, "documentation_sites": sites}  # the sample's sites without coordinates
    chart = place_charts(figures, IRAQ_SYRIA, synthetic=True)["documentation_sites"]
    svg = vl_convert.vegalite_to_svg(chart.to_dict())
    assert marks(svg, "layer_0_marks") and not marks(svg, "layer_1_marks")
    extent = map_extent(sites, IRAQ_SYRIA)  # Iraq's and Syria's outlines, padded
    assert 33 < extent.west < 36 and 48 < extent.east < 51
    assert coordinates_note(sites).startswith("No site has coordinates")


def test_the_report_section_states_its_claim_from_the_figures(
    sample_build: tuple[Path, Path],
) -> None:
    database, reports = sample_build
    with duckdb.connect(str(database), read_only=True) as con:
        figures = read_figures(con)
    claim = places_claim(figures)
    timeline = figures["documentation_timeline"].filter(documented_in="All")
    busiest = timeline.sort("records", descending=True).row(0, named=True)
    busiest_month = dt.date.fromisoformat(busiest["month"] + "-01").strftime("%B %Y")
    assert claim == (f"Items were documented at 111 sites (84 in Iraq, 27 in Syria) between "
                     f"July 2014 and November 2017; the busiest month was {busiest_month}, "
                     f"with {busiest['records']:,} items.")
    html = (reports / "index.html").read_text()
    section = html[html.index('<h2 id="places">'):html.index('<h2 id="charts">')]
    assert claim in section and section.index(claim) < section.index("<svg")
    for figure in ("documentation_sites", "documentation_timeline"):
        assert f'<a href="tables/{figure}.csv">' in section
        assert (reports / "tables" / f"{figure}.csv").is_file()
        svg = (reports / "charts" / f"{figure}.svg").read_text()
        assert svg in section
        offline(svg, {})
    statistics = json.loads((reports / "statistics.json").read_text())["figures"]
    assert len(statistics["documentation_sites"]) == figures["documentation_sites"].height
    assert statistics["documentation_timeline"][0] == {
        "documented_in": "Iraq", "month": "2014-07",
        **{c: figures["documentation_timeline"][c][0] for c in COUNTS}}


def test_the_map_draws_at_most_max_map_sites_the_largest_first() -> None:
    sites = pl.DataFrame({"documented_in": ["Iraq"] * (MAX_MAP_SITES + 1),
                          "site": [f"s{i:05d}" for i in range(MAX_MAP_SITES + 1)],
                          "records": [1] * MAX_MAP_SITES + [50],
                          "latitude": [33.0] * (MAX_MAP_SITES + 1),
                          "longitude": [44.0] * (MAX_MAP_SITES + 1)})
    drawn = drawn_sites(sites)
    assert drawn.height == MAX_MAP_SITES and drawn["site"][0] == f"s{MAX_MAP_SITES:05d}"
    assert drawn["site"][-1] == f"s{MAX_MAP_SITES - 2:05d}"  # ties by name: the last one out
    assert drawn_sites(sites.head(MAX_MAP_SITES)).equals(sites.head(MAX_MAP_SITES))
