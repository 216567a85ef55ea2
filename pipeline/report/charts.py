"""Altair charts of the figures, rendered to SVG and PNG by vl-convert (no browser, no network)."""

from __future__ import annotations

import altair as alt
import polars as pl
import vl_convert

WIDTH = 420
SHARE_AXIS = alt.Axis(format="%", title="share (95% interval)")
MAX_CHAIN_BARS = 60
MAX_LOT_BARS = 30
LOW_RELIABILITY = "low reliability"  # pale bars; docs/figures.md says when


def _share_bars(frame: pl.DataFrame, category: str, title: str, sort: list[str] | str,
                row: str | None = None) -> alt.Chart | alt.FacetChart:
    """Horizontal bars of `share` per `category`, with the interval as a rule."""
    data = frame.filter(pl.col("share").is_not_null()).with_columns(
        reliability=pl.when(pl.col("low_reliability")).then(pl.lit(LOW_RELIABILITY))
        .otherwise(pl.lit("")))
    y = alt.Y(f"{category}:N", sort=sort, title=None)
    base = alt.Chart(data).encode(y=y)
    bars = base.mark_bar().encode(
        x=alt.X("share:Q", axis=SHARE_AXIS, scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("reliability:N", title=None, legend=alt.Legend(values=[LOW_RELIABILITY]),
                        scale=alt.Scale(domain=["", LOW_RELIABILITY],
                                        range=["#4c78a8", "#bcd0e6"])),
        tooltip=[category, alt.Tooltip("share:Q", format=".1%"), "reliability"],
    )
    rules = base.mark_rule(color="#222").encode(x="ci_low:Q", x2="ci_high:Q")
    layered = alt.layer(bars, rules).properties(width=WIDTH)
    if row:
        return layered.facet(row=alt.Row(f"{row}:N", title=None, sort="descending")).properties(
            title=title)
    return layered.properties(title=title)


def _all_countries(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("documented_in") == "All")


def _days_to_recovery(chains: pl.DataFrame) -> alt.LayerChart:
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
        color=alt.Color("transfer_id:N", title="transfer"),
        tooltip=["chain", "transfer_id", "days_to_recovery"],
    )
    labels = alt.Chart(data).mark_text(align="left", dx=3).encode(
        x="days_to_recovery:Q", y=y, text="days_to_recovery:Q")
    return alt.layer(bars, labels).properties(width=WIDTH, title=title)


def _non_state_production(production: pl.DataFrame) -> alt.FacetChart:
    """Per item kind, one bar per producer and country where documented: what it made there,
    labelled with the share of everything of the kind documented there."""
    data = production.filter(pl.col("documented_in") != "All").with_columns(
        label=pl.format("{} ({}%)", pl.col("count"), (pl.col("share") * 100).round(1)))
    y = alt.Y("producer:N", title=None)
    base = alt.Chart(data).encode(y=y, yOffset=alt.YOffset("documented_in:N"))
    bars = base.mark_bar().encode(
        x=alt.X("count:Q", title="items (weapons, IED materiel) or units (ammunition)"),
        color=alt.Color("documented_in:N", title="documented in"),
        tooltip=["producer", "documented_in", "count", alt.Tooltip("share:Q", format=".1%")])
    labels = base.mark_text(align="left", dx=3).encode(x="count:Q", text="label:N")
    return alt.layer(bars, labels).properties(width=WIDTH).facet(
        row=alt.Row("item_kind:N", title=None, sort=["weapons", "ammunition", "ied_materiel"])
    ).resolve_scale(x="independent").properties(
        title="Made by non-state producers (the group's own production)")


def _lot_spread(lots: pl.DataFrame) -> alt.LayerChart:
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
        color=alt.Color("countries_label:N", title="documented in"),
        tooltip=["lot", "sites", "countries", "units"])
    labels = alt.Chart(data).mark_text(align="left", dx=3).encode(
        x="sites:Q", y=y, text="sites:Q")
    return alt.layer(bars, labels).properties(width=WIDTH, title=title)


def _ied_components(components: pl.DataFrame) -> alt.LayerChart:
    """All documented IED materiel by country of manufacture, labelled with its number of
    manufacturers."""
    data = _all_countries(components).group_by("origin").agg(
        items=pl.col("items").sum(), manufacturers=pl.col("manufacturer").drop_nulls().n_unique()
    ).sort(["items", "origin"], descending=[True, False]).with_columns(
        label=pl.format("{} manufacturers", "manufacturers"))
    y = alt.Y("origin:N", sort=None, title=None)
    bars = alt.Chart(data).mark_bar(color="#4c78a8").encode(
        x=alt.X("items:Q", title="items of IED materiel"), y=y,
        tooltip=["origin", "items", "manufacturers"])
    labels = alt.Chart(data).mark_text(align="left", dx=3).encode(
        x="items:Q", y=y, text="label:N")
    return alt.layer(bars, labels).properties(
        width=WIDTH, title="IED components by country of manufacture (all documented)")


def build_charts(figures: dict[str, pl.DataFrame]) -> dict[str, alt.TopLevelMixin]:
    """One chart per charted figure, keyed by figure id."""
    weapons = _all_countries(figures["weapons_by_origin"])
    ammunition = _all_countries(figures["ammunition_by_origin"])
    anti_armour = figures["anti_armour_recent"].select(
        "documented_in",
        *[pl.struct(measure=pl.lit(label), share=pl.col(f"{prefix}share"),
                    ci_low=pl.col(f"{prefix}share_ci_low"),
                    ci_high=pl.col(f"{prefix}share_ci_high"),
                    low_reliability=pl.col(f"{prefix}share_low_reliability")).alias(label)
          for prefix, label in (("recent_", "made recently"),
                                ("recent_eu_", "of those, made in the EU"),
                                ("since_2010_eu_", "made since 2010 in the EU"))],
    ).unpivot(index="documented_in", value_name="s").unnest("s").drop("variable")
    years = _all_countries(figures["manufacture_year"])
    return {
        "weapons_by_origin": _share_bars(
            weapons, "country", "Weapons by country of manufacture (all documented)",
            sort="-x"),
        "ammunition_by_origin": _share_bars(
            ammunition, "country", "Ammunition units by country of manufacture",
            sort="-x"),
        "calibre_family": _share_bars(
            _all_countries(figures["calibre_family"]), "family", "Calibre family",
            sort=["warsaw_pact", "nato", "other"], row="item_kind"),
        "manufacture_period": _share_bars(
            _all_countries(figures["manufacture_period"]), "period", "Period of manufacture",
            sort=None, row="item_kind"),
        "eu_share": _share_bars(
            figures["eu_share"], "documented_in", "Made in EU member states", sort=None,
            row="item_kind"),
        "anti_armour_recent": _share_bars(
            anti_armour, "measure", "Anti-armour ammunition", sort=None, row="documented_in"),
        "manufacture_year": alt.Chart(years).mark_bar(color="#4c78a8").encode(
            x=alt.X("year:O", title="year of manufacture"),
            y=alt.Y("count:Q", title="items or units"),
        ).properties(width=WIDTH * 2, height=120).facet(
            row=alt.Row("item_kind:N", title=None, sort="descending")
        ).resolve_scale(y="independent").properties(title="Year of manufacture"),
        "diversion_chains": _days_to_recovery(figures["diversion_chains"]),
        "non_state_production": _non_state_production(figures["non_state_production"]),
        "lot_spread": _lot_spread(figures["lot_spread"]),
        "ied_components": _ied_components(figures["ied_components"]),
    }


def render(chart: alt.TopLevelMixin) -> tuple[str, bytes]:
    """SVG text and PNG bytes of a chart. The PNG is rasterised from the SVG: the same bytes
    as from the spec, without compiling and laying the chart out a second time (about half
    the report's chart time)."""
    svg = vl_convert.vegalite_to_svg(chart.to_dict())
    return svg, vl_convert.svg_to_png(svg, scale=2)


def start_chart_engine() -> None:
    """Start vl-convert's JavaScript engine, which its first conversion in a process does
    (about 1 s; later ones take tens of milliseconds): what the build does while it waits for
    the items suite's process, so that the report does not."""
    vl_convert.vegalite_to_svg({"mark": "point", "data": {"values": [{}]}})
