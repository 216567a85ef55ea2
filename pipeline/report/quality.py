"""The data-quality section: what was quarantined and merged, with a few examples of each,
and every analyst correction applied."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl

EXAMPLES_PER_GROUP = 3


@dataclass(frozen=True)
class QualitySummary:
    accounting: pl.DataFrame  # measure, rows
    quarantine_by_reason: pl.DataFrame  # reason, rows
    quarantine_examples: pl.DataFrame  # reason, source_file, source_line, record_id, problem
    merges_by_rule: pl.DataFrame  # rule, rows
    merge_examples: pl.DataFrame  # rule, dropped/kept record ids, files, lines
    file_problems: pl.DataFrame  # path, status, problem
    corrections: pl.DataFrame  # analysts' corrections applied, one row per row changed


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
    )
