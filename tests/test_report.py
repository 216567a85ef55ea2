"""The reports folder: charts, a self-contained index.html that escapes log text, timings
kept apart, and a page that renders in headless Chromium with the network off."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from pathlib import Path

import duckdb
import polars as pl
import pytest
import vl_convert

from pipeline.cli import TIMINGS_FILE
from pipeline.report.charts import (
    LOW_RELIABILITY,
    OTHER,
    OTHER_BELOW,
    SYNTHETIC_COLUMN,
    SYNTHETIC_LABEL,
    build_charts,
    spec_of,
    with_other,
)
from pipeline.report.findings import Period, key_findings
from pipeline.report.html import (
    LOW_RELIABILITY_MARK,
    LOW_RELIABILITY_NOTE,
    MAX_PAGE_ROWS,
    headlines,
    reliability_flags,
    table,
)
from pipeline.report.maps import PLACE_CHARTS
from pipeline.stages.figures import read_figures
from tests.conftest import build, write_dirty_raw_folder

CHARTED = ("weapons_by_origin", "ammunition_by_origin", "calibre_family", "manufacture_period",
           "manufacture_year", "eu_share", "anti_armour_recent", "diversion_chains",
           "non_state_production", "lot_spread", "ied_components")
HOSTILE_SITE = "<script>alert('site')</script>"
HOSTILE_ID = '"><img src=x onerror=alert(1)>'
QUOTED_ID = '"' + HOSTILE_ID.replace('"', '""') + '"'
HOSTILE_MODEL = "<script>alert('model')</script>"
HOSTILE_NOTES = '"><img src=n onerror=alert(2)>'
HOSTILE_DATE = "<svg onload=alert(3)>"
HOSTILE_FILE = "<img src=f onerror=alert(4)>.csv"  # a file name is log text too


@pytest.fixture(scope="module")
def hostile_reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dirty fixture plus a log whose text is HTML, one row kept and one quarantined."""
    root = tmp_path_factory.mktemp("hostile")
    raw = write_dirty_raw_folder(root / "raw")
    quoted_notes = '"' + HOSTILE_NOTES.replace('"', '""') + '"'
    (raw / "items" / "hostile.csv").write_text(
        "id,date,country,site,type,qty,model,notes\n"
        f"H-1,2016-05-01,Iraq,{HOSTILE_SITE},rifle,1,{HOSTILE_MODEL},{quoted_notes}\n"
        f"{QUOTED_ID},2016-05-01,Iraq,Mosul,<b>bold</b>,5,{HOSTILE_MODEL},{quoted_notes}\n"
        f"H-3,{HOSTILE_DATE},Iraq,Mosul,cartridge,5,,\n")
    (raw / "items" / HOSTILE_FILE).write_bytes(b"\x81 not a log")
    return build(raw, root)[1]


def test_every_charted_figure_has_an_svg_and_a_png(sample_build: tuple[Path, Path]) -> None:
    charts = sample_build[1] / "charts"
    assert sorted(p.stem for p in charts.glob("*.svg")) == sorted(CHARTED + PLACE_CHARTS)
    for figure in CHARTED + PLACE_CHARTS:
        assert (charts / f"{figure}.svg").read_text().lstrip().startswith("<svg")
        assert (charts / f"{figure}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_each_png_is_the_chart_rasterised_from_its_spec(sample_build: tuple[Path, Path]
                                                         ) -> None:
    """The report rasterises the SVG it wrote rather than lay the chart out again: the PNG
    must be the bytes vl-convert makes from the chart's own spec."""
    database, reports = sample_build
    with duckdb.connect(str(database), read_only=True) as con:
        charts = build_charts(read_figures(con), synthetic=True)
    assert sorted(charts) == sorted(CHARTED)
    for figure, chart in charts.items():
        png = vl_convert.vegalite_to_png(spec_of(chart), scale=2)
        assert (reports / "charts" / f"{figure}.png").read_bytes() == png, figure


def test_index_is_self_contained(sample_build: tuple[Path, Path]) -> None:
    html = (sample_build[1] / "index.html").read_text()
    assert re.findall(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html) == []
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert html.count("<svg") >= len(CHARTED)
    for section in ("findings", "methods", "headlines", "charts", "tables", "data-quality",
                    "provenance"):
        assert f'id="{section}"' in html


def test_log_text_is_escaped_in_the_report(hostile_reports: Path) -> None:
    html = (hostile_reports / "index.html").read_text()
    for markup in ("<script", "<img src=", "<b>bold", "<svg onload", "onerror=alert(2)>"):
        assert markup not in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html  # the quarantined category, shown as text
    assert "&lt;img src=x onerror=alert(1)&gt;" in html  # a quarantined record_id
    assert "&lt;svg onload=alert(3)&gt;" in html  # quoted in an unparseable_date message
    assert "&lt;img src=f onerror=alert(4)&gt;.csv" in html  # an unreadable file's name


def test_data_quality_lists_every_reason_and_rule(dirty_build: Path) -> None:
    reports = dirty_build.parent / "reports"
    html = (reports / "index.html").read_text()
    for reason in ("unparseable_date", "future_date", "unknown_category", "duplicate_record_id",
                   "unreadable_file"):
        assert reason in html
    for rule in ("identical_row", "re_documented_item", "double_entry"):
        assert rule in html


def test_timings_are_kept_out_of_statistics(sample_build: tuple[Path, Path]) -> None:
    reports = sample_build[1]
    timings = json.loads((reports / TIMINGS_FILE).read_text())
    assert timings["seconds_by_step"]["figures"] >= 0
    peaks = timings["peak_bytes_after_step"]
    assert peaks.keys() == timings["seconds_by_step"].keys()
    assert list(peaks.values()) == sorted(peaks.values()) and min(peaks.values()) > 0
    cpu = timings["cpu_seconds_by_step"]
    assert cpu.keys() == peaks.keys() and min(cpu.values()) >= 0 and cpu["normalised_rows"] > 0
    statistics = (reports / "statistics.json").read_text()
    assert "seconds" not in statistics and str(reports) not in statistics


def test_low_reliability_shares_are_marked_and_explained(sample_build: tuple[Path, Path]
                                                         ) -> None:
    """Every flagged share, and only those, carries the mark in the tables and headlines;
    the note that explains it is shown where a mark is; charts draw flagged bars pale."""
    with duckdb.connect(str(sample_build[0]), read_only=True) as con:
        figures = read_figures(con)
    flagged = 0
    for frame in figures.values():
        flags = reliability_flags(frame.columns)
        shown = table(frame)
        for row, cells in zip(frame.iter_rows(named=True), shown["rows"], strict=True):
            for column, cell in zip(frame.columns, cells, strict=True):
                expected = column in flags and bool(row[flags[column]])
                assert cell.text.endswith(LOW_RELIABILITY_MARK) is expected, (column, row)
                flagged += expected
        assert shown["marked"] is any(frame[f].any() for f in flags.values())
    assert flagged > 0
    marked = [h for h in headlines(figures) if h.low_reliability]
    assert marked and all(h.value for h in marked)
    html = (sample_build[1] / "index.html").read_text()
    assert html.count(LOW_RELIABILITY_NOTE) >= 2  # headlines and a table
    bars = [row for chart in build_charts(figures, synthetic=True).values()
            for rows in chart.to_dict().get("datasets", {}).values() for row in rows
            if "reliability" in row]
    assert any(row["reliability"] == LOW_RELIABILITY for row in bars)
    assert all((row["reliability"] == LOW_RELIABILITY) is bool(row["low_reliability"])
               for row in bars)
    assert all(row["label"].split(";")[0].endswith(LOW_RELIABILITY_MARK)  # before any "; n ="
               is bool(row["low_reliability"]) for row in bars)


@pytest.fixture(scope="module")
def sample_figures(sample_build: tuple[Path, Path]) -> dict[str, pl.DataFrame]:
    with duckdb.connect(str(sample_build[0]), read_only=True) as con:
        return read_figures(con)


def _all_row(frame: pl.DataFrame, **where: str) -> dict:
    rows = frame.filter(pl.col("documented_in") == "All", *[pl.col(c) == v
                                                           for c, v in where.items()])
    return rows.row(0, named=True)


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


PERIOD = Period(dt.date(2014, 7, 14), dt.date(2017, 11, 28))


def test_findings_are_written_from_the_figures(sample_figures: dict[str, pl.DataFrame]
                                               ) -> None:
    """Each finding quotes its figure's share, interval and n; change the figure and the
    sentence follows."""
    findings = [f.text for f in key_findings(sample_figures, PERIOD)]
    assert 3 <= len(findings) <= 6
    summary = _all_row(sample_figures["documentation_summary"])
    assert f"{summary['weapons']:,} weapons" in findings[0]
    assert "from 14 July 2014 to 28 November 2017" in findings[0]
    top = sample_figures["weapons_by_origin"].filter(
        (pl.col("documented_in") == "All") & pl.col("share").is_not_null()).row(0, named=True)
    origin = next(f for f in findings if "weapons of known origin" in f)
    assert origin.startswith(f"{top['country']} made {_pct(top['share'])} (95% interval "
                             f"{_pct(top['ci_low'])} to {_pct(top['ci_high'])}; "
                             f"n = {top['n']:,} weapons)")
    eu = _all_row(sample_figures["eu_share"], item_kind="ammunition")
    assert (f"{_pct(eu['share'])} (95% interval {_pct(eu['ci_low'])} to {_pct(eu['ci_high'])}; "
            f"n = {eu['n']:,} records, effective n = {eu['effective_n']:,.0f})") in " ".join(
        findings)

    changed = dict(sample_figures)
    changed["weapons_by_origin"] = sample_figures["weapons_by_origin"].with_columns(
        share=pl.when((pl.col("country") == top["country"]) & (pl.col("documented_in") == "All"))
        .then(0.7777).otherwise(pl.col("share")))
    changed["documentation_summary"] = sample_figures["documentation_summary"].with_columns(
        weapons=pl.col("weapons") + 1)
    again = [f.text for f in key_findings(changed, Period(PERIOD.first, dt.date(2018, 1, 2)))]
    assert f"{summary['weapons'] + 1:,} weapons" in again[0] and "2 January 2018" in again[0]
    assert f"{top['country']} made 77.8% (95% interval" in " ".join(again)
    assert [a == b for a, b in zip(findings, again, strict=True)].count(False) == 2


def test_findings_mark_low_reliability_where_and_only_where_flagged(
        sample_figures: dict[str, pl.DataFrame]) -> None:
    def eu_flag(value: bool) -> dict[str, pl.DataFrame]:
        return {**sample_figures, "eu_share": sample_figures["eu_share"].with_columns(
            low_reliability=pl.lit(value))}

    for value in (True, False):
        eu = next(f for f in key_findings(eu_flag(value), PERIOD) if "European Union" in f.text)
        assert eu.low_reliability is value
        assert (LOW_RELIABILITY_MARK in eu.text) is value


def test_every_chart_says_synthetic_on_its_face_only_when_synthetic(
        sample_build: tuple[Path, Path], dirty_build: Path) -> None:
    synthetic = json.loads((sample_build[1] / "statistics.json").read_text())["synthetic"]
    plain = dirty_build.parent / "reports"
    assert synthetic and not json.loads((plain / "statistics.json").read_text())["synthetic"]
    for figure in CHARTED:
        assert SYNTHETIC_LABEL in (sample_build[1] / "charts" / f"{figure}.svg").read_text()
        assert SYNTHETIC_LABEL not in (plain / "charts" / f"{figure}.svg").read_text()


def test_csv_tables_keep_the_figure_columns_and_carry_the_label_only_when_synthetic(
        sample_build: tuple[Path, Path], dirty_build: Path) -> None:
    """A strict CSV reader gets the figure's columns and rows, no comment line; a synthetic
    build's tables add the label as a last column in every row, a real build's do not."""
    for database, reports, synthetic in (
            (*sample_build, True),
            (dirty_build / "armtrace.duckdb", dirty_build.parent / "reports", False)):
        with duckdb.connect(str(database), read_only=True) as con:
            for path in sorted((reports / "tables").glob("*.csv")):
                columns = [d[0] for d in con.sql(f"SELECT * FROM fig_{path.stem} LIMIT 0")
                           .description]
                (header, *rows) = list(csv.reader(path.open(newline="", encoding="utf-8")))
                ((count,),) = con.sql(f"SELECT count(*) FROM fig_{path.stem}").fetchall()
                assert len(rows) == count, path.name
                if synthetic:
                    assert header == [*columns, SYNTHETIC_COLUMN], path.name
                    assert all(row[-1] == SYNTHETIC_LABEL for row in rows), path.name
                else:
                    assert header == columns, path.name
                    assert SYNTHETIC_LABEL not in path.read_text(), path.name


def test_the_page_labels_print_and_tables_only_when_synthetic(sample_build: tuple[Path, Path],
                                                              dirty_build: Path) -> None:
    html = (sample_build[1] / "index.html").read_text()
    plain = (dirty_build.parent / "reports" / "index.html").read_text()
    page_rule = re.compile(r"@top-center \{ content: \"" + re.escape(SYNTHETIC_LABEL))
    assert page_rule.search(html) and "@bottom-center" in html
    assert not page_rule.search(plain) and SYNTHETIC_LABEL not in plain
    assert html.count(f"<caption>{SYNTHETIC_LABEL}</caption>") >= 12  # headlines, each figure
    assert "@media print" in html and "@media print" in plain


def test_the_report_points_inside_the_repository(sample_build: tuple[Path, Path],
                                                 dirty_build: Path) -> None:
    for html in ((sample_build[1] / "index.html").read_text(),
                 (dirty_build.parent / "reports" / "index.html").read_text()):
        assert "shared/spec" not in html and "docs/figures.md" in html
    templates = Path(__file__).parent.parent / "pipeline" / "report" / "templates"
    assert all("shared/spec" not in p.read_text() for p in templates.iterdir())


def test_small_countries_are_one_other_bar_in_charts_only(
        sample_figures: dict[str, pl.DataFrame], sample_build: tuple[Path, Path]) -> None:
    weapons = sample_figures["weapons_by_origin"].filter(pl.col("documented_in") == "All")
    known = weapons.filter(pl.col("share").is_not_null())
    drawn = with_other(weapons)
    small = known.filter(pl.col("share") < OTHER_BELOW)
    assert small.height >= 2
    assert drawn["country"].to_list() == [
        *known.filter(pl.col("share") >= OTHER_BELOW)["country"], OTHER]
    assert drawn.filter(pl.col("country") == OTHER)["share"].item() == pytest.approx(
        small["share"].sum())
    # a near miss: one country under the threshold stays itself
    one_small = known.filter(pl.col("share") >= OTHER_BELOW).vstack(small.head(1))
    assert OTHER not in with_other(one_small)["country"].to_list()
    html = (sample_build[1] / "index.html").read_text()
    table = html.split("<code>weapons_by_origin</code> (", 1)[1]
    assert table.startswith(f"{sample_figures['weapons_by_origin'].height} rows")


def test_share_charts_draw_intervals_on_a_zoomed_axis_and_years_on_a_year_axis(
        sample_figures: dict[str, pl.DataFrame]) -> None:
    charts = {k: c.to_dict() for k, c in build_charts(sample_figures, synthetic=False).items()}
    spec = charts["weapons_by_origin"]
    marks = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]
             for layer in spec["layer"]]
    assert marks == ["bar", "errorbar", "text"]
    upper = spec["layer"][0]["encoding"]["x"]["scale"]["domain"][1]
    weapons = sample_figures["weapons_by_origin"].filter(pl.col("documented_in") == "All")
    assert weapons["ci_high"].max() < upper < 1
    year = charts["manufacture_year"]["spec"]["encoding"]["x"]
    assert year["type"] == "quantitative" and year["axis"]["format"] == "d"
    family = json.dumps(charts["calibre_family"]["datasets"])
    assert "Warsaw Pact" in family and "warsaw_pact" not in family
    assert SYNTHETIC_LABEL not in json.dumps(charts)
    anti_armour = json.dumps(charts["anti_armour_recent"]["datasets"])
    assert "no units: no share" in anti_armour  # Syria has no recent anti-armour units


def test_a_long_table_shows_its_first_rows_and_says_how_many_there_are(
        sample_build: tuple[Path, Path]) -> None:
    long = pl.DataFrame({"site": [f"s{i}" for i in range(MAX_PAGE_ROWS + 1)]})
    shown = table(long, MAX_PAGE_ROWS)
    assert (len(shown["rows"]), shown["total"]) == (MAX_PAGE_ROWS, MAX_PAGE_ROWS + 1)
    assert shown["rows"][-1][0].text == f"s{MAX_PAGE_ROWS - 1}"
    assert len(table(long)["rows"]) == MAX_PAGE_ROWS + 1  # data-quality tables: every row
    html = (sample_build[1] / "index.html").read_text()
    years = json.loads((sample_build[1] / "statistics.json").read_text())["figures"][
        "manufacture_year"]
    assert f"<code>manufacture_year</code> ({len(years):,} rows;" in html
    assert "shown;" not in html  # the sample's tables are all under the cap


def test_every_share_chart_shows_the_sample_size_of_its_shares(sample_figures) -> None:
    """n on the chart's face: in the title when one n serves every bar, in a panel's heading
    when one serves the panel, else beside each share."""
    charts = {k: json.dumps(c.to_dict()) for k, c in
              build_charts(sample_figures, synthetic=False).items()}
    weapons = sample_figures["weapons_by_origin"].filter(documented_in="All")
    assert f"all documented); n = {weapons['n'].drop_nulls()[0]:,}" in charts["weapons_by_origin"]
    calibres = sample_figures["calibre_family"].filter(documented_in="All", item_kind="weapons")
    assert f"Weapons (share of items) (n = {calibres['n'][0]:,})" in charts["calibre_family"]
    for row in sample_figures["eu_share"].iter_rows(named=True):
        assert f"; n = {row['n']:,}" in charts["eu_share"], row
