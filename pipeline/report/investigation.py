"""The report's investigation sections, told in sentences from the figures: the group's own
production (non_state_production), one lot on several fronts (lot_spread), and IED components
traced to their manufacturers (ied_components, with the diversion chains of components).

Plain text only: the template escapes it. Every number comes from the curated database.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl

from pipeline.report.diversion import country, long_date

NON_STATE = " (non-state)"
LARGEST_SPREADS = 5
"""How many lots the "one lot, several fronts" section names (the table lists them all)."""
KIND_UNITS = {"weapons": ("weapon", "weapons"), "ammunition": ("unit of ammunition",
                                                               "units of ammunition"),
              "ied_materiel": ("item of IED materiel", "items of IED materiel")}


@dataclass(frozen=True)
class Investigation:
    production: list[str]  # one sentence per producer and item kind
    spreads: list[str]  # the largest lot spreads, one sentence each
    spread_count: int  # lots at two sites or more
    components_headline: str | None  # "N components traced to M manufacturers in K countries"
    components: list[str]  # how fast components reached the group after lawful supply


def _count(number: int, kind: str) -> str:
    one, many = KIND_UNITS[kind]
    return f"{number:,} {one if number == 1 else many}"


def _places(counts: list[tuple[str, int, int]], kind: str) -> str:
    """'Iraq (300 units at 12 sites) and Syria (120 units at 5 sites)'."""
    parts = [f"{country(name)} ({_count(amount, kind)} at {sites:,} site"
             f"{'' if sites == 1 else 's'})" for name, amount, sites in counts]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def production_sentences(con: duckdb.DuckDBPyConnection) -> list[str]:
    """What each non-state producer made, how much (with its share of everything of the kind
    documented), and where it was documented."""
    sentences = []
    shares = con.sql("""
        SELECT item_kind, producer, count, share, ci_low, ci_high, low_reliability
        FROM fig_non_state_production WHERE documented_in = 'All'
    """).pl()
    for row in shares.iter_rows(named=True):
        kind, producer = row["item_kind"], row["producer"]
        params = [producer, kind]
        what = con.sql("""
            SELECT category || coalesce(' (' || string_agg(DISTINCT coalesce(
                       model_designation, model), ', ' ORDER BY coalesce(model_designation, model))
                   || ')', '') AS what,
                   sum(CASE WHEN item_kind = 'ammunition' THEN quantity ELSE 1 END) AS amount
            FROM items WHERE producer = ? AND item_kind = ?
            GROUP BY category ORDER BY amount DESC, category
        """, params=params).fetchall()
        where = con.sql("""
            SELECT documented_in,
                   sum(CASE WHEN item_kind = 'ammunition' THEN quantity ELSE 1 END),
                   count(DISTINCT site_key)
            FROM items WHERE producer = ? AND item_kind = ?
            GROUP BY documented_in ORDER BY documented_in
        """, params=params).fetchall()
        things = "; ".join(f"{text}: {amount:,}" for text, amount in what)
        caution = " (a low-reliability share)" if row["low_reliability"] else ""
        sentences.append(
            f"{producer} made {_count(row['count'], kind)}, {row['share']:.1%} of all "
            f"{KIND_UNITS[kind][1]} documented (95% interval {row['ci_low']:.1%} to "
            f"{row['ci_high']:.1%}){caution}: {things}. Documented in {_places(where, kind)}.")
    return sentences


def _made(origin: str) -> str:
    if origin == "Unknown":
        return "of unknown origin"
    if origin.endswith(NON_STATE):
        return f"made by {origin.removesuffix(NON_STATE)}, a non-state producer"
    return f"made in {country(origin)}"


def spread_sentences(con: duckdb.DuckDBPyConnection, limit: int = LARGEST_SPREADS) -> list[str]:
    """The largest lot spreads (the figure's first rows), each with where it was found."""
    lots = con.sql("SELECT * FROM fig_lot_spread LIMIT ?", params=[limit]).pl()
    sentences = []
    for row in lots.iter_rows(named=True):
        places = [name for (name,) in con.sql("""
            SELECT DISTINCT i.documented_in FROM items AS i
            WHERE i.item_kind = 'ammunition' AND i.lot_key = ?
              AND coalesce(i.origin, i.producer || ' (non-state)', 'Unknown') = ?
              AND i.model_key IN (SELECT model_key FROM items
                                  WHERE coalesce(model_designation, model) = ?)
            ORDER BY 1
        """, params=[row["lot_key"], row["origin"], row["model"]]).fetchall()]
        where = " and ".join(country(p) for p in places) if places else "no country"
        made = _made(row["origin"])
        units = _count(row["units"], "ammunition")
        sentences.append(
            f"Lot {row['lot_number']} of {row['model']} ({made}): {units} in "
            f"{row['records']:,} records at {row['sites']:,} sites in {where}, first documented "
            f"on {long_date(row['first_documented'])} and last on "
            f"{long_date(row['last_documented'])}, {row['days_between']:,} days apart.")
    return sentences


def traced_components(components: pl.DataFrame) -> tuple[int, int, int] | None:
    """(components, manufacturers, countries) from ied_components' All rows: items with a
    manufacturer, their distinct manufacturers, and the distinct present-day states among
    those items' origins; None when no component has a manufacturer."""
    traced = components.filter((pl.col("documented_in") == "All")
                               & pl.col("manufacturer").is_not_null())
    if traced.is_empty():
        return None
    states = traced.filter((pl.col("origin") != "Unknown")
                           & ~pl.col("origin").str.ends_with(NON_STATE))
    return int(traced["items"].sum()), traced["manufacturer"].n_unique(), states[
        "origin"].n_unique()


def components_headline(components: pl.DataFrame) -> str | None:
    """'N components traced to M manufacturers in K countries'."""
    traced = traced_components(components)
    if traced is None:
        return None
    items, makers, countries = traced
    return (f"{items:,} component{'' if items == 1 else 's'} traced to {makers:,} "
            f"manufacturer{'' if makers == 1 else 's'} in {countries:,} "
            f"countr{'y' if countries == 1 else 'ies'}")


def component_supply_sentences(con: duckdb.DuckDBPyConnection) -> list[str]:
    """How fast IED components reached the group after their lawful supply: the diversion
    chains whose item is IED materiel, fastest first."""
    chains = con.sql("""
        SELECT c.*, i.site, (  -- the manufacturer as ied_components shows it
                   SELECT m.manufacturer FROM items AS m
                   WHERE m.manufacturer_key = i.manufacturer_key AND m.item_kind = 'ied_materiel'
                   GROUP BY m.manufacturer ORDER BY count(*) DESC, min(m.row_number) LIMIT 1
               ) AS manufacturer
        FROM fig_diversion_chains AS c
        JOIN items AS i USING (record_id)
        WHERE i.item_kind = 'ied_materiel'
        ORDER BY c.days_to_recovery, c.shipped_on, c.record_id
    """).pl()
    if chains.is_empty():
        return []
    fastest = chains.row(0, named=True)
    sentences = [
        f"Components reached the group as little as {fastest['days_to_recovery']:,} days after "
        f"their lawful supply ({chains.height:,} component{'' if chains.height == 1 else 's'} "
        f"matched to documented commercial or state transfers)."]
    for row in chains.iter_rows(named=True):
        maker = f" made by {row['manufacturer']}," if row["manufacturer"] else ""
        sentences.append(
            f"{row['model']} of lot {row['lot_number']},{maker} supplied by "
            f"{country(row['exporter'])} to {row['end_user']} in {country(row['importer'])} on "
            f"{long_date(row['shipped_on'])} (transfer {row['transfer_id']}), was recovered in "
            f"{country(row['documented_in'])} at {row['site']} on "
            f"{long_date(row['documented_on'])}, {row['days_to_recovery']:,} days later.")
    return sentences


def investigation(con: duckdb.DuckDBPyConnection, figures: dict[str, pl.DataFrame]
                  ) -> Investigation:
    return Investigation(
        production=production_sentences(con),
        spreads=spread_sentences(con),
        spread_count=figures["lot_spread"].height,
        components_headline=components_headline(figures["ied_components"]),
        components=component_supply_sentences(con),
    )
