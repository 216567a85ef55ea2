"""The report's section on where and when items were documented: documentation_sites as a map,
documentation_timeline over time, and the sentence that sums them up.

The map is drawn on Natural Earth country outlines shipped with armtrace
(assets/countries-50m.json; assets/NOTICE says where they come from). The outlines near the
sites are decoded here from TopoJSON and handed to altair as inline values, so that neither
making the SVG nor viewing it needs a network.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import altair as alt
import duckdb
import polars as pl
import pycountry
from markupsafe import Markup

from pipeline.report.charts import CHART_WIDTH, PALETTE, titled
from pipeline.report.html import TEMPLATES

BASEMAP = Path(__file__).resolve().parent / "assets" / "countries-50m.json"
MARGIN_DEGREES = 1.0  # at least this much around the sites, so that one site is not a dot
MARGIN_SHARE = 0.15  # and this share of the sites' span on each side
SNAP_STEPS = 1500  # outline detail: about two points per pixel across the map, no more
DETAIL_DEGREES = 0.01  # about the spacing of the 1:50m outlines' points
VISIBLE_STEPS = 2  # rings narrower than this many steps are not drawn
PLACE_CHARTS = ("documentation_sites", "documentation_timeline")


@dataclass(frozen=True)
class Extent:
    """A longitude and latitude box, in degrees."""

    west: float
    south: float
    east: float
    north: float

    def padded(self) -> Extent:
        dx = max(MARGIN_DEGREES, (self.east - self.west) * MARGIN_SHARE)
        dy = max(MARGIN_DEGREES, (self.north - self.south) * MARGIN_SHARE)
        return Extent(max(-180.0, self.west - dx), max(-90.0, self.south - dy),
                      min(180.0, self.east + dx), min(90.0, self.north + dy))

    def overlaps(self, other: Extent) -> bool:
        return (self.west <= other.east and other.west <= self.east
                and self.south <= other.north and other.south <= self.north)

    def corners(self) -> dict[str, Any]:
        """The box as a GeoJSON feature for the projection's `fit`: points, not a polygon,
        whose winding order would decide which side of it is inside."""
        xs, ys = (self.west, (self.west + self.east) / 2, self.east), (self.south, self.north)
        return {"type": "Feature", "properties": {},
                "geometry": {"type": "MultiPoint", "coordinates": [[x, y] for x in xs for y in ys]}}


def extent_of(points: list[tuple[float, float]]) -> Extent:
    """The box around (longitude, latitude) points."""
    xs, ys = [x for x, _ in points], [y for _, y in points]
    return Extent(min(xs), min(ys), max(xs), max(ys))


# --- the basemap --------------------------------------------------------------------------

def decode_topojson(topology: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The GeoJSON features of the (quantised, delta-encoded) TopoJSON object `name`: Polygon
    and MultiPolygon geometries, as the countries are; properties keep the name and the id."""
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append([round(x * sx + tx, 5), round(y * sy + ty, 5)])
        arcs.append(points)

    def ring(indexes: list[int]) -> list[list[float]]:
        points: list[list[float]] = []
        for index in indexes:  # ~i is arc i reversed; each arc repeats the last point
            arc = arcs[index] if index >= 0 else arcs[~index][::-1]
            points.extend(arc if not points else arc[1:])
        return points

    features = []
    for geometry in topology["objects"][name]["geometries"]:
        polygons = {"Polygon": [geometry.get("arcs", [])],
                    "MultiPolygon": geometry.get("arcs", [])}.get(geometry["type"], [])
        coordinates = [[ring(r) for r in polygon] for polygon in polygons if polygon]
        if coordinates:
            features.append({
                "type": "Feature", "id": geometry.get("id"),
                "properties": {"name": geometry.get("properties", {}).get("name", "")},
                "geometry": {"type": "MultiPolygon", "coordinates": coordinates}})
    return features


@cache
def countries() -> tuple[tuple[Extent, str | None, str], ...]:
    """Every country outline of the basemap: its box, its id and the feature as JSON text
    (parsed again for each chart, so that no chart can change another's)."""
    topology = json.loads(BASEMAP.read_text(encoding="utf-8"))
    found = []
    for feature in decode_topojson(topology, "countries"):
        points = [(x, y) for polygon in feature["geometry"]["coordinates"]
                  for ring in polygon for x, y in ring]
        found.append((extent_of(points), feature["id"], json.dumps(feature)))
    return tuple(found)


def outlines_within(extent: Extent) -> list[dict[str, Any]]:
    """The outlines of the countries whose box meets `extent` (the rest would be drawn off
    the map, and only make the SVG larger), without the detail the map is too small to show
    (a far-flung site widens the extent to a continent or the world, whose full 1:50m outlines
    took 20 s to draw): every k-th point of a ring is kept, k the extent's width over
    SNAP_STEPS in units of DETAIL_DEGREES. Points are dropped, never moved (moved to a grid,
    the rings that end on the 180th meridian lay on it, and the projection filled the whole
    globe). Rings too small to see are left out, a polygon with its outer ring."""
    step = max(extent.east - extent.west, extent.north - extent.south) / SNAP_STEPS
    every = max(1, int(step / DETAIL_DEGREES))
    found = []
    for box, _, text in countries():
        if box.overlaps(extent):
            feature = json.loads(text)
            kept = []
            for polygon in feature["geometry"]["coordinates"]:
                outer, *holes = (thinned(ring, every) for ring in polygon)
                if visible(outer, step):
                    kept.append([outer, *(hole for hole in holes if visible(hole, step))])
            feature["geometry"]["coordinates"] = kept
            if kept:
                found.append(feature)
    return found


def thinned(ring: list[list[float]], every: int) -> list[list[float]]:
    """Every `every`-th point of a closed ring, and its last; the ring itself where thinning
    would turn it the other way round (the projection would fill the globe outside it)."""
    fewer = ring[:-1:every] + ring[-1:]
    return fewer if signed_area(fewer) * signed_area(ring) > 0 else ring


def signed_area(ring: list[list[float]]) -> float:
    """Twice the planar area of a ring, in square degrees; its sign is its winding."""
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in itertools.pairwise(ring))


def visible(ring: list[list[float]], step: float) -> bool:
    """A ring of four points or more, at least VISIBLE_STEPS steps across."""
    if len(ring) < 4:
        return False
    xs, ys = [x for x, _ in ring], [y for _, y in ring]
    return max(max(xs) - min(xs), max(ys) - min(ys)) >= VISIBLE_STEPS * step


def outline_ids(country_codes: dict[str, str]) -> dict[str, str]:
    """documented_in name -> the basemap's id for it (ISO 3166 numeric, from the alpha-3 code
    the items carry)."""
    found = {}
    for name, alpha_3 in country_codes.items():
        country = pycountry.countries.get(alpha_3=alpha_3) if alpha_3 else None
        if country is not None:
            found[name] = country.numeric
    return found


def documented_countries(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Each documented_in name and its ISO 3166 alpha-3 code."""
    return dict(con.sql("SELECT DISTINCT documented_in, documented_in_code FROM items "
                        "WHERE documented_in_code IS NOT NULL ORDER BY 1").fetchall())


# --- the charts ----------------------------------------------------------------------------

def located(sites: pl.DataFrame) -> pl.DataFrame:
    return sites.filter(pl.col("latitude").is_not_null() & pl.col("longitude").is_not_null())


def map_extent(sites: pl.DataFrame, country_codes: dict[str, str]) -> Extent:
    """The sites' box, padded; without a located site, the documented countries' (the whole
    world when none is on the basemap)."""
    points = located(sites).select("longitude", "latitude").rows()
    if points:
        return extent_of(points).padded()
    ids = set(outline_ids(country_codes).values())
    boxes = [box for box, country_id, _ in countries() if country_id in ids]
    if not boxes:
        return Extent(-180.0, -90.0, 180.0, 90.0)
    return Extent(min(b.west for b in boxes), min(b.south for b in boxes),
                  max(b.east for b in boxes), max(b.north for b in boxes)).padded()


MAX_MAP_SITES = 2_000
"""Most site circles the map draws: past a few thousand, circles hide each other and the chart
is megabytes of SVG. The table keeps every site; the title says when the map shows fewer."""


def sites_map(sites: pl.DataFrame, country_codes: dict[str, str],
              synthetic: bool) -> alt.LayerChart:
    """Country outlines (documented countries shaded) and one circle per located site, its
    area proportional to the items documented there."""
    extent = map_extent(sites, country_codes)
    documented = set(outline_ids(country_codes).values())
    outlines = [{**f, "properties": {**f["properties"], "documented": f["id"] in documented}}
                for f in outlines_within(extent)]
    projection = {"type": "equalEarth", "fit": extent.corners(),
                  "rotate": [-(extent.west + extent.east) / 2, 0, 0]}
    # the outlines as one JSON string, which vega parses: altair's to_dict walks a list of
    # features point by point (3 s for the world's)
    values = alt.InlineData(values=json.dumps(outlines), format=alt.DataFormat(type="json"))
    base = alt.Chart(values).mark_geoshape(
        stroke="#888", strokeWidth=0.6, clip=True,
    ).encode(
        color=alt.condition("datum.properties.documented", alt.value("#e8e2d0"),
                            alt.value("#f4f4f4")),
        tooltip=[alt.Tooltip("properties.name:N", title="country")],
    ).project(**projection)
    every_located = located(sites)
    data = drawn_sites(every_located).with_columns(
        pl.col("first_documented", "last_documented").cast(pl.String))
    circles = alt.Chart(data).mark_circle(opacity=0.6, stroke="#222", strokeWidth=0.4).encode(
        longitude="longitude:Q", latitude="latitude:Q",
        size=alt.Size("records:Q", title="items documented",
                      scale=alt.Scale(zero=True, rangeMin=0, rangeMax=900)),
        color=alt.Color("documented_in:N", title="documented in", scale=alt.Scale(range=PALETTE)),
        tooltip=["site", "documented_in", "records", "weapons", "ammunition_units", "ied_items",
                 "first_documented", "last_documented"],
    ).project(**projection)
    title = "Where items were documented: sites, sized by items"
    if data.height < every_located.height:
        title += (f" (the {data.height:,} with most items of the {every_located.height:,} "
                  f"sites with coordinates)")
    elif data.height < sites.height:
        title += f" ({data.height:,} of {sites.height:,} sites have coordinates)"
    layers = [base, circles] if data.height else [base]  # no circles: no empty legends
    return titled(alt.layer(*layers).properties(width=CHART_WIDTH + 150, height=CHART_WIDTH - 100),
                  title, synthetic)


def drawn_sites(located_sites: pl.DataFrame) -> pl.DataFrame:
    """The sites the map draws: every located site, or the MAX_MAP_SITES with most items
    (ties by country and site, so the choice is the same every build) when there are more."""
    if located_sites.height <= MAX_MAP_SITES:
        return located_sites
    return located_sites.sort(["records", "documented_in", "site"],
                              descending=[True, False, False]).head(MAX_MAP_SITES)


def timeline_chart(timeline: pl.DataFrame, synthetic: bool) -> alt.Chart:
    """Items documented per month, stacked by country, on a continuous time axis."""
    data = timeline.filter(pl.col("documented_in") != "All").with_columns(
        month_start=pl.format("{}-01", "month"))
    chart = alt.Chart(data).mark_bar().encode(
        x=alt.X("yearmonth(month_start):T", title="month documented",
                axis=alt.Axis(format="%b %Y")),
        y=alt.Y("records:Q", title="items documented", stack="zero"),
        color=alt.Color("documented_in:N", title="documented in", scale=alt.Scale(range=PALETTE)),
        tooltip=["month", "documented_in", "records", "weapons", "ammunition_units",
                 "ied_items"],
    )
    return titled(chart.properties(width=CHART_WIDTH + 150, height=200),
                  "When items were documented: items per month", synthetic)


def place_charts(figures: dict[str, pl.DataFrame], country_codes: dict[str, str],
                 synthetic: bool) -> dict[str, alt.TopLevelMixin]:
    return {"documentation_sites": sites_map(figures["documentation_sites"], country_codes,
                                             synthetic),
            "documentation_timeline": timeline_chart(figures["documentation_timeline"],
                                                     synthetic)}


# --- the section ---------------------------------------------------------------------------

def _month_name(month: str) -> str:
    return dt.date.fromisoformat(f"{month}-01").strftime("%B %Y")


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def places_claim(figures: dict[str, pl.DataFrame]) -> str:
    """One sentence: how many sites, in which countries, over which months, the busiest one."""
    sites = figures["documentation_sites"]
    summary = figures["documentation_summary"].filter(pl.col("documented_in") == "All")
    timeline = figures["documentation_timeline"].filter(pl.col("documented_in") == "All")
    if sites.is_empty() or timeline.is_empty():
        return "No item was documented."
    per_country = sites.group_by("documented_in").len().sort("documented_in")
    where = ", ".join(f"{n:,} in {country}" for country, n in per_country.rows())
    total = summary["sites"].item() if summary.height else sites.height
    busiest = timeline.sort(["records", "month"], descending=[True, False]).row(0, named=True)
    span = (f"in {_month_name(timeline['month'][0])}" if timeline.height == 1 else
            f"between {_month_name(timeline['month'][0])} and "
            f"{_month_name(timeline['month'][-1])}")
    return (f"Items were documented at {_count(total, 'site', 'sites')} ({where}) {span}; "
            f"the busiest month was {_month_name(busiest['month'])}, with "
            f"{_count(busiest['records'], 'item', 'items')}.")


def coordinates_note(sites: pl.DataFrame) -> str:
    with_coordinates = located(sites).height
    if with_coordinates == sites.height:
        return "Every site has coordinates: each is a circle on the map."
    if with_coordinates == 0:
        return ("No site has coordinates recorded, so the map shows the countries where items "
                "were documented but no site.")
    return (f"{with_coordinates:,} of the {sites.height:,} sites have coordinates and are on the "
            f"map; the others are in the table only.")


def places_section(figures: dict[str, pl.DataFrame], svgs: dict[str, str]) -> Markup:
    """The report section: the claim, then each chart with its table link."""
    return Markup(TEMPLATES.get_template("places.html.j2").render(
        claim=places_claim(figures),
        note=coordinates_note(figures["documentation_sites"]),
        charts=[{"id": figure, "svg": Markup(svgs[figure])} for figure in PLACE_CHARTS
                if figure in svgs]))
