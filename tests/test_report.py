"""The reports folder: charts, a self-contained index.html that escapes log text, timings
kept apart, and a page that renders in headless Chromium with the network off."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
import vl_convert

from pipeline.cli import TIMINGS_FILE
from pipeline.report.charts import LOW_RELIABILITY, build_charts
from pipeline.report.html import (
    LOW_RELIABILITY_MARK,
    LOW_RELIABILITY_NOTE,
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
        charts = build_charts(read_figures(con))
    assert sorted(charts) == sorted(CHARTED)
    for figure, chart in charts.items():
        png = vl_convert.vegalite_to_png(chart.to_dict(), scale=2)
        assert (reports / "charts" / f"{figure}.png").read_bytes() == png, figure


def test_index_is_self_contained(sample_build: tuple[Path, Path]) -> None:
    html = (sample_build[1] / "index.html").read_text()
    assert re.findall(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html) == []
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert html.count("<svg") >= len(CHARTED)
    for section in ("headlines", "charts", "tables", "data-quality", "provenance"):
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


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (see docs/report.md "
                                             "for the manual check)")
def test_index_renders_in_headless_chromium_offline(sample_build: tuple[Path, Path],
                                                    tmp_path: Path) -> None:
    index = sample_build[1] / "index.html"
    offline = ["--headless", "--no-sandbox", "--disable-gpu", "--proxy-server=127.0.0.1:9",
               "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={tmp_path / 'p'}"]
    dom = subprocess.run([CHROMIUM, *offline, "--dump-dom", index.as_uri()],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    rendered_charts = re.findall(r'<figure id="chart-([a-z_]+)">\s*<svg', dom)
    assert sorted(rendered_charts) == sorted(CHARTED)
    shot = tmp_path / "index.png"
    subprocess.run([CHROMIUM, *offline, f"--screenshot={shot}", "--window-size=1200,4000",
                    index.as_uri()], capture_output=True, timeout=120, check=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 100_000


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
    bars = [row for chart in build_charts(figures).values()
            for rows in chart.to_dict().get("datasets", {}).values() for row in rows
            if "reliability" in row]
    assert any(row["reliability"] == LOW_RELIABILITY for row in bars)
    assert all((row["reliability"] == LOW_RELIABILITY) is row["low_reliability"] for row in bars)
