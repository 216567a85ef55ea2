"""index.html: one self-contained page (inline CSS and SVG, no scripts, no network).

Every value from the data goes through Jinja2's autoescaping; only the SVG that vl-convert
rendered is inserted as markup.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import jinja2
import polars as pl
from markupsafe import Markup

from pipeline.report.charts import SYNTHETIC_COLUMN, SYNTHETIC_LABEL
from pipeline.report.diversion import TransferStory
from pipeline.report.findings import (
    FAMILY_NAMES,
    LOW_RELIABILITY_MARK,
    Period,
    key_findings,
)
from pipeline.report.investigation import Investigation, components_headline
from pipeline.report.quality import EXAMPLES_PER_GROUP, QualitySummary
from pipeline.tables import LOW_RELIABILITY_EFFECTIVE_N, LOW_RELIABILITY_WIDTH

TITLE = "Weapons and ammunition documented: published figures"
LOW_RELIABILITY_NOTE = (f"{LOW_RELIABILITY_MARK} Low reliability: the share rests on fewer than "
                        f"{LOW_RELIABILITY_EFFECTIVE_N:g} effective observations, or its 95% "
                        f"interval is wider than {LOW_RELIABILITY_WIDTH:.0%} points. Quote it "
                        f"with its interval, or not at all.")
TEMPLATES = jinja2.Environment(  # the report's templates, for every module that renders one
    loader=jinja2.PackageLoader("pipeline.report", "templates"),
    autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Cell:
    text: str
    numeric: bool
    marked: bool = False  # a low-reliability share


@dataclass(frozen=True)
class Headline:
    value: str
    label: str
    ci: str | None = None
    low_reliability: bool = False
    n: str | None = None  # the sample size behind a share, in words


def percent(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def cell(column: str, value: Any) -> Cell:
    if value is None:
        return Cell("", False)
    if isinstance(value, float) and ("share" in column or column.startswith("ci_")):
        return Cell(percent(value), True)
    if isinstance(value, bool):
        return Cell("yes" if value else "no", False)
    if isinstance(value, int) and column not in ("year", "recent_from", "source_line",
                                                 "dropped_line", "kept_line"):
        return Cell(f"{value:,}", True)
    if isinstance(value, int | float):
        return Cell(str(value), True)
    return Cell(str(value), False)


def reliability_flags(columns: list[str]) -> dict[str, str]:
    """Each share column of a figure and the column that flags it as low-reliability: `share`
    and `low_reliability`, or `<x>_share` and `<x>_share_low_reliability`."""
    return {c: flag for c in columns
            if (flag := "low_reliability" if c == "share" else f"{c}_low_reliability")
            in columns and (c == "share" or c.endswith("_share"))}


def _marked(column: str, value: Any, row: dict[str, Any], flags: dict[str, str]) -> Cell:
    shown = cell(column, value)
    if column in flags and row[flags[column]]:
        return Cell(f"{shown.text} {LOW_RELIABILITY_MARK}", shown.numeric, marked=True)
    return shown


MAX_PAGE_ROWS = 500
"""Most rows a table shows on the page (the first ones, in the figure's order); the CSV file
and statistics.json hold every row. A figure with a row per site or per chain runs to tens of
thousands of rows on a large archive, which no reader scrolls and which made the page slow to
write and to open."""


def table(frame: pl.DataFrame, limit: int | None = None) -> dict[str, Any]:
    """Columns and cells of a frame, or of its first `limit` rows (`total`: all of them);
    low-reliability shares carry LOW_RELIABILITY_MARK."""
    flags = reliability_flags(frame.columns)
    shown = frame if limit is None else frame.head(limit)
    rows = [[_marked(c, v, row, flags) for c, v in row.items()]
            for row in shown.iter_rows(named=True)]
    return {"columns": frame.columns, "rows": rows, "total": frame.height,
            "marked": any(c.marked for row in rows for c in row)}


def _interval(low: float | None, high: float | None) -> str | None:
    return None if low is None or high is None else f"{percent(low)} to {percent(high)}"


def _sample_size(n: int | None, effective_n: float | None, unit: str) -> str | None:
    if n is None:
        return None
    if effective_n is not None and effective_n < n:
        return f"{n:,} {unit} (effective {effective_n:,.0f})"
    return f"{n:,} {unit}"


def _share_headline(row: dict[str, Any], label: str, prefix: str = "",
                    unit: str = "weapons") -> Headline:
    name = f"{prefix}share_" if prefix else ""
    return Headline(percent(row[f"{prefix}share"]), label,
                    _interval(row[f"{name}ci_low"], row[f"{name}ci_high"]),
                    bool(row[f"{name}low_reliability"]),
                    _sample_size(row[f"{name}n"], row[f"{name}effective_n"], unit))


def _where(group: str) -> str:
    return "in all countries" if group == "All" else f"in {group}"


def _unit(kind: str) -> str:
    """What n counts for a share of this item kind: weapons, or records of ammunition."""
    return "weapons" if kind == "weapons" else "records"


def headlines(figures: dict[str, pl.DataFrame]) -> list[Headline]:
    """The numbers an editor asks for first, from whatever the data holds."""
    found: list[Headline] = []
    for row in figures["documentation_summary"].iter_rows(named=True):
        where = _where(row["documented_in"])
        found += [Headline(f"{row['weapons']:,}", f"weapons documented {where}"),
                  Headline(f"{row['ammunition_units']:,}", f"units of ammunition documented "
                                                           f"{where}"),
                  Headline(f"{row['sites']:,}", f"documentation sites {where}")]
    for figure, kind, unit, top in (("weapons_by_origin", "weapons", "weapons", 3),
                                    ("ammunition_by_origin", "ammunition units", "records", 2)):
        known = figures[figure].filter((pl.col("documented_in") == "All")
                                       & pl.col("share").is_not_null())
        found += [_share_headline(r, f"of {kind} of known origin made in {r['country']}",
                                  unit=unit)
                  for r in known.head(top).iter_rows(named=True)]
    for row in figures["eu_share"].filter(pl.col("documented_in") == "All").iter_rows(named=True):
        found.append(_share_headline(row, f"of {row['item_kind']} of known origin made in EU "
                                          f"member states", unit=_unit(row["item_kind"])))
    warsaw_pact = figures["calibre_family"].filter(
        (pl.col("documented_in") == "All") & (pl.col("family") == "warsaw_pact"))
    found += [_share_headline(r, f"of {r['item_kind']} of known calibre in "
                                 f"{FAMILY_NAMES['warsaw_pact']} calibres",
                              unit=_unit(r["item_kind"]))
              for r in warsaw_pact.iter_rows(named=True)]
    anti_armour = figures["anti_armour_recent"].filter(pl.col("anti_armour_units") > 0)
    for row in anti_armour.iter_rows(named=True):
        where = _where(row["documented_in"])
        since = row["recent_from"]
        found += [
            _share_headline(row, f"of anti-armour units documented {where} were made in "
                                 f"{since} or later (recent)", "recent_", "records"),
            _share_headline(row, f"of recent anti-armour units documented {where} were made "
                                 f"in the EU", "recent_eu_", "records"),
            _share_headline(row, f"of anti-armour units made in 2010 or later and documented "
                                 f"{where} were made in the EU", "since_2010_eu_", "records"),
        ]
    traced = components_headline(figures["ied_components"])
    if traced is not None:  # "N components traced to M manufacturers in K countries"
        value, label = traced.split(" ", 1)
        found.append(Headline(value, f"IED {label}"))
    return [h for h in found if h.value]


def render_index(
    statistics: dict[str, Any], figures: dict[str, pl.DataFrame], charts: dict[str, str],
    quality: QualitySummary, diversion: list[TransferStory] | None = None,
    diversion_issues: pl.DataFrame | None = None, anti_armour_basis: dict[str, int] | None = None,
    found: Investigation | None = None, period: Period | None = None,
    chart_captions: dict[str, str] | None = None, places: Markup | None = None,
) -> str:
    files = pl.DataFrame(statistics["input"]["files"]).select(
        "path", "status", "rows_in", "items", "superseded", "merged", "quarantined", "transfers",
        "sha256")
    context = {
        "title": TITLE + (" (synthetic sample)" if statistics["synthetic"] else ""),
        "stats": statistics,
        "synthetic_label": SYNTHETIC_LABEL,
        "findings": key_findings(figures, period),
        "period": period,
        "headlines": headlines(figures),
        "charts": [{"id": figure, "svg": Markup(svg),
                    "caption": (chart_captions or {}).get(figure, "")}
                   for figure, svg in charts.items()],
        "diversion": diversion or [],
        "investigation": found or Investigation([], [], 0, None, []),
        "diversion_issues": table(diversion_issues if diversion_issues is not None
                                  else pl.DataFrame()),
        "tables": [{"id": figure, **table(frame, MAX_PAGE_ROWS)}
                   for figure, frame in figures.items()],
        "quality": {name: table(frame) for name, frame in asdict(quality).items()},
        "examples": EXAMPLES_PER_GROUP,
        "max_page_rows": MAX_PAGE_ROWS,
        "anti_armour": {k: f"{v:,}" for k, v in (anti_armour_basis or {}).items()},
        "files": table(files, MAX_PAGE_ROWS),
        "reference": table(pl.DataFrame(statistics["input"]["reference_files"])),
        "places": places or Markup(""),  # pipeline/report/maps.py
        "macros": TEMPLATES.get_template("macros.html.j2").module,
        "low_reliability_mark": LOW_RELIABILITY_MARK,
        "low_reliability_note": LOW_RELIABILITY_NOTE,
        "low_reliability_n": f"{LOW_RELIABILITY_EFFECTIVE_N:g}",
        "low_reliability_width": f"{LOW_RELIABILITY_WIDTH:.0%}",
        "synthetic": statistics["synthetic"],
        "synthetic_column": SYNTHETIC_COLUMN,
    }
    return TEMPLATES.get_template("index.html.j2").render(context)
