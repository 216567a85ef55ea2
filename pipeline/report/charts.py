"""Altair charts of the figures, rendered to SVG and PNG by vl-convert (no browser, no network).

Every share chart draws its 95% interval, labels each bar with its share, zooms its axis to
the data and marks low-reliability shares (colour and dagger, with a legend). Charts of the
synthetic sample say so in their own subtitle, so a chart copied out of the report keeps it.
"""

from __future__ import annotations

import altair as alt
import polars as pl
import vl_convert

from pipeline.report.findings import FAMILY_NAMES, LOW_RELIABILITY_MARK

CHART_WIDTH = 600
"""Plot width in pixels: with labels, legend and margins a chart is about 900-1000 px wide,
the width of the report's column (it scales down with the column on a narrow screen)."""
CHART_FONT = "Liberation Sans, Arial, Helvetica, sans-serif"
"""The font vl-convert lays text out with (Liberation Sans), then the fonts of the same widths
that browsers have: an SVG inlined in the page is drawn with the reader's fonts."""
CHART_PADDING = {"left": 16, "top": 5, "right": 16, "bottom": 5}
"""Room around the chart for a browser font a little wider than the one it was laid out with."""
SHARE_ROW_HEIGHT = 18  # per bar of a share chart
OTHER_BELOW = 0.02
"""In the by-origin charts, countries under this share each are drawn as one "Other" bar
(the tables and statistics.json list every country)."""
MAX_CHAIN_BARS = 60
MAX_LOT_BARS = 30
SYNTHETIC_LABEL = "SYNTHETIC DATA: a generated sample, not real documented items"
SYNTHETIC_COLUMN = "synthetic_data"
"""The last column of every CSV table of a synthetic build: the label in every row, so a table
copied or filtered anywhere still says what it is."""
"""The synthetic label of tables/: the CSV files cannot carry it (docs/report.md)."""

# Okabe-Ito: distinguishable with the common colour-vision deficiencies, and in greyscale
# for the three share colours.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#000000", "#999999"]
RELIABLE = "share"
LOW_RELIABILITY = f"low reliability {LOW_RELIABILITY_MARK}"
OTHER = "Other (combined)"
SHARE_COLOURS = alt.Scale(domain=[RELIABLE, LOW_RELIABILITY, OTHER],
                          range=["#0072B2", "#E69F00", "#999999"])
PANEL_HEADER = alt.Header(labelAngle=0, labelAlign="left", labelOrient="top", labelAnchor="start",
                          labelFontWeight="bold", labelFontSize=12, labelPadding=4)
KIND_PANELS = {"weapons": "Weapons (share of items)",
               "ammunition": "Ammunition (share of units)"}


def titled(chart: alt.TopLevelMixin, title: str, synthetic: bool) -> alt.TopLevelMixin:
    """The chart's title, with the synthetic label as its subtitle when the data is synthetic."""
    return chart.properties(title=alt.TitleParams(
        text=title, subtitle=[SYNTHETIC_LABEL] if synthetic else [], anchor="start",
        subtitleColor="#8a4b00", subtitleFontWeight="bold", fontSize=14, subtitleFontSize=12))


def _share_data(frame: pl.DataFrame, category: str, empty_label: str | None) -> pl.DataFrame:
    """The rows to draw: every share, its colour group and its label. Rows without a share
    are dropped, unless `empty_label` is given: then they are labelled with it at zero."""
    data = frame if empty_label else frame.filter(pl.col("share").is_not_null())
    flagged = pl.col("low_reliability").fill_null(False)
    return data.with_columns(
        reliability=pl.when(pl.col(category) == OTHER).then(pl.lit(OTHER))
        .when(flagged).then(pl.lit(LOW_RELIABILITY)).otherwise(pl.lit(RELIABLE)),
        label=pl.when(pl.col("share").is_null()).then(pl.lit(empty_label or ""))
        .otherwise((pl.col("share") * 100).round(1).cast(pl.String) + "%"
                   + pl.when(flagged).then(pl.lit(f" {LOW_RELIABILITY_MARK}")).otherwise(
                       pl.lit(""))),
        label_x=pl.coalesce("ci_high", "share", pl.lit(0.0)),
    )


def _share_bars(frame: pl.DataFrame, category: str, title: str, synthetic: bool,
                sort: list[str] | str | None, row: str | None = None,
                empty_label: str | None = None) -> alt.TopLevelMixin:
    """Horizontal bars of `share` per `category`: the interval as a line with end ticks, the
    share as a label past it, the axis from 0 to a little past the largest upper bound."""
    data, title = _with_sample_sizes(_share_data(frame, category, empty_label), title, row)
    upper = max([*data["label_x"].drop_nulls().to_list(), 0.01])
    x_scale = alt.Scale(domain=[0, min(1.0, upper * 1.15)], nice=False)
    y = alt.Y(f"{category}:N", sort=sort, title=None)
    base = alt.Chart(data).encode(y=y)
    bars = base.mark_bar(height={"band": 0.7}).encode(
        x=alt.X("share:Q", scale=x_scale,
                axis=alt.Axis(format="%", title="share, with its 95% interval", tickCount=8)),
        color=alt.Color("reliability:N", scale=SHARE_COLOURS, title=None,
                        legend=alt.Legend(orient="bottom", values=[RELIABLE, LOW_RELIABILITY]
                                          + ([OTHER] if OTHER in data["reliability"] else []))),
        tooltip=[category, alt.Tooltip("share:Q", format=".1%"),
                 alt.Tooltip("ci_low:Q", format=".1%"), alt.Tooltip("ci_high:Q", format=".1%"),
                 "reliability"],
    )
    interval = base.mark_errorbar(ticks=True, color="#222").encode(
        x=alt.X("ci_low:Q", scale=x_scale, title=None), x2="ci_high:Q")
    labels = base.mark_text(align="left", dx=5, fontSize=11).encode(
        x=alt.X("label_x:Q", scale=x_scale), text="label:N")
    layered = alt.layer(bars, interval, labels).properties(
        width=CHART_WIDTH, height=alt.Step(SHARE_ROW_HEIGHT))
    if row:
        panels = data[row].unique(maintain_order=True).to_list()  # in the figure's order
        layered = layered.facet(row=alt.Row(f"{row}:N", title=None, sort=panels,
                                            header=PANEL_HEADER),
                                spacing=14).resolve_scale(y="independent")
    return titled(layered, title, synthetic)


def _with_sample_sizes(data: pl.DataFrame, title: str, row: str | None
                       ) -> tuple[pl.DataFrame, str]:
    """Each share's n on the chart's face: in the title when every bar has the same n, in each
    panel's header when every bar of a panel has the same n, else in each bar's label."""
    sized = data.filter(pl.col("n").is_not_null())
    if sized.is_empty():
        return data, title
    if sized["n"].n_unique() == 1:
        return data, f"{title}; n = {sized['n'][0]:,}"
    if row and (sized.group_by(row).agg(pl.col("n").n_unique())["n"] == 1).all():
        panel_n = dict(sized.group_by(row).agg(pl.col("n").first()).rows())
        return data.with_columns(pl.col(row).replace(
            {panel: f"{panel} (n = {n:,})" for panel, n in panel_n.items()})), title
    n_text = {n: f"; n = {n:,}" for n in sized["n"].unique()}
    return data.with_columns(label=pl.col("label") + pl.col("n").replace_strict(
        n_text, default="", return_dtype=pl.String)), title


def _all_countries(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("documented_in") == "All")


def with_other(frame: pl.DataFrame) -> pl.DataFrame:
    """Known-origin rows of at least OTHER_BELOW, then one OTHER row adding up the rest
    (its share is the sum of theirs; it has no interval of its own, so none is drawn)."""
    known = frame.filter(pl.col("share").is_not_null())
    small = known.filter(pl.col("share") < OTHER_BELOW)
    if small.height < 2:  # one small country is shown as itself
        return known
    other = pl.DataFrame({"country": [OTHER], "share": [small["share"].sum()],
                          "ci_low": [None], "ci_high": [None], "low_reliability": [False],
                          "n": [small["n"].max()]},  # one denominator: the same n
                         schema={"country": pl.String, "share": pl.Float64,
                                 "ci_low": pl.Float64, "ci_high": pl.Float64,
                                 "low_reliability": pl.Boolean, "n": known["n"].dtype})
    kept = known.filter(pl.col("share") >= OTHER_BELOW).select(other.columns)
    return pl.concat([kept, other])


def _kind_panels(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(panel=pl.col("item_kind").replace_strict(
        KIND_PANELS, default=pl.col("item_kind")))


def _days_to_recovery(chains: pl.DataFrame, synthetic: bool) -> alt.TopLevelMixin:
    """One bar per recovered item, in the figure's order (by shipment): days from shipment to
    recovery, coloured by transfer. Past MAX_CHAIN_BARS only the first ones are drawn (the
    table and statistics.json hold them all): thousands of bars are unreadable, and their
    explicit sort order overflowed the renderer's stack at a million rows."""
    data = chains.head(MAX_CHAIN_BARS).select(
        "transfer_id", "days_to_recovery",
        chain=pl.format("{} ({} lot {})", "record_id", "model", "lot_number"),
    )
    title = "Diversion chains: days from shipment to recovery"
    if chains.height > MAX_CHAIN_BARS:
        title += f" (first {MAX_CHAIN_BARS:,} of {chains.height:,} chains by shipment)"
    y = alt.Y("chain:N", sort=None, title=None)  # None: in the order of the rows
    bars = alt.Chart(data).mark_bar().encode(
        x=alt.X("days_to_recovery:Q", title="days from shipment to recovery"), y=y,
        color=alt.Color("transfer_id:N", title="transfer", scale=alt.Scale(range=PALETTE),
                        legend=alt.Legend(orient="bottom")),
        tooltip=["chain", "transfer_id", "days_to_recovery"],
    )
    labels = alt.Chart(data).mark_text(align="left", dx=3).encode(
        x="days_to_recovery:Q", y=y, text="days_to_recovery:Q")
    return titled(alt.layer(bars, labels).properties(width=CHART_WIDTH), title, synthetic)


def _non_state_production(production: pl.DataFrame, synthetic: bool) -> alt.TopLevelMixin:
    """Per item kind, one bar per producer and country where documented: what it made there,
    labelled with the share of everything of the kind documented there."""
    data = production.filter(pl.col("documented_in") != "All").with_columns(
        label=pl.format("{} ({}%{})", pl.col("count"), (pl.col("share") * 100).round(1),
                        pl.when(pl.col("low_reliability")).then(
                            pl.lit(f" {LOW_RELIABILITY_MARK}")).otherwise(pl.lit(""))),
        panel=pl.col("item_kind").replace_strict(
            {"weapons": "Weapons (items)", "ammunition": "Ammunition (units)",
             "ied_materiel": "IED materiel (items)"}, default=pl.col("item_kind")))
    y = alt.Y("producer:N", title=None)
    base = alt.Chart(data).encode(y=y, yOffset=alt.YOffset("documented_in:N"))
    bars = base.mark_bar().encode(
        x=alt.X("count:Q", title="count made by the producer"),
        color=alt.Color("documented_in:N", title="documented in",
                        scale=alt.Scale(range=PALETTE), legend=alt.Legend(orient="bottom")),
        tooltip=["producer", "documented_in", "count", alt.Tooltip("share:Q", format=".1%")])
    labels = base.mark_text(align="left", dx=3).encode(x="count:Q", text="label:N")
    chart = alt.layer(bars, labels).properties(width=CHART_WIDTH).facet(
        row=alt.Row("panel:N", title=None, sort=["Weapons (items)", "Ammunition (units)",
                                                 "IED materiel (items)"],
                    header=PANEL_HEADER)
    ).resolve_scale(x="independent")
    return titled(chart, "Made by non-state producers (the group's own production)", synthetic)


def _lot_spread(lots: pl.DataFrame, synthetic: bool) -> alt.TopLevelMixin:
    """The lots found at the most sites, in the figure's order (most sites first)."""
    data = lots.head(MAX_LOT_BARS).select(
        "sites", "countries", "units",
        lot=pl.format("{} lot {} ({})", "model", "lot_number", "origin"),
        countries_label=pl.format("{} countr{}", "countries",
                                  pl.when(pl.col("countries") == 1).then(pl.lit("y"))
                                  .otherwise(pl.lit("ies"))))
    title = "One lot, several fronts: sites where each lot of ammunition was documented"
    if lots.height > MAX_LOT_BARS:
        title += f" (the {MAX_LOT_BARS} most widespread of {lots.height:,} lots)"
    y = alt.Y("lot:N", sort=None, title=None)
    bars = alt.Chart(data).mark_bar().encode(
        x=alt.X("sites:Q", title="distinct documentation sites"), y=y,
        color=alt.Color("countries_label:N", title="documented in",
                        scale=alt.Scale(range=PALETTE), legend=alt.Legend(orient="bottom")),
        tooltip=["lot", "sites", "countries", "units"])
    labels = alt.Chart(data).mark_text(align="left", dx=3).encode(
        x="sites:Q", y=y, text="sites:Q")
    return titled(alt.layer(bars, labels).properties(width=CHART_WIDTH), title, synthetic)


def _ied_components(components: pl.DataFrame, synthetic: bool) -> alt.TopLevelMixin:
    """All documented IED materiel by country of manufacture, labelled with its number of
    manufacturers."""
    data = _all_countries(components).group_by("origin").agg(
        items=pl.col("items").sum(), manufacturers=pl.col("manufacturer").drop_nulls().n_unique()
    ).sort(["items", "origin"], descending=[True, False]).with_columns(
        label=pl.format("{} ({} manufacturer{})", "items", "manufacturers",
                        pl.when(pl.col("manufacturers") == 1).then(pl.lit(""))
                        .otherwise(pl.lit("s"))))
    y = alt.Y("origin:N", sort=None, title=None)
    bars = alt.Chart(data).mark_bar(color=PALETTE[0]).encode(
        x=alt.X("items:Q", title="items of IED materiel"), y=y,
        tooltip=["origin", "items", "manufacturers"])
    labels = alt.Chart(data).mark_text(align="left", dx=3).encode(
        x="items:Q", y=y, text="label:N")
    return titled(alt.layer(bars, labels).properties(width=CHART_WIDTH),
                   "IED components by country of manufacture (all documented)", synthetic)


def _manufacture_year(years: pl.DataFrame, synthetic: bool) -> alt.TopLevelMixin:
    """Counts per year of manufacture on a continuous year axis: each bar spans its year, so
    years with nothing documented stay as gaps."""
    data = years.filter(pl.col("year").is_not_null()).with_columns(
        panel=pl.col("item_kind").replace_strict(
            {"weapons": "Weapons (items)", "ammunition": "Ammunition (units)"},
            default=pl.col("item_kind")),
        start=pl.col("year"), end=pl.col("year") + 1)
    bars = alt.Chart(data).mark_bar(color=PALETTE[0]).encode(
        x=alt.X("start:Q", title="year of manufacture",
                scale=alt.Scale(zero=False, nice=False),
                axis=alt.Axis(format="d", tickMinStep=1)),
        x2="end:Q",
        y=alt.Y("count:Q", title="count"), y2=alt.datum(0),
        tooltip=["year", "count"],
    ).properties(width=CHART_WIDTH + 150, height=110)
    chart = bars.facet(row=alt.Row("panel:N", title=None,
                                   sort=["Weapons (items)", "Ammunition (units)"],
                                   header=PANEL_HEADER)
                       ).resolve_scale(y="independent")
    return titled(chart, "Year of manufacture: counts (all documented)", synthetic)


def _anti_armour(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per group and share of anti_armour_recent, named in words."""
    recent_from = frame["recent_from"].max()
    measures = [("recent_", f"made in {recent_from} or later (recent)"),
                ("recent_eu_", "recent units made in the EU"),
                ("since_2010_eu_", "made in 2010 or later: made in the EU")]
    return frame.select(
        pl.col("documented_in").replace({"All": "All countries"}),
        *[pl.struct(measure=pl.lit(label), share=pl.col(f"{prefix}share"),
                    ci_low=pl.col(f"{prefix}share_ci_low"),
                    ci_high=pl.col(f"{prefix}share_ci_high"),
                    low_reliability=pl.col(f"{prefix}share_low_reliability"),
                    n=pl.col(f"{prefix}share_n")).alias(label)
          for prefix, label in measures],
    ).unpivot(index="documented_in", value_name="s").unnest("s").drop("variable")


def build_charts(figures: dict[str, pl.DataFrame], synthetic: bool
                 ) -> dict[str, alt.TopLevelMixin]:
    """One chart per charted figure, keyed by figure id."""
    calibres = _kind_panels(_all_countries(figures["calibre_family"])).with_columns(
        family=pl.col("family").replace(FAMILY_NAMES))
    return {
        "weapons_by_origin": _share_bars(
            with_other(_all_countries(figures["weapons_by_origin"])), "country",
            "Weapons of known origin by country of manufacture (all documented)", synthetic,
            sort=None),
        "ammunition_by_origin": _share_bars(
            with_other(_all_countries(figures["ammunition_by_origin"])), "country",
            "Ammunition units of known origin by country of manufacture (all documented)",
            synthetic, sort=None),
        "calibre_family": _share_bars(
            calibres, "family", "Calibre family (of known calibre, all documented)", synthetic,
            sort=list(FAMILY_NAMES.values()), row="panel"),
        "manufacture_period": _share_bars(
            _kind_panels(_all_countries(figures["manufacture_period"])), "period",
            "Period of manufacture (of known year, all documented)", synthetic, sort=None,
            row="panel"),
        "eu_share": _share_bars(
            _kind_panels(figures["eu_share"]), "documented_in",
            "Made in EU member states (of known origin), by country where documented",
            synthetic, sort=None, row="panel"),
        "anti_armour_recent": _share_bars(
            _anti_armour(figures["anti_armour_recent"]), "measure",
            "Anti-armour ammunition: how recent, and how much made in the EU", synthetic,
            sort=None, row="documented_in", empty_label="no units: no share"),
        "manufacture_year": _manufacture_year(_all_countries(figures["manufacture_year"]),
                                              synthetic),
        "diversion_chains": _days_to_recovery(figures["diversion_chains"], synthetic),
        "non_state_production": _non_state_production(figures["non_state_production"],
                                                      synthetic),
        "lot_spread": _lot_spread(figures["lot_spread"], synthetic),
        "ied_components": _ied_components(figures["ied_components"], synthetic),
    }


def captions(figures: dict[str, pl.DataFrame]) -> dict[str, str]:
    """What each chart shows, in words, keyed by figure id."""
    share = ("Bars: share; black line: its 95% interval; label: the share. n: the weapons, or "
             "for ammunition the records, a share rests on (in the title, a panel's heading or "
             f"the label). Orange bars and a dagger ({LOW_RELIABILITY_MARK}): low reliability.")
    recent = sorted(set(figures["anti_armour_recent"]["recent_from"].to_list()))
    recent_words = " or ".join(str(year) for year in recent) or "the recent_from setting"
    return {
        "weapons_by_origin": f"{share} Weapons of unknown origin or made by non-state "
                             f"producers are outside the shares. Grey bar: countries under "
                             f"{OTHER_BELOW:.0%} each, added together (no interval of its "
                             f"own; the table lists each country).",
        "ammunition_by_origin": f"{share} Shares of units; intervals treat each record as "
                                f"a cluster. Grey bar: countries under {OTHER_BELOW:.0%} "
                                f"each, added together (no interval of its own; the table "
                                f"lists each country).",
        "calibre_family": f"{share} Warsaw Pact and NATO calibres, and other recognised "
                          f"calibres; items of unknown calibre are outside the shares.",
        "manufacture_period": f"{share} Items of unknown year are outside the shares.",
        "eu_share": f"{share} Member states of the EU on the as_of date, by present-day "
                    f"state of manufacture.",
        "anti_armour_recent": f"{share} Recent: made in or after {recent_words} (the "
                              f"recent_from setting); shares of anti-armour units of known "
                              f"year. A group with no units to divide is marked \"no units: "
                              f"no share\".",
        "manufacture_year": "Bars: counts, not shares: weapons (items) and ammunition (units) "
                            "made in each year, all documented, each on its own scale. Years "
                            "with nothing documented are gaps; items of unknown year are not "
                            "drawn. No intervals: these are counts of what was documented.",
        "diversion_chains": "Bars: days from shipment to recovery, one per recovered item; "
                            "colour: transfer.",
        "non_state_production": "Bars: items or units made by each non-state producer, by "
                                "country where documented; label: count and share of "
                                "everything of the kind documented there.",
        "lot_spread": "Bars: distinct sites where each lot was documented; colour: number of "
                      "countries.",
        "ied_components": "Bars: items of IED materiel by country of manufacture (all "
                          "documented); label: items and their distinct manufacturers.",
    }


def render(chart: alt.TopLevelMixin, png_scale: float = 2) -> tuple[str, bytes]:
    """SVG text and PNG bytes of a chart. The PNG is rasterised from the SVG: the same bytes
    as from the spec, without compiling and laying the chart out a second time (about half
    the report's chart time)."""
    svg = vl_convert.vegalite_to_svg(spec_of(chart))
    return svg, vl_convert.svg_to_png(svg, scale=png_scale)


def spec_of(chart: alt.TopLevelMixin) -> dict:
    """The Vega-Lite spec a chart is drawn from: its own, with the report's font and margin."""
    spec = chart.to_dict(validate=False)  # the tests validate every chart (0.3 s a report)
    spec.setdefault("config", {})["font"] = CHART_FONT
    spec["padding"] = CHART_PADDING
    return spec


def start_chart_engine() -> None:
    """Start vl-convert's JavaScript engine, which its first conversion in a process does
    (about 1 s; later ones take tens of milliseconds): what the build does while it waits for
    the items suite's process, so that the report does not."""
    vl_convert.vegalite_to_svg({"mark": "point", "data": {"values": [{}]}})
