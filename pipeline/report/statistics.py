"""statistics.json: every figure, the input fingerprint, the settings and the library versions.

The document is a pure function of the curated database and the settings: no wall-clock time,
absolute paths or host names, keys sorted, so two builds of the same inputs give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from pipeline.stages.discover import sha256_of
from pipeline.stages.figures import FigureSettings

SCHEMA_VERSION = "1.2"
"""Version of the published figures' interface (docs/figures.md); bump on any change."""

LIBRARIES = ("armtrace", "altair", "dagster", "duckdb", "numpy", "polars", "pycountry", "scipy",
             "vl-convert-python")


def library_versions() -> dict[str, str]:
    return {name: version(name) for name in LIBRARIES}


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def figure_rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [{k: _json_value(v) for k, v in row.items()} for row in frame.iter_rows(named=True)]


def input_fingerprint(con: duckdb.DuckDBPyConnection, reference_dir: Path) -> dict[str, Any]:
    """Each raw file's path (relative), SHA-256 and row counts, the reference files' hashes,
    the hashes of the corrections files applied (from the `corrections` table, so they are
    the bytes the build read), the build's row accounting, and one SHA-256 over all of it."""
    files = con.sql("""
        SELECT f.path, f.sha256, f.size_bytes, f.status, coalesce(f.rows_read, 0) AS rows_in,
               (SELECT count(*) FROM quarantine AS q WHERE q.source_file = f.path) AS quarantined,
               (SELECT count(*) FROM dedup_decisions AS d WHERE d.dropped_file = f.path)
                   AS merged,
               (SELECT count(*) FROM record_versions AS v WHERE v.source_file = f.path)
                   AS superseded,
               (SELECT count(*) FROM items AS i WHERE i.source_file = f.path) AS items,
               (SELECT count(*) FROM transfers AS t WHERE t.source_file = f.path) AS transfers
        FROM source_files AS f ORDER BY f.path
    """).pl()
    reference = [{"path": p.name, "sha256": sha256_of(p)}
                 for p in sorted(reference_dir.glob("*.csv"))]
    corrections = figure_rows(con.sql("""
        SELECT corrections_file AS path, min(corrections_sha256) AS sha256,
               count(DISTINCT entry) AS corrections, count(*) AS rows_changed
        FROM corrections GROUP BY corrections_file ORDER BY corrections_file
    """).pl())
    totals = {column: int(files[column].sum())
              for column in ("rows_in", "items", "superseded", "merged", "quarantined",
                             "transfers")}
    listing = figure_rows(files)
    digest = hashlib.sha256(json.dumps([listing, reference, corrections],
                                       sort_keys=True).encode()).hexdigest()
    return {"sha256": digest, "files": listing, "reference_files": reference,
            "correction_files": corrections, **totals}


def statistics_document(
    figures: dict[str, pl.DataFrame], settings: FigureSettings, fingerprint: dict[str, Any],
    synthetic: bool,
) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "synthetic": synthetic,
        "settings": settings.as_json(),
        "input": fingerprint,
        "libraries": library_versions(),
        "figures": {figure: figure_rows(frame) for figure, frame in figures.items()},
    }


def dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
