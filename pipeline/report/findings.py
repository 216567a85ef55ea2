"""The report's key findings: a few sentences an editor can quote, each with its numbers, 95%
interval and sample size, written from the figures (nothing here is a number of its own).

Plain text only: the template escapes it. A finding whose figure holds no share (an empty or
filtered build) is left out rather than written with blanks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import duckdb
import polars as pl

from pipeline.report.diversion import long_date

LOW_RELIABILITY_MARK = "\u2020"  # a dagger after the share
FAMILY_NAMES = {"warsaw_pact": "Warsaw Pact", "nato": "NATO", "other": "other"}
"""Calibre families in words, as the report and its charts name them."""
KIND_NOUNS = {"weapons": "weapons", "ammunition": "units of ammunition"}


@dataclass(frozen=True)
class Finding:
    text: str
    low_reliability: bool = False  # a share in the sentence is low-reliability


@dataclass(frozen=True)
class Period:
    first: dt.date
    last: dt.date

    def words(self) -> str:
        return f"{long_date(self.first)} to {long_date(self.last)}"


def documentation_period(con: duckdb.DuckDBPyConnection) -> Period | None:
    """The first and last documented_on of the curated items; None when there are none."""
    ((first, last),) = con.sql("SELECT min(documented_on), max(documented_on) FROM items"
                               ).fetchall()
    return None if first is None else Period(first, last)


def pct(value: float) -> str:
    return f"{value:.1%}"


def share_words(row: dict[str, Any], prefix: str = "", unit: str = "weapons") -> str:
    """'43.5% (95% interval 41.2% to 45.8%; n = 1,800 weapons)', with the effective n when it
    is below n and a dagger when the share is low-reliability."""
    name = f"{prefix}share" if prefix else "share"
    low, high = row[f"{name}_ci_low" if prefix else "ci_low"], row[
        f"{name}_ci_high" if prefix else "ci_high"]
    n, effective_n = row[f"{name}_n" if prefix else "n"], row[
        f"{name}_effective_n" if prefix else "effective_n"]
    flag = row[f"{name}_low_reliability" if prefix else "low_reliability"]
    size = f"n = {n:,} {unit}"
    if effective_n is not None and effective_n < n:
        size += f", effective n = {effective_n:,.0f}"
    mark = f" {LOW_RELIABILITY_MARK}" if flag else ""
    return f"{pct(row[name])}{mark} (95% interval {pct(low)} to {pct(high)}; {size})"


def _all(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("documented_in") == "All")


def _flagged(rows: list[dict[str, Any]], prefix: str = "") -> bool:
    name = f"{prefix}share_low_reliability" if prefix else "low_reliability"
    return any(bool(row[name]) for row in rows)


def scope_finding(summary: pl.DataFrame, period: Period | None) -> Finding | None:
    rows = _all(summary).to_dicts()
    if not rows:
        return None
    total = rows[0]
    countries = sorted(summary.filter(pl.col("documented_in") != "All")["documented_in"])
    where = countries[0] if len(countries) == 1 else (
        ", ".join(countries[:-1]) + " and " + countries[-1])
    when = f" from {period.words()}" if period else ""
    return Finding(
        f"Investigators documented {total['weapons']:,} weapons, "
        f"{total['ammunition_units']:,} units of ammunition and {total['ied_items']:,} items "
        f"of IED materiel ({total['records']:,} records) at {total['sites']:,} sites in "
        f"{where}{when}.")


def origin_finding(weapons: pl.DataFrame, ammunition: pl.DataFrame) -> Finding | None:
    """The leading state of manufacture of weapons, and of ammunition units."""
    top_weapons = _all(weapons).filter(pl.col("share").is_not_null()).head(2).to_dicts()
    top_units = _all(ammunition).filter(pl.col("share").is_not_null()).head(1).to_dicts()
    if not top_weapons:
        return None
    first = top_weapons[0]
    text = (f"{first['country']} made {share_words(first)} of the weapons of known origin")
    if len(top_weapons) > 1:
        second = top_weapons[1]
        text += f", ahead of {second['country']} with {pct(second['share'])}"
    if top_units:
        unit = top_units[0]
        text += (f"; {unit['country']} made the most ammunition, "
                 f"{share_words(unit, unit='records')} of the units of known origin")
    return Finding(text + ".", _flagged(top_weapons[:1] + top_units))


def eu_finding(eu_share: pl.DataFrame) -> Finding | None:
    rows = {r["item_kind"]: r for r in _all(eu_share).filter(pl.col("share").is_not_null())
            .iter_rows(named=True)}
    if "weapons" not in rows:
        return None
    text = (f"Member states of the European Union made {share_words(rows['weapons'])} of the "
            f"weapons of known origin")
    if "ammunition" in rows:
        text += (f" and {share_words(rows['ammunition'], unit='records')} of the ammunition "
                 f"units")
    return Finding(text + ".", _flagged(list(rows.values())))


def calibre_finding(calibres: pl.DataFrame) -> Finding | None:
    rows = {r["item_kind"]: r for r in _all(calibres).filter(
        (pl.col("family") == "warsaw_pact") & pl.col("share").is_not_null()
    ).iter_rows(named=True)}
    if not rows:
        return None
    parts = [f"{share_words(row, unit='weapons' if kind == 'weapons' else 'records')} of the "
             f"{KIND_NOUNS[kind]} of known calibre"
             for kind, row in sorted(rows.items(), reverse=True)]  # weapons first
    return Finding(f"{FAMILY_NAMES['warsaw_pact']} calibres account for "
                   + " and ".join(parts) + ".", _flagged(list(rows.values())))


def anti_armour_finding(anti_armour: pl.DataFrame) -> Finding | None:
    rows = _all(anti_armour).filter(pl.col("recent_share").is_not_null()).to_dicts()
    if not rows:
        return None
    row = rows[0]
    since = row["recent_from"]
    text = (f"Of the {row['anti_armour_units']:,} anti-armour units documented, "
            f"{share_words(row, 'recent_', 'records')} were made in {since} or later")
    flagged = bool(row["recent_share_low_reliability"])
    if row["recent_eu_share"] is not None:
        text += (f"; of those recent units, {share_words(row, 'recent_eu_', 'records')} were "
                 f"made in the EU")
        flagged |= bool(row["recent_eu_share_low_reliability"])
    return Finding(text + ".", flagged)


def key_findings(figures: dict[str, pl.DataFrame], period: Period | None) -> list[Finding]:
    """The scope of the documentation, then up to four findings, in the order an editor
    would lead with them."""
    found = [scope_finding(figures["documentation_summary"], period),
             origin_finding(figures["weapons_by_origin"], figures["ammunition_by_origin"]),
             eu_finding(figures["eu_share"]),
             calibre_finding(figures["calibre_family"]),
             anti_armour_finding(figures["anti_armour_recent"])]
    return [f for f in found if f is not None]
