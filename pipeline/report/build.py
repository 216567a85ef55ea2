"""Stage 7: the reports folder, built from the curated database into a staging folder.

statistics.json, tables/<id>.csv, charts/<id>.svg and .png, index.html. Publishing (the swap
into the reports folder) is the publish stage's job.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import altair as alt
import duckdb
import polars as pl

from pipeline.provenance import raw_provenance
from pipeline.report.charts import (
    SYNTHETIC_COLUMN,
    SYNTHETIC_LABEL,
    build_charts,
    captions,
    render,
)
from pipeline.report.diversion import chain_rows, diversion_issues, transfer_stories
from pipeline.report.findings import documentation_period
from pipeline.report.html import render_index
from pipeline.report.investigation import investigation
from pipeline.report.maps import documented_countries, place_charts, places_section
from pipeline.report.quality import anti_armour_basis, quality_summary
from pipeline.report.statistics import dump, input_fingerprint, statistics_document
from pipeline.safe_csv import write_safe_csv
from pipeline.stages.figures import FigureSettings, read_figures


def build_reports(con: duckdb.DuckDBPyConnection, out_dir: Path, raw_dir: Path,
                  reference_dir: Path, settings: FigureSettings) -> dict[str, int]:
    """Write every report file into `out_dir` (emptied first); return file counts by kind.
    MixedRawFolder (nothing written) when the raw files mix the sample with other logs."""
    raw_files = con.sql("SELECT path, dataset, sha256 FROM source_files").pl()
    provenance = raw_provenance(raw_dir, raw_files, reference_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    (out_dir / "tables").mkdir(parents=True)
    (out_dir / "charts").mkdir()
    figures = read_figures(con)
    statistics = statistics_document(figures, settings, input_fingerprint(con, reference_dir),
                                     synthetic=provenance.synthetic)
    (out_dir / "statistics.json").write_text(dump(statistics), encoding="utf-8")
    synthetic = statistics["synthetic"]
    for figure, frame in figures.items():
        write_safe_csv(labelled(frame, synthetic), out_dir / "tables" / f"{figure}.csv")
    svgs = {}
    for figure, chart in build_charts(figures, synthetic).items():
        svgs[figure] = write_chart(chart, out_dir / "charts" / figure)
    place_svgs = {figure: write_chart(chart, out_dir / "charts" / figure, MAP_PNG_SCALE)
                  for figure, chart
                  in place_charts(figures, documented_countries(con), synthetic).items()}
    html = render_index(statistics, figures, svgs, quality_summary(con),
                        transfer_stories(chain_rows(con)), diversion_issues(con),
                        anti_armour_basis(con), investigation(con, figures),
                        documentation_period(con), captions(figures),
                        places_section(figures, place_svgs))
    (out_dir / "index.html").write_text(html, encoding="utf-8")
    return {"tables": len(figures), "charts": len(svgs) + len(place_svgs)}


MAP_PNG_SCALE = 1
"""The place charts' PNGs at their own size, not doubled like the others: rasterising the
map's filled outlines at twice the size took a second of the report's time."""


def write_chart(chart: alt.TopLevelMixin, stem: Path, png_scale: float = 2) -> str:
    """Write the chart as <stem>.svg and <stem>.png; return the SVG."""
    svg, png = render(chart, png_scale)
    stem.with_suffix(".svg").write_text(svg, encoding="utf-8")
    stem.with_suffix(".png").write_bytes(png)
    return svg


def labelled(frame: pl.DataFrame, synthetic: bool) -> pl.DataFrame:
    """A figure's CSV table: its columns, and in a synthetic build the label as a last column
    SYNTHETIC_COLUMN in every row (the figure's own columns come first, unchanged; a comment
    line would be a row to a strict CSV reader)."""
    if not synthetic:
        return frame
    return frame.with_columns(pl.lit(SYNTHETIC_LABEL).alias(SYNTHETIC_COLUMN))
