"""`armtrace`: build the curated database through Dagster, and query it."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl

from pipeline.definitions import BUILD_JOB, build_definitions
from pipeline.paths import Paths

STAGE_OF_STEP = {
    "raw_files": "discover", "read_logs": "read", "normalised_rows": "clean",
    "resolved_rows": "resolve", "curated_tables": "write", "published_database": "publish",
}


class _ProgressHandler(logging.Handler):
    """Prints one line per finished (or failed) step of the Dagster run."""

    def __init__(self) -> None:
        super().__init__()
        self.started: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "dagster_meta", {}).get("dagster_event")
        if event is None or event.step_key is None:
            return
        step = event.step_key
        if event.event_type_value == "STEP_START":
            self.started[step] = time.perf_counter()
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            seconds = time.perf_counter() - self.started.get(step, time.perf_counter())
            status = "ok" if event.event_type_value == "STEP_SUCCESS" else "FAILED"
            label = STAGE_OF_STEP.get(step, "check")
            print(f"  {label:<8} {step:<45} {status:>6} {seconds:6.2f}s", file=sys.stderr)


@dg.logger
def progress_logger(_: dg.InitLoggerContext) -> logging.Logger:
    log = logging.Logger("armtrace.progress", level=logging.DEBUG)
    log.addHandler(_ProgressHandler())
    return log


def _instance() -> dg.DagsterInstance:
    """The persistent instance when DAGSTER_HOME is set (runs show in `dg dev`), else a
    throwaway one."""
    return dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else (
        dg.DagsterInstance.ephemeral())


def run_build(paths: Paths, today: str | None = None) -> dg.ExecuteInProcessResult:
    defs = dg.Definitions.merge(build_definitions(paths),
                                dg.Definitions(loggers={"progress": progress_logger}))
    run_config = {
        "loggers": {"progress": {}},
        "ops": {"normalised_rows": {"config": {"today": today}}},
    }
    with _instance() as instance:
        return defs.resolve_job_def(BUILD_JOB).execute_in_process(
            run_config=run_config, instance=instance, raise_on_error=False)


SUMMARY_SQL = """
SELECT 'files' AS measure, count(*) AS value FROM source_files
UNION ALL SELECT 'unreadable files', count(*) FROM source_files WHERE status = 'unreadable'
UNION ALL SELECT 'rows in', coalesce(sum(rows_read), 0) FROM source_files
UNION ALL SELECT 'items', count(*) FROM items
UNION ALL SELECT 'superseded versions', count(*) FROM record_versions
UNION ALL SELECT 'merged', count(*) FROM dedup_decisions
UNION ALL SELECT 'quarantined', count(*) FROM quarantine
"""

BREAKDOWN_SQL = """
SELECT 'merged: ' || rule AS measure, count(*) AS value FROM dedup_decisions GROUP BY rule
UNION ALL
SELECT 'quarantined: ' || reason, count(*) FROM (SELECT unnest(reasons) AS reason FROM quarantine)
GROUP BY reason
ORDER BY measure
"""


def print_summary(database: Path) -> None:
    with duckdb.connect(str(database), read_only=True) as con:
        rows = con.sql(SUMMARY_SQL).fetchall() + con.sql(BREAKDOWN_SQL).fetchall()
    width = max(len(measure) for measure, _ in rows)
    for measure, value in rows:
        print(f"{measure:<{width}}  {value:>9,}")
    print(f"database: {database}")


def _failure_messages(result: dg.ExecuteInProcessResult) -> list[str]:
    messages = []
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        while error is not None and error.cause is not None and "dagster" in error.cls_name.lower():
            error = error.cause  # show the user's error, not Dagster's wrapper
        messages.append(f"{event.step_key}: {error.message.strip() if error else 'failed'}")
    return messages


def command_build(args: argparse.Namespace) -> int:
    paths = Paths.resolve(args.raw, args.curated, args.reports)
    print(f"building {paths.database} from {paths.raw_dir}", file=sys.stderr)
    result = run_build(paths, today=args.today)
    if not result.success:
        print("build failed; the published database was left as it was:", file=sys.stderr)
        for message in _failure_messages(result) or ["see the Dagster run log"]:
            print(f"  {message}", file=sys.stderr)
        return 1
    print_summary(paths.database)
    return 0


def command_sql(args: argparse.Namespace) -> int:
    database = Paths.resolve(curated_dir=args.curated).database
    if not database.exists():
        print(f"no curated database at {database}: run `armtrace build` first", file=sys.stderr)
        return 1
    try:
        with duckdb.connect(str(database), read_only=True) as con:
            relation = con.sql(args.query)
            frame = relation.pl() if relation is not None else None
    except duckdb.Error as error:
        print(f"query failed: {error}", file=sys.stderr)
        return 1
    if frame is None:
        return 0
    if args.format == "csv":
        sys.stdout.write(frame.write_csv())
    elif args.format == "json":
        sys.stdout.write(frame.write_json() + "\n")
    else:
        formatting = "MARKDOWN" if args.format == "markdown" else "UTF8_FULL_CONDENSED"
        with pl.Config(tbl_formatting=formatting, tbl_hide_dataframe_shape=True,
                       tbl_hide_column_data_types=args.format == "markdown",
                       tbl_rows=-1, tbl_cols=-1, fmt_str_lengths=200, tbl_width_chars=400,
                       fmt_table_cell_list_len=-1):
            print(frame)
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="armtrace", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="rebuild the curated database from raw item logs")
    build.add_argument("--raw", help="raw folder (default: $ARMTRACE_RAW_DIR or data/raw)")
    build.add_argument("--curated",
                       help="curated folder (default: $ARMTRACE_CURATED_DIR or data/curated)")
    build.add_argument("--reports", help="reports folder (default: $ARMTRACE_REPORTS_DIR or "
                                         "reports)")
    build.add_argument("--today", help="ISO date after which documentation dates count as in the "
                                       "future (default: today, UTC)")
    build.set_defaults(handler=command_build)

    sql = commands.add_parser("sql", help="run read-only SQL on the curated database")
    sql.add_argument("query")
    sql.add_argument("--curated", help="curated folder (default: $ARMTRACE_CURATED_DIR or "
                                       "data/curated)")
    sql.add_argument("--format", choices=["table", "csv", "json", "markdown"], default="table")
    sql.set_defaults(handler=command_sql)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
