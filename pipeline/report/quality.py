"""The data-quality section: what was quarantined and merged, with a few examples of each,
every analyst correction applied, and the vocabulary the build did not understand (headers
that matched no column, models and calibres the reference does not know)."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl

from pipeline.sql_literal import sql_string
from pipeline.stages.clean import UNKNOWN_MARKERS

EXAMPLES_PER_GROUP = 3
_MARKERS = ", ".join(sql_string(m) for m in UNKNOWN_MARKERS)
_WRITTEN = f"IS NOT NULL AND lower(trim({{}})) NOT IN ({_MARKERS})"

UNMATCHED_HEADERS_SQL = """
SELECT header, count(*) AS files, string_agg(path, ', ' ORDER BY path) AS paths
FROM (SELECT path, unnest(unmatched_headers) AS header FROM source_files)
GROUP BY header ORDER BY files DESC, header
"""
HEADER_WARNINGS_SQL = """
SELECT path, unnest(header_warnings) AS warning FROM source_files ORDER BY path
"""
UNKNOWN_MODELS_SQL = f"""
SELECT min(model) AS model, string_agg(DISTINCT category, ', ' ORDER BY category) AS category,
       count(*) AS records, sum(quantity)::BIGINT AS units
FROM items WHERE model {_WRITTEN.format('model')} AND model_designation IS NULL
GROUP BY model_key ORDER BY units DESC, model
"""
UNKNOWN_CALIBRES_SQL = f"""
SELECT calibre_recorded AS calibre, count(*) AS records, sum(quantity)::BIGINT AS units
FROM items WHERE calibre_recorded {_WRITTEN.format('calibre_recorded')} AND calibre IS NULL
GROUP BY calibre_recorded ORDER BY units DESC, calibre
"""
ANTI_ARMOUR_BASIS_SQL = f"""
SELECT coalesce(sum(quantity), 0)::BIGINT AS units,
       coalesce(sum(quantity) FILTER (WHERE model_designation IS NOT NULL), 0)::BIGINT
           AS classified_units,
       coalesce(sum(quantity) FILTER (WHERE model {_WRITTEN.format('model')}
                                      AND model_designation IS NULL), 0)::BIGINT
           AS unclassified_units,
       coalesce(sum(quantity) FILTER (WHERE NOT (model {_WRITTEN.format('model')})
                                      OR model IS NULL), 0)::BIGINT AS no_model_units
FROM items WHERE category IN ('rocket', 'guided missile')
"""


@dataclass(frozen=True)
class QualitySummary:
    accounting: pl.DataFrame  # measure, rows
    quarantine_by_reason: pl.DataFrame  # reason, rows
    quarantine_examples: pl.DataFrame  # reason, source_file, source_line, record_id, problem
    merges_by_rule: pl.DataFrame  # rule, rows
    merge_examples: pl.DataFrame  # rule, dropped/kept record ids, files, lines
    file_problems: pl.DataFrame  # path, status, problem
    corrections: pl.DataFrame  # analysts' corrections applied, one row per row changed
    unmatched_headers: pl.DataFrame  # header, files, paths
    header_warnings: pl.DataFrame  # path, warning
    unknown_models: pl.DataFrame  # model, category, records, units
    unknown_calibres: pl.DataFrame  # calibre, records, units


def quality_summary(con: duckdb.DuckDBPyConnection) -> QualitySummary:
    return QualitySummary(
        accounting=con.sql("""
            SELECT 'rows in' AS measure, coalesce(sum(rows_read), 0)::BIGINT AS rows
            FROM source_files
            UNION ALL SELECT 'items', count(*) FROM items
            UNION ALL SELECT 'superseded versions', count(*) FROM record_versions
            UNION ALL SELECT 'merged', count(*) FROM dedup_decisions
            UNION ALL SELECT 'quarantined', count(*) FROM quarantine
            UNION ALL SELECT 'transfer records', count(*) FROM transfers
        """).pl(),
        quarantine_by_reason=con.sql("""
            SELECT reason, count(*) AS rows
            FROM (SELECT unnest(reasons) AS reason FROM quarantine)
            GROUP BY reason ORDER BY rows DESC, reason
        """).pl(),
        quarantine_examples=con.sql(f"""
            SELECT reason, source_file, source_line, record_id, problem
            FROM (
                SELECT unnest(reasons) AS reason, unnest(problems) AS problem, source_file,
                       source_line, record_id, row_number
                FROM quarantine
            )
            QUALIFY row_number() OVER (PARTITION BY reason ORDER BY row_number)
                <= {EXAMPLES_PER_GROUP}
            ORDER BY reason, row_number
        """).pl(),
        merges_by_rule=con.sql("""
            SELECT rule, count(*) AS rows FROM dedup_decisions GROUP BY rule ORDER BY rule
        """).pl(),
        merge_examples=con.sql(f"""
            SELECT rule, dropped_record_id, dropped_file, dropped_line,
                   kept_record_id, kept_file, kept_line
            FROM dedup_decisions
            QUALIFY row_number() OVER (PARTITION BY rule ORDER BY dropped_row)
                <= {EXAMPLES_PER_GROUP}
            ORDER BY rule, dropped_row
        """).pl(),
        file_problems=con.sql("""
            SELECT path, status, problem FROM source_files
            WHERE problem IS NOT NULL OR status NOT IN ('ok', 'not_read')
            ORDER BY path
        """).pl(),
        corrections=con.sql("""
            SELECT corrections_file, entry, record_id, field, expected, value, reason,
                   decided_by, decided_on, source_file, source_line
            FROM corrections ORDER BY corrections_file, entry, row_number
        """).pl(),
        unmatched_headers=con.sql(UNMATCHED_HEADERS_SQL).pl(),
        header_warnings=con.sql(HEADER_WARNINGS_SQL).pl(),
        unknown_models=con.sql(UNKNOWN_MODELS_SQL).pl(),
        unknown_calibres=con.sql(UNKNOWN_CALIBRES_SQL).pl(),
    )


def anti_armour_basis(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rocket and guided-missile units in items: all, with a model ref_models classifies,
    with a model it does not (counted as not anti-armour), and with no model recorded."""
    return con.sql(ANTI_ARMOUR_BASIS_SQL).pl().row(0, named=True)


SHOWN_PER_LIST = 10


def vocabulary_lines(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The build summary's lines on what the build did not understand: header warnings in
    full, then unmatched headers, unknown models and unknown calibres (the most frequent
    first, SHOWN_PER_LIST of each)."""
    lines = [f"warning: {path}: {warning}"
             for path, warning in con.sql(HEADER_WARNINGS_SQL).fetchall()]

    def listing(title: str, rows: list[tuple[str, str]], query: str) -> None:
        if not rows:
            return
        lines.append(title)
        width = max(len(name) for name, _ in rows[:SHOWN_PER_LIST])
        lines.extend(f"  {name:<{width}}  {count}" for name, count in rows[:SHOWN_PER_LIST])
        if len(rows) > SHOWN_PER_LIST:
            lines.append(f"  and {len(rows) - SHOWN_PER_LIST} more: armtrace sql \"{query}\"")

    headers = con.sql(UNMATCHED_HEADERS_SQL).fetchall()
    listing("unmatched headers (values kept in extra; docs/accepted-headers.md lists the "
            "accepted ones):",
            [(repr(h), f"{n:,} file{'s' * (n != 1)}") for h, n, _ in headers],
            "SELECT path, unmatched_headers FROM source_files")
    models = con.sql(UNKNOWN_MODELS_SQL).fetchall()
    listing("models not in data/reference/models.csv (not counted as anti-armour):",
            [(f"{m!r} ({c})", f"{r:,} records, {u:,} units") for m, c, r, u in models],
            "SELECT model, count(*) FROM items WHERE model_designation IS NULL GROUP BY ALL")
    calibres = con.sql(UNKNOWN_CALIBRES_SQL).fetchall()
    listing("calibres not read (family unknown; add aliases to data/reference/calibres.csv):",
            [(repr(c), f"{r:,} records, {u:,} units") for c, r, u in calibres],
            "SELECT calibre_recorded, count(*) FROM items WHERE calibre IS NULL GROUP BY ALL")
    return lines
