"""The report's diversion section: each chain told in words, grouped by transfer.

One paragraph per transfer (and model and lot) that recovered items matched: who shipped what
to whom, when, under which clause, then where and when its items were recovered and how many
days later; with more than one item, one line per item follows. Plain text only: the template
escapes it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import polars as pl

NAMES_WITH_THE = ("United ", "Czech Republic", "Netherlands", "Philippines", "Russian Federation",
                  "Central African Republic", "Dominican Republic", "Democratic Republic",
                  "Republic of ", "Gambia", "Bahamas", "Comoros", "Maldives", "Marshall Islands",
                  "Solomon Islands", "Seychelles", "Holy See")
"""Country names that read with an article in a sentence ("to the United States")."""


@dataclass(frozen=True)
class TransferStory:
    sentence: str
    items: list[str]  # one line per recovered item when there are several, else empty


def long_date(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


def country(name: str) -> str:
    return f"the {name}" if name.startswith(NAMES_WITH_THE) else name


def _units(quantity: int) -> str:
    return f"{quantity:,} unit{'s' if quantity != 1 else ''}"


def _recovery(row: dict) -> str:
    return (f"in {country(row['documented_in'])} at {row['site']} on "
            f"{long_date(row['documented_on'])}")


def _record(row: dict) -> str:
    serial = f", serial {row['serial_number']}" if row["serial_number"] else ""
    return f"{row['record_id']}{serial}"


def chain_rows(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """fig_diversion_chains with each item's site and quantity, in the figure's order."""
    return con.sql("""
        SELECT c.*, i.site, i.quantity, i.serial_number
        FROM fig_diversion_chains AS c JOIN items AS i USING (record_id)
        ORDER BY c.shipped_on, c.transfer_id, c.documented_on, c.record_id
    """).pl()


def transfer_stories(chains: pl.DataFrame) -> list[TransferStory]:
    """One story per transfer, model and lot. Needs the columns of fig_diversion_chains plus
    site, quantity and serial_number."""
    stories = []
    groups = chains.partition_by("shipped_on", "transfer_id", "model", "lot_number",
                                 maintain_order=True)
    for group in groups:
        rows = group.to_dicts()
        first, last = rows[0], rows[-1]
        clause = ("under a no-retransfer clause" if first["retransfer_clause"] == "yes"
                  else "with no retransfer clause")
        shipped = (f"{first['model']} of lot {first['lot_number']} (transfer "
                   f"{first['transfer_id']}), shipped by {country(first['exporter'])} to "
                   f"{country(first['importer'])} (end user: {first['end_user']}) on "
                   f"{long_date(first['shipped_on'])} {clause}")
        if len(rows) == 1:
            verb = "was" if first["quantity"] == 1 else "were"
            stories.append(TransferStory(
                f"{shipped}, {verb} recovered {_recovery(first)}, "
                f"{first['days_to_recovery']:,} days later (record {_record(first)}, "
                f"{_units(first['quantity'])}).", []))
            continue
        days = [r["days_to_recovery"] for r in rows]
        units = sum(r["quantity"] for r in rows)
        places = sorted({country(r["documented_in"]) for r in rows})
        stories.append(TransferStory(
            f"{shipped}: {len(rows)} records ({_units(units)}) were recovered in "
            f"{', '.join(places)} between {long_date(first['documented_on'])} and "
            f"{long_date(last['documented_on'])}, {min(days):,} to {max(days):,} days later.",
            [f"{_record(r)}: {_units(r['quantity'])} recovered {_recovery(r)}, "
             f"{r['days_to_recovery']:,} days after shipment." for r in rows]))
    return stories


def diversion_issues(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return con.sql("SELECT * FROM diversion_issues").pl()
