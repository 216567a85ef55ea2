"""The asset checks: what must hold before a build may publish.

Every check is blocking unless it says otherwise, so a failure stops the run before the
report and the publish step, and the previous database and reports stay as they were.

- `every_row_accounted_for` (resolved_rows): each input row has one disposition.
- `parsed_rows_expectations` (normalised_rows), `items_expectations` (curated_tables): the
  Great Expectations suites of pipeline/validation.py (ERROR expectations block, WARN ones
  are reported).
- `row_accounting` (curated_tables): rows in equal rows placed; the quarantined share is at
  most the threshold.
- `reconciliation` (figures): the figures agree with each other and with items
  (pipeline/figures/reconcile.sql).
"""


import shlex
from pathlib import Path

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource
from duckdb import DuckDBPyConnection

from pipeline.assets import counts, curated_tables, figures, preview, resolved_rows, run_cut_off
from pipeline.resources import ArmtraceFolders, SuiteProcess, ValidationSettings
from pipeline.stages import reconcile
from pipeline.suite_process import (
    SUITES_IN_OWN_PROCESS_ABOVE,
    in_own_process,
    in_spare_process,
    spare_process_started,
    start_spare_process,
)
from pipeline.validation import (
    DATA_DOCS_DIR,
    PARSED_ROWS_SUITE,
    SuiteResult,
    describe_failures,
    failure_records,
    run_suite,
    validate_items,
    validate_items_at,
)


@dg.asset_check(asset=resolved_rows, blocking=True)
def every_row_accounted_for(resolved_rows: pl.LazyFrame) -> dg.AssetCheckResult:
    """Each input row has exactly one disposition, and merges point at a row that stayed."""
    resolved_rows = resolved_rows.select("row_number", "disposition", "resolved_to_row").collect()
    unique_rows = resolved_rows["row_number"].n_unique() == resolved_rows.height
    dispositions = counts(resolved_rows, "disposition")
    known = set(dispositions) <= {"item", "superseded", "merged", "quarantined"}
    targets = resolved_rows.filter(pl.col("resolved_to_row").is_not_null())["resolved_to_row"]
    dangling = targets.is_in(resolved_rows["row_number"].implode()).not_().sum()
    return dg.AssetCheckResult(
        passed=bool(unique_rows and known and dangling == 0),
        metadata={"rows": resolved_rows.height, "dispositions": dg.MetadataValue.json(dispositions),
                  "dangling_references": int(dangling)},
    )


def suite_check_result(result: SuiteResult) -> dg.AssetCheckResult:
    """Failed if an ERROR expectation failed (blocks), WARN if only WARN ones did."""
    severity = dg.AssetCheckSeverity.ERROR if not result.passed else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(
        passed=not result.failed(), severity=severity,
        metadata={"rows": result.rows, "expectations": len(result.outcomes),
                  "failed": dg.MetadataValue.json(failure_records(result)),
                  "failures": dg.MetadataValue.md(describe_failures(result)),
                  "data_docs": dg.MetadataValue.path(str(result.data_docs))})


@dg.asset_check(asset=dg.AssetKey("normalised_rows"), blocking=True)
def parsed_rows_expectations(folders: ArmtraceFolders, suite_process: SuiteProcess,
                             normalised_rows: pl.LazyFrame) -> dg.AssetCheckResult:
    """GX suite on the rows as parsed: row_number a unique key, provenance on every row (the
    read stage's columns, which corrections and cleaning leave as they are). `suite_process`
    started the spare this suite runs in, for a small build, as the run started."""
    docs = folders.paths.work_dir / DATA_DOCS_DIR / "parsed_rows"
    rows = normalised_rows.select(pl.len()).collect().item()
    if rows <= SUITES_IN_OWN_PROCESS_ABOVE:
        if spare_process_started():  # a small build's, kept for the items suite too
            return suite_check_result(in_spare_process(run_suite, "parsed_rows",
                                                       normalised_rows, PARSED_ROWS_SUITE, docs))
        return suite_check_result(run_suite("parsed_rows", normalised_rows, PARSED_ROWS_SUITE,
                                            docs))
    # the spare, for the items suite (which will have as many rows or nearly), imports GX
    # beside this suite, on the core this suite and the waiting build leave idle
    return suite_check_result(in_own_process(run_suite, "parsed_rows", normalised_rows,
                                             PARSED_ROWS_SUITE, docs,
                                             meanwhile=start_spare_process))


@dg.asset_check(asset=curated_tables, blocking=True)
def items_expectations(context: dg.AssetCheckExecutionContext, folders: ArmtraceFolders,
                       suite_process: SuiteProcess, duckdb: DuckDBResource
                       ) -> dg.AssetCheckResult:
    """GX suite on items: required fields, value sets, ranges, unique keys (in the spare
    `suite_process` started, if it did)."""
    docs = folders.paths.work_dir / DATA_DOCS_DIR / "items"
    today = run_cut_off(context)
    with duckdb.get_connection() as con:
        items = con.sql("SELECT count(*) FROM items").fetchall()[0][0]
        if items <= SUITES_IN_OWN_PROCESS_ABOVE and not spare_process_started():
            return suite_check_result(validate_items(con, today, docs))
    return suite_check_result(in_own_process(
        validate_items_at, duckdb.database, duckdb.connection_config, today, docs,
        meanwhile=prepare_report_charts))


def prepare_report_charts() -> None:
    """Import the report's chart libraries (altair: 0.75 s), start vl-convert's engine (1 s)
    and decode the map's country outlines (0.3 s): what the build does while it waits for the
    items suite's process, rather than in the definitions' import or the report."""
    from pipeline.report.charts import start_chart_engine
    from pipeline.report.maps import countries

    start_chart_engine()
    countries()


ROW_ACCOUNTING_SQL = """
SELECT (SELECT coalesce(sum(rows_read), 0)::BIGINT FROM source_files) AS rows_in,
       (SELECT count(*) FROM items) AS items,
       (SELECT count(*) FROM record_versions) AS superseded,
       (SELECT count(*) FROM dedup_decisions) AS merged,
       (SELECT count(*) FROM quarantine) AS quarantined,
       (SELECT count(*) FROM transfers) AS transfers
"""


@dg.asset_check(asset=curated_tables, blocking=True)
def row_accounting(duckdb: DuckDBResource,
                   validation: ValidationSettings) -> dg.AssetCheckResult:
    """Rows in == items + superseded + merged + quarantined + transfers, and the quarantined
    share is at
    most max_quarantined_share (plain SQL: a sum across tables is not a GX column check)."""
    with duckdb.get_connection() as con:
        rows = con.sql(ROW_ACCOUNTING_SQL).pl().row(0, named=True)
    placed = (rows["items"] + rows["superseded"] + rows["merged"] + rows["quarantined"]
              + rows["transfers"])
    share = rows["quarantined"] / rows["rows_in"] if rows["rows_in"] else 0.0
    failed = []
    if placed != rows["rows_in"]:
        failed.append({"expectation": "rows_in_equal_rows_placed", "column": None,
                       "severity": "ERROR", "unexpected": abs(rows["rows_in"] - placed),
                       "examples": [f"rows in {rows['rows_in']}, placed {placed}"]})
    limit = validation.max_quarantined_share
    if share > limit:
        with duckdb.get_connection() as con:
            details = quarantine_details(con, Path(duckdb.database))
        failed.append({"expectation": "quarantined_share_at_most_max", "column": None,
                       "severity": "ERROR", "unexpected": rows["quarantined"],
                       "examples": [f"quarantined share {share:.4f} > "
                                    f"--max-quarantined-share {limit:g}"],
                       "details": details})
    return dg.AssetCheckResult(passed=not failed, metadata={
        **rows, "quarantined_share": share,
        "max_quarantined_share": validation.max_quarantined_share,
        "failed": dg.MetadataValue.json(failed)})


SHOWN_QUARANTINE_GROUPS = 5
QUARANTINED_BY_FILE_SQL = """
WITH by_reason AS (
    SELECT source_file, reason, count(*) AS rows
    FROM (SELECT source_file, unnest(reasons) AS reason FROM quarantine) GROUP BY ALL)
SELECT source_file, any_value(file_rows) AS rows,
       string_agg(reason || ' ' || by_reason.rows, ', '
                  ORDER BY by_reason.rows DESC, reason) AS reasons
FROM (SELECT source_file, count(*) AS file_rows FROM quarantine GROUP BY ALL)
     JOIN by_reason USING (source_file)
GROUP BY source_file ORDER BY rows DESC, source_file
"""
QUARANTINED_BY_REASON_SQL = """
SELECT reason, count(*) AS rows FROM (SELECT unnest(reasons) AS reason FROM quarantine)
GROUP BY ALL ORDER BY rows DESC, reason
"""
INSPECT_QUARANTINE_SQL = ("SELECT source_file, source_line, reasons, problems, cells "
                          "FROM quarantine ORDER BY source_file, source_line")


def quarantine_details(con: DuckDBPyConnection, database: Path) -> list[str]:
    """What a blocked build quarantined, for the one who has to fix it: the files with the
    most quarantined rows and their reasons, the commonest reasons, and how to look at the
    rows in the database the build leaves behind."""
    files = con.sql(QUARANTINED_BY_FILE_SQL).fetchall()
    reasons = con.sql(QUARANTINED_BY_REASON_SQL).fetchall()
    top = SHOWN_QUARANTINE_GROUPS
    lines = [f"quarantined rows by file ({min(top, len(files))} of {len(files)} files):"]
    lines += [f"{rows:>8,}  {path}: {why}" for path, rows, why in files[:top]]
    lines.append(f"by reason ({min(top, len(reasons))} of {len(reasons)}; a row may have "
                 f"more than one):")
    lines += [f"{rows:>8,}  {reason}" for reason, rows in reasons[:top]]
    command = shlex.join(["armtrace", "sql", "--curated", str(database.parent),
                          INSPECT_QUARANTINE_SQL, "--format", "csv"])
    lines += [f"the blocked build's database, kept until the next build: {database}",
              f"  every quarantined row: {command}"]
    return lines


@dg.asset_check(asset=figures, blocking=True, name="reconciliation")
def reconciliation_check(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    """The figures agree with each other and with items: shares sum to 1, groups add up to All,
    the summary's counts equal the totals behind every breakdown (docs/figures.md)."""
    with duckdb.get_connection() as con:
        results = reconcile.reconciliation(con)
    failed = reconcile.failures(results)
    summary = (f"{failed.height} of {results.height} checks failed:\n"
               f"{reconcile.describe_failures(failed)}")
    return dg.AssetCheckResult(
        passed=failed.is_empty(), description=summary if failed.height else None,
        metadata={
            "rules": results["rule"].n_unique(), "checks": results.height,
            "failures": failed.height,
            "failures_by_rule": dg.MetadataValue.json(counts(failed, "rule")),
            "failing_checks": preview(failed.drop("passed"), rows=10),
        },
    )


ASSET_CHECKS = [every_row_accounted_for, parsed_rows_expectations, items_expectations,
                row_accounting, reconciliation_check]
