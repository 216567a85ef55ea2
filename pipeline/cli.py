"""`armtrace`: build the curated database through Dagster, and query it.

Every failure ends in one line on standard error that names what failed and what to do, and
an exit code (the EXIT_ constants, listed in the README); no command prints a traceback (set
ARMTRACE_DEBUG=1 to see one for an unexpected error). `pipeline/command.py` is the installed
command: it handles Ctrl-C and SIGTERM before this module is imported.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import os
import resource
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import duckdb

from pipeline import sql_output
from pipeline.fingerprint import (
    current_manifest,
    damaged_database,
    published_manifest,
    rebuild_reasons,
)
from pipeline.lock import BuildBusy, LockUnwritable, build_lock
from pipeline.outputs import (
    TIMINGS_FILE,
    BrokenPublishedState,
    CannotWrite,
    Refused,
    claim_output_folders,
    probe_writable,
)
from pipeline.paths import ENV_CORRECTIONS_DIR, Paths
from pipeline.provenance import MixedRawFolder, Provenance, SampleFilesError, raw_provenance
from pipeline.sql_literal import sql_string
from pipeline.stages.clean import cut_off_date
from pipeline.stages.discover import RawFileChanged, RawFolderError, discover_raw_files
from pipeline.stages.publish import finish_interrupted_publish
from pipeline.suite_process import start_spare_for_small_build, stop_spare_process
from pipeline.validation import (
    DATA_DOCS_DIR,
    ENV_MAX_QUARANTINED_SHARE,
    resolve_max_quarantined_share,
)

if TYPE_CHECKING:  # Dagster and the asset graph load only when a build runs (~2 s)
    import dagster as dg

STAGE_OF_STEP = {
    "raw_files": "discover", "normalised_rows": "clean",
    "resolved_rows": "resolve", "curated_tables": "write", "figures": "figures", "report": "report",
    "published": "publish", "read_transfers": "read", "normalised_transfers": "clean",
}
EXIT_FAILED = 1  # the build failed or was refused (nothing published); a query failed
EXIT_USAGE = 2  # a flag or setting is wrong
EXIT_BROKEN = 65  # sysexits EX_DATAERR: the published set is damaged; build --force replaces it
EXIT_SOFTWARE = 70  # sysexits EX_SOFTWARE: an unexpected error (a bug)
EXIT_CANNOT_WRITE = 74  # sysexits EX_IOERR: a folder armtrace writes to is not writable
EXIT_BUSY = 75  # sysexits EX_TEMPFAIL: another build holds the lock; try again later
EXIT_REFUSED = 77  # sysexits EX_NOPERM: an output folder is not armtrace's to write to
EXIT_INTERRUPTED = 130  # 128 + SIGINT: Ctrl-C or SIGTERM (SIGTERM outside a run: 143)
DEBUG_ENV = "ARMTRACE_DEBUG"
SHOWN_REASONS = 5


class _ProgressHandler(logging.Handler):
    """Prints one line per finished (or failed) step of the Dagster run."""

    def __init__(self) -> None:
        super().__init__()
        self.started: dict[str, float] = {}
        self.seconds: dict[str, float] = {}
        self.peak_bytes: dict[str, int] = {}
        """This process's peak resident memory when each step ended: the step where it jumps
        is the one that set its peak. A GX suite run in a child process (a large build) is
        not in it; `make bench` measures the build with its children."""
        self.started_cpu: dict[str, float] = {}
        self.cpu_seconds: dict[str, float] = {}
        """CPU time each step used on all cores (cpu_seconds): more than its wall time when
        it kept more than one core busy."""

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "dagster_meta", {}).get("dagster_event")
        if event is None or event.step_key is None:
            return
        step = event.step_key
        if event.event_type_value == "STEP_START":
            self.started[step] = time.perf_counter()
            self.started_cpu[step] = cpu_seconds()
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            seconds = time.perf_counter() - self.started.get(step, time.perf_counter())
            self.seconds[step] = round(seconds, 3)
            cpu_now = cpu_seconds()
            self.cpu_seconds[step] = round(cpu_now - self.started_cpu.get(step, cpu_now), 3)
            self.peak_bytes[step] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            status = "ok" if event.event_type_value == "STEP_SUCCESS" else "FAILED"
            label = STAGE_OF_STEP.get(step, "check")
            print(f"  {label:<8} {step:<45} {status:>6} {seconds:6.2f}s", file=sys.stderr)


def cpu_seconds() -> float:
    """CPU time of this process, on all its threads, and of its children that have ended: a
    GX suite's process (a large build) counts in the step in which it ends."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def progress_logger(handler: _ProgressHandler) -> dg.LoggerDefinition:
    import dagster as dg

    @dg.logger
    def progress(_: dg.InitLoggerContext) -> logging.Logger:
        log = logging.Logger("armtrace.progress", level=logging.DEBUG)
        log.addHandler(handler)
        return log

    return progress


def _instance() -> dg.DagsterInstance:
    """The persistent instance when DAGSTER_HOME is set (runs show in `dg dev`), else a
    throwaway one."""
    import dagster as dg

    return dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else (
        dg.DagsterInstance.ephemeral())


def figure_config(args: argparse.Namespace) -> dict[str, object]:
    """Run config of the figures asset from the CLI flags (unset flags keep the defaults)."""
    config: dict[str, object] = {"as_of": args.as_of, "recent_from": args.recent_from,
                                 "period_edges": args.period_edges}
    return {key: value for key, value in config.items() if value is not None}


def build_run_config(today: str | None, figures: dict[str, object] | None) -> dict:
    """The run config of a CLI build: the settings it was given (what the manifest lists)."""
    return {
        "loggers": {"progress": {}},
        "ops": {"normalised_rows": {"config": {"today": today}},
                "figures": {"config": figures or {}}},
    }


def run_build(paths: Paths, run_config: dict, max_quarantined_share: float,
              handler: _ProgressHandler | None = None,
              fingerprint: str | None = None) -> dg.ExecuteInProcessResult:
    """Run the build job in this process, tagged as started by the CLI (and with the
    fingerprint of its inputs, when given) like the sensor's and the schedule's runs."""
    import dagster as dg

    from pipeline.automation import run_tags
    from pipeline.definitions import BUILD_JOB, build_definitions
    from pipeline.resources import ValidationSettings

    handler = handler or _ProgressHandler()
    validation = ValidationSettings(max_quarantined_share=max_quarantined_share)
    defs = dg.Definitions.merge(build_definitions(paths, validation),
                                dg.Definitions(loggers={"progress": progress_logger(handler)}))
    with _instance() as instance:
        return execute_without_output_capture(defs.resolve_job_def(BUILD_JOB), run_config,
                                              instance, run_tags("cli", fingerprint))


def execute_without_output_capture(job: dg.JobDefinition, run_config: dict,
                                   instance: dg.DagsterInstance,
                                   tags: dict[str, str] | None = None
                                   ) -> dg.ExecuteInProcessResult:
    """`job.execute_in_process`, except that the result does not keep every step's output.

    execute_in_process holds each output in memory for `result.output_for_node`, so every
    stage's frame stayed resident until the run ended: 7 GiB at a million rows, growing with
    each stage (docs/decisions/dagster.md). Stage frames are handed on as Parquet files by the IO
    manager and the CLI reads nothing from the result but events, so nothing needs them.
    Dagster has no public switch for this; the private call is the one execute_in_process
    makes (tests/test_performance.py fails if it changes).
    """
    from dagster._core.definitions.job_base import InMemoryJob
    from dagster._core.execution.execute_in_process import core_execute_in_process

    ephemeral = job.as_ephemeral_job(resource_defs={}, input_values={})
    return core_execute_in_process(
        run_config=run_config, job=InMemoryJob(job_def=ephemeral), instance=instance,
        output_capturing_enabled=False, raise_on_error=False,
        run_tags={**job.run_tags, **(tags or {})})


def write_timings(path: Path, handler: _ProgressHandler) -> None:
    """Step wall times, CPU times and peak memory, kept out of statistics.json so that it stays
    byte-identical."""
    path.write_text(json.dumps({"seconds_by_step": handler.seconds,
                                "total_seconds": round(sum(handler.seconds.values()), 3),
                                "cpu_seconds_by_step": handler.cpu_seconds,
                                "peak_bytes_after_step": handler.peak_bytes}, indent=2)
                    + "\n")


SUMMARY_SQL = """
SELECT 'files' AS measure, count(*) AS value FROM source_files
UNION ALL SELECT 'unreadable files', count(*) FROM source_files WHERE status = 'unreadable'
UNION ALL SELECT 'rows in', coalesce(sum(rows_read), 0) FROM source_files
UNION ALL SELECT 'items', count(*) FROM items
UNION ALL SELECT 'superseded versions', count(*) FROM record_versions
UNION ALL SELECT 'merged', count(*) FROM dedup_decisions
UNION ALL SELECT 'quarantined', count(*) FROM quarantine
UNION ALL SELECT 'transfer records', count(*) FROM transfers
"""

BREAKDOWN_SQL = """
SELECT 'merged: ' || rule AS measure, count(*) AS value FROM dedup_decisions GROUP BY rule
UNION ALL
SELECT 'quarantined: ' || reason, count(*) FROM (SELECT unnest(reasons) AS reason FROM quarantine)
GROUP BY reason
ORDER BY measure
"""


UNREADABLE_SQL = """
SELECT path, problem FROM source_files WHERE status = 'unreadable' ORDER BY path
"""
SHOWN_UNREADABLE = 20


def print_summary(database: Path, provenance: Provenance | None = None) -> None:
    from pipeline.report.quality import vocabulary_lines

    try:
        with duckdb.connect(str(database), read_only=True) as con:
            rows = con.sql(SUMMARY_SQL).fetchall() + con.sql(BREAKDOWN_SQL).fetchall()
            unreadable = con.sql(UNREADABLE_SQL).fetchall()
            vocabulary = vocabulary_lines(con)
    except duckdb.Error as error:
        raise damaged_database(database, error) from None
    width = max(len(measure) for measure, _ in rows)
    for measure, value in rows:
        print(f"{measure:<{width}}  {value:>9,}")
    print_unreadable(unreadable)
    for line in vocabulary:
        print(line)
    if provenance is not None:
        print(provenance.summary_line())
    print(f"database: {database}")


def print_unreadable(files: list[tuple[str, str]]) -> None:
    """Each unreadable file by name (under the raw folder) and why, the first SHOWN_UNREADABLE."""
    for path, problem in files[:SHOWN_UNREADABLE]:
        print(f"unreadable: {path}: {problem}")
    if len(files) > SHOWN_UNREADABLE:
        print(f"unreadable: and {len(files) - SHOWN_UNREADABLE:,} more: "
              f'armtrace sql "{UNREADABLE_SQL.strip()}"')


def _failure_messages(result: dg.ExecuteInProcessResult) -> list[str]:
    messages = []
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        if error is not None and error.cls_name == "DagsterAssetCheckFailedError":
            continue  # _failed_expectations says which expectations failed
        while error is not None and error.cause is not None and "dagster" in error.cls_name.lower():
            error = error.cause  # show the user's error, not Dagster's wrapper
        messages.append(f"{event.step_key}: {error.message.strip() if error else 'failed'}")
    return messages


def _failed_expectations(result: dg.ExecuteInProcessResult, docs: Path) -> list[str]:
    """One block per failed expectation of a failed check, from the checks' metadata (or the
    check's description, for checks that are not GX suites)."""
    import dagster as dg

    lines = []
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.passed:
            continue
        check = evaluation.check_name
        severity = "" if evaluation.severity == dg.AssetCheckSeverity.ERROR else " (warning)"
        failed = evaluation.metadata.get("failed")
        if failed is None and evaluation.description:  # a check that describes its failures
            lines.append(f"{check}{severity}: {evaluation.description}")
        for failure in failed.value if failed is not None else []:
            column = f", column {failure['column']}" if failure["column"] else ""
            lines.append(f"{check}{severity}: {failure['expectation']}{column}: "
                         f"{failure['unexpected']} unexpected")
            lines += [f"    e.g. {example}" for example in failure["examples"]]
            lines += [f"    {detail}" for detail in failure.get("details", [])]
    if lines:
        lines.append(f"Data Docs of the checks: {docs}")
    return lines


def _rebuild_reasons(paths: Paths, run_config: dict, max_quarantined_share: float,
                     force: bool) -> tuple[list[str], str | None, Provenance | None]:
    """Why the published build is out of date (empty when a build would change nothing), the
    fingerprint of what a build would use and whether its raw files are the sample (both None
    when the inputs cannot be fingerprinted: the build itself reports why).
    BrokenPublishedState when the published set cannot be read, unless `force`;
    MixedRawFolder when the raw files mix the sample with other logs."""
    try:
        raw_files = discover_raw_files(paths.raw_dir)
        current = current_manifest(paths, run_config, max_quarantined_share, raw_files)
    except (RawFolderError, RawFileChanged, ValueError) as error:  # the build reports it
        return [str(error)], None, None
    provenance = raw_provenance(paths.raw_dir, raw_files, paths.reference_dir)
    try:
        published = published_manifest(paths)
    except BrokenPublishedState as error:
        if not force:
            raise
        return ([f"replacing a broken published set (--force): {error}"], current.fingerprint,
                provenance)
    clean = run_config["ops"]["normalised_rows"]["config"]
    reasons = rebuild_reasons(published, current, cut_off_date(clean["today"]))
    return reasons, current.fingerprint, provenance


def command_build(args: argparse.Namespace) -> int:
    paths = Paths.resolve(args.raw, args.curated, args.reports, args.reference, args.corrections)
    if (args.corrections or os.environ.get(ENV_CORRECTIONS_DIR)) and not (
            paths.corrections_dir.is_dir()):
        print(f"armtrace build: no corrections folder at {paths.corrections_dir}", file=sys.stderr)
        return EXIT_USAGE
    try:
        run_config = build_run_config(args.today, figure_config(args))
    except ValueError as error:
        print(f"armtrace build: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        share = resolve_max_quarantined_share(args.max_quarantined_share)
    except ValueError:
        share = math.nan
    if not 0.0 <= share <= 1.0:  # the flag is checked by argparse: the variable is wrong
        print(f"armtrace build: ${ENV_MAX_QUARANTINED_SHARE}="
              f"{os.environ.get(ENV_MAX_QUARANTINED_SHARE)!r} is not a share between 0 and 1",
              file=sys.stderr)
        return EXIT_USAGE
    try:
        claim_output_folders(paths)
        with build_lock(paths, args.wait):
            return _build_locked(paths, run_config, share, args.force)
    except Refused as error:
        print(f"armtrace build: refused: {error}", file=sys.stderr)
        return EXIT_REFUSED
    except BuildBusy as error:
        print(f"armtrace build: {error}", file=sys.stderr)
        return EXIT_BUSY
    except BrokenPublishedState as error:
        print(f"armtrace build: {error}", file=sys.stderr)
        return EXIT_BROKEN
    except (CannotWrite, LockUnwritable) as error:
        print(f"armtrace build: {error}", file=sys.stderr)
        return EXIT_CANNOT_WRITE
    except (MixedRawFolder, SampleFilesError) as error:
        print(f"armtrace build: {error}", file=sys.stderr)
        return EXIT_FAILED


def _build_locked(paths: Paths, run_config: dict, max_quarantined_share: float,
                  force: bool) -> int:
    for done in finish_interrupted_publish(paths, force):
        print(f"armtrace build: {done}", file=sys.stderr)
    reasons, fingerprint, provenance = _rebuild_reasons(paths, run_config,
                                                        max_quarantined_share, force)
    if not reasons and not force:
        print("up to date: inputs, code, libraries and settings are unchanged since the "
              "published build; nothing to do (pass --force to rebuild anyway)",
              file=sys.stderr)
        print_summary(paths.database, provenance)
        return 0
    probe_writable(paths.curated_dir, "--curated")
    probe_writable(paths.reports_dir.parent, "--reports")
    print(f"building {paths.database} from {paths.raw_dir}", file=sys.stderr)
    for reason in reasons[:SHOWN_REASONS]:
        print(f"  because {reason}", file=sys.stderr)
    if len(reasons) > SHOWN_REASONS:
        print(f"  and {len(reasons) - SHOWN_REASONS} more changes", file=sys.stderr)
    handler = _ProgressHandler()
    # a small build's GX suites run in a process that imports GX now, beside Dagster's import
    # and the first steps, on the core the build leaves idle
    start_spare_for_small_build(paths.raw_dir)
    try:
        result = run_build(paths, run_config, max_quarantined_share, handler=handler,
                           fingerprint=fingerprint)
    finally:  # a run that failed before the items suite leaves the spare waiting
        stop_spare_process()
    if not result.success and _interrupted(result):
        print("armtrace build: stopped by Ctrl-C or SIGTERM during the run; the published "
              "database and reports are left whole, and the next build clears what this one "
              "left", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not result.success:
        print("build failed; the published database and reports were left as they were:",
              file=sys.stderr)
        failed = _failed_expectations(result, paths.work_dir / DATA_DOCS_DIR)
        for message in _failure_messages(result) + failed or ["see the Dagster run log"]:
            print(f"  {message}", file=sys.stderr)
        return 1
    warnings = _failed_expectations(result, paths.reports_dir / DATA_DOCS_DIR)
    for message in warnings:  # WARN expectations do not block; say so all the same
        print(f"  warning: {message}", file=sys.stderr)
    try:
        write_timings(paths.reports_dir / TIMINGS_FILE, handler)
    except OSError as error:  # a log of the run, not part of the published set
        print(f"  warning: the build timings were not written ({error})", file=sys.stderr)
    print_summary(paths.database, provenance)
    print(f"reports: {paths.reports_dir / 'index.html'}")
    return 0


def _interrupted(result: dg.ExecuteInProcessResult) -> bool:
    """Whether the run stopped because the process was interrupted: Dagster turns SIGINT and
    SIGTERM during a run into a failure of the step under way."""
    return any(event.step_failure_data.error is not None
               and event.step_failure_data.error.cls_name == "DagsterExecutionInterruptedError"
               for event in result.get_step_failure_events())


def _published_database(curated: str | None) -> Path | None:
    """The published database, or None (after saying what to do) when there is none yet."""
    database = Paths.resolve(curated_dir=curated).database
    if not database.exists():
        print(f"no curated database at {database}: run `armtrace build` first", file=sys.stderr)
        return None
    return database


SQL_SETTINGS = {
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "allow_persistent_secrets": False,
    "python_enable_replacements": False,  # no Python object of this process as a table
    "temp_directory": "",  # no spill files: nothing written anywhere
}
SQL_LOCKDOWN = (
    "SET enable_external_access = false",  # no other file: COPY TO, ATTACH, read_*, glob
    "SET lock_configuration = true",  # last: SET, RESET and PRAGMA cannot undo the above
)
"""DuckDB's settings for `armtrace sql`: it reads the curated database and nothing else. A
read-only connection protects only its own file."""
REFUSALS = ("Permission Error", "read-only mode", "configuration has been locked")
"""What DuckDB says when the lockdown or the read-only connection refuses a statement."""


def _one_line(error: Exception) -> str:
    """DuckDB's message on one line (it puts hints and the query's caret on others)."""
    lines = [line.strip() for line in str(error).splitlines()]
    return " ".join(line for line in lines if line.strip("^ "))


def _locked_down(database: Path) -> duckdb.DuckDBPyConnection:
    """A connection that reads `database` (attached read-only, as the default catalog
    `armtrace`) and nothing else. An in-memory database attaches it, rather than opening it
    directly: a process that has the file open already (a test, a notebook calling `main`)
    could not open it again with other settings."""
    con = duckdb.connect(":memory:", config=SQL_SETTINGS)
    try:
        con.execute(f"ATTACH {sql_string(str(database))} AS armtrace (READ_ONLY)")
        con.execute("USE armtrace")
        for statement in SQL_LOCKDOWN:
            con.execute(statement)
    except duckdb.Error:
        con.close()
        raise
    return con


def _opened_for(database: Path, command: str) -> duckdb.DuckDBPyConnection | None:
    """The locked-down connection of a query command, or None after saying that the database
    is damaged and what to do."""
    try:
        return _locked_down(database)
    except duckdb.Error as error:
        print(f"armtrace {command}: {damaged_database(database, error)}", file=sys.stderr)
        return None


def command_sql(args: argparse.Namespace) -> int:
    database = _published_database(args.curated)
    if database is None:
        return 1
    con = _opened_for(database, "sql")
    if con is None:
        return EXIT_BROKEN
    statement = "the query"
    try:
        with con:
            result = None
            for each in duckdb.extract_statements(args.query):  # one by one, to name each
                keyword = each.query.split(None, 1)[0].upper()  # INSTALL, not its type LOAD
                statement = keyword if keyword.isalpha() else each.type.name
                relation = con.sql(each.query)
                result = None if relation is None else sql_output.fetch(
                    relation, args.format, sql_output.row_limit(args.format, args.limit))
    except duckdb.Error as error:
        message = _one_line(error)
        if any(refusal in message for refusal in REFUSALS):
            print(f"armtrace sql: refused {statement}: armtrace sql reads the curated database "
                  f"and nothing else ({message})", file=sys.stderr)
        else:
            print(f"armtrace sql: query failed: {message}", file=sys.stderr)
        return EXIT_FAILED
    return 0 if result is None else sql_output.write(result, args.format, sys.stdout, sys.stderr)


MAX_TRACE_CHARS = 1_000
"""Longest TEXT `armtrace trace` looks up: far beyond any serial or lot number, and short enough
that normalising it (character by character, in SQL) stays instant."""
EXIT_NOT_FOUND = 1
"""`armtrace trace` found no sighting (0: found; 2: it could not look)."""
TRACE_COLUMNS = ("match", "matched_on", "sighting", "team", "source_file", "source_line",
                 "record_id", "documented_on", "documented_in", "site", "model", "origin",
                 "serial_number", "lot_number", "quantity", "transfer_id",
                 "days_from_shipment", "detail")
"""What the table form shows (the others, and every column, are in --format csv or json)."""


def command_trace(args: argparse.Namespace) -> int:
    from pipeline.lookup.trace import normalised, trace_relation

    if len(args.text) > MAX_TRACE_CHARS:
        print(f"armtrace trace: TEXT is {len(args.text):,} characters long, more than "
              f"{MAX_TRACE_CHARS:,}: give the serial number, lot number or record id alone",
              file=sys.stderr)
        return 2
    database = _published_database(args.curated)
    if database is None:
        return 2
    con = _opened_for(database, "trace")
    if con is None:
        return 2
    try:
        with con:
            key, record = normalised(con, args.text)
            found = trace_relation(con, args.text, args.partial)
            total, exact = found.aggregate(
                "count(*), count(*) FILTER (WHERE match = 'exact')").fetchall()[0]
            shown = found.select(*TRACE_COLUMNS) if args.format == "table" else found
            result = sql_output.fetch(shown, args.format, args.max_rows)
    except duckdb.Error as error:
        print(f"armtrace trace: the lookup failed ({_one_line(error)}); a database built "
              f"before `trace` existed has no trace macro: rebuild it with `armtrace build`",
              file=sys.stderr)
        return 2
    print(f"trace {args.text!r}: serial/lot key {key!r}, record id {record!r}: "
          f"{total:,} sightings ({exact:,} exact, {total - exact:,} partial)",
          file=sys.stderr)
    if not total:
        return EXIT_NOT_FOUND
    if total > args.max_rows:
        print(f"armtrace trace: {total:,} sightings, more than --max-rows "
              f"{args.max_rows:,}: showing the first {args.max_rows:,}; give a longer TEXT or "
              f"raise --max-rows", file=sys.stderr)
    shown_only = sql_output.QueryResult(result.frame, result.frame.height)
    return sql_output.write(shown_only, args.format, sys.stdout, sys.stderr)


def _iso_date(text: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {text!r}") from None


def _years(text: str) -> list[int]:
    try:
        years = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of years: {text!r}") from None
    if years != sorted(set(years)):
        raise argparse.ArgumentTypeError(f"period edges must increase: {text!r}")
    return years


def _number(what: str, highest: float = math.inf) -> Callable[[str], float]:
    """An argparse type: a finite number from 0 to `highest`, else `not {what}`."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and 0.0 <= value <= highest):
            raise argparse.ArgumentTypeError(f"not {what}: {text!r}")
        return value
    return parse


_seconds = _number("a number of seconds (0 or more)")
_tolerance = _number("a tolerance (a number, 0 or more)")
_share = _number("a share between 0 and 1", 1.0)


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"not a whole number of at least 1: {text!r}")
    return number


def command_sample(args: argparse.Namespace) -> int:
    from pipeline.sample.write import record_fingerprints, write_sample

    try:
        written = write_sample(Path(args.out), seed=args.seed, scale=args.scale)
    except (FileExistsError, ValueError) as error:
        print(f"armtrace sample: {error}", file=sys.stderr)
        return 1
    for path, rows in written.items():
        print(f"{rows:>10,}  {path}")
    print(f"{sum(written.values()):>10,}  rows in {len(written)} files under {args.out} "
          f"(SYNTHETIC)")
    if args.fingerprints:
        try:
            recorded = record_fingerprints(Path(args.out), args.seed, args.scale,
                                           Path(args.fingerprints))
        except ValueError as error:
            print(f"armtrace sample: {error}", file=sys.stderr)
            return 1
        print(f"fingerprints of {recorded} files (seed {args.seed}, scale {args.scale}) "
              f"recorded in {args.fingerprints}")
    return 0


def command_diff(args: argparse.Namespace) -> int:
    from pipeline.diff import compare, context_lines, load, summary_line

    try:
        old, new = load(Path(args.old)), load(Path(args.new))
    except ValueError as error:
        print(f"armtrace diff: {error}", file=sys.stderr)
        return 2
    changes = compare(old, new, args.tolerance)
    past = any(change.past_tolerance for change in changes)
    if args.format == "json":
        print(json.dumps({"tolerance": args.tolerance, "differences": len(changes),
                          "past_tolerance": sum(c.past_tolerance for c in changes),
                          "context": context_lines(old, new),
                          "changes": [change.as_json() for change in changes]}, indent=2))
        return 1 if past else 0
    print(summary_line(changes, args.tolerance))
    for line in context_lines(old, new) + [change.describe() for change in changes]:
        print(line)
    return 1 if past else 0


def command_dictionary(args: argparse.Namespace) -> int:
    from pipeline.dictionary import data_dictionary

    database = _published_database(args.curated)
    if database is None:
        return 1
    out = Path(args.out).expanduser().resolve() if args.out else None
    if _refused_out("dictionary", out, Paths.resolve(curated_dir=args.curated)):
        return EXIT_REFUSED
    try:
        with duckdb.connect(str(database), read_only=True) as con:
            text = data_dictionary(con)
    except duckdb.Error as error:
        print(f"armtrace dictionary: {damaged_database(database, error)}", file=sys.stderr)
        return EXIT_BROKEN
    if out is not None:
        out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _refused_out(command: str, out: Path | None, paths: Paths) -> bool:
    """True (after saying why) when `out`, a file a command was asked to write, lies inside
    an input folder or the curated folder: armtrace writes there only what it publishes."""
    for kind, folder in (("raw", paths.raw_dir), ("reference", paths.reference_dir),
                         ("corrections", paths.corrections_dir), ("curated", paths.curated_dir)):
        if out is not None and out.is_relative_to(folder):
            print(f"armtrace {command}: refused: {out} lies inside the {kind} folder {folder}, "
                  f"where armtrace writes nothing but what it publishes: choose another --out "
                  f"file", file=sys.stderr)
            return True
    return False


def command_headers(args: argparse.Namespace) -> int:
    import polars as pl

    from pipeline.columns import HeaderAliasError, accepted_headers_page
    from pipeline.reference import Reference

    paths = Paths.resolve(reference_dir=args.reference)
    folder = paths.reference_dir
    out = Path(args.out).expanduser().resolve() if args.out else None
    if _refused_out("headers", out, paths):
        return EXIT_REFUSED
    try:
        reference = Reference.load(folder)
    except (HeaderAliasError, OSError, pl.exceptions.PolarsError) as error:
        print(f"armtrace headers: {folder}: {error}", file=sys.stderr)
        return 1
    text = accepted_headers_page(reference.contract(d) for d in ("items", "transfers"))
    if out is not None:
        out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, with a wrong flag reported in one line (not the usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    root = _Parser(prog="armtrace", description=__doc__.split("\n\n")[0])
    commands = root.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="rebuild the curated database from raw item logs")
    build.add_argument("--raw", help="raw folder (default: $ARMTRACE_RAW_DIR or data/raw)")
    build.add_argument("--curated",
                       help="curated folder (default: $ARMTRACE_CURATED_DIR or data/curated)")
    build.add_argument("--reports", help="reports folder (default: $ARMTRACE_REPORTS_DIR or "
                                         "reports)")
    build.add_argument("--reference", help="reference tables folder (default: "
                                           "$ARMTRACE_REFERENCE_DIR or data/reference)")
    build.add_argument("--corrections", help="analysts' corrections folder (default: "
                                             "$ARMTRACE_CORRECTIONS_DIR or data/corrections)")
    build.add_argument("--today", type=_iso_date,
                       help="ISO date after which documentation dates count as in the "
                            "future (default: today, UTC)")
    build.add_argument("--as-of", type=_iso_date,
                       help="date on which EU membership is taken (default: the latest "
                            "documentation date in the data)")
    build.add_argument("--recent-from", type=int, metavar="YEAR",
                       help="first year of manufacture counted as recent (default: 2014)")
    build.add_argument("--period-edges", type=_years, metavar="Y1,Y2,...",
                       help="first year of each manufacture period after the first "
                            "(default: 1960,1990,2010,2014)")
    build.add_argument("--force", action="store_true",
                       help="rebuild even when inputs, code, libraries and settings are "
                            "unchanged since the published build")
    build.add_argument("--wait", type=_seconds, default=0.0, metavar="SECONDS",
                       help="wait up to SECONDS for another build of the same curated or "
                            "reports folder to finish (default: 0, exit at once with code 75)")
    build.add_argument("--max-quarantined-share", type=_share, metavar="SHARE",
                       help="largest share of input rows that may be quarantined; above it the "
                            "build is blocked and nothing is published (default: "
                            "$ARMTRACE_MAX_QUARANTINED_SHARE or 0.05)")
    build.set_defaults(handler=command_build)

    sample = commands.add_parser(
        "sample", help="write the synthetic sample item logs (calibrated to CAR's figures)")
    sample.add_argument("--out", required=True, help="folder to write into (new or empty)")
    sample.add_argument("--seed", type=int, default=2017, help="random seed (default: 2017)")
    sample.add_argument("--scale", type=int, default=1,
                        help="copies of the whole sample, as more teams and sites (default: 1)")
    sample.add_argument("--fingerprints", metavar="FILE",
                        help="also record each written file's SHA-256 in FILE (a "
                             "sample_files.csv: rows of the same seed and scale are replaced), "
                             "e.g. data/reference/sample_files.csv for the shipped sample")
    sample.set_defaults(handler=command_sample)

    diff = commands.add_parser(
        "diff", help="list figures that changed between two statistics.json files")
    diff.add_argument("old")
    diff.add_argument("new")
    diff.add_argument("--tolerance", type=_tolerance, default=0.0,
                      help="largest change allowed: absolute for shares, relative for counts "
                           "(default: 0, any change fails)")
    diff.add_argument("--format", choices=["text", "json"], default="text",
                      help="text (default: rounded for reading) or json (exact values)")
    diff.set_defaults(handler=command_diff)

    dictionary = commands.add_parser(
        "dictionary", help="write the data dictionary (Markdown) from the database's comments")
    dictionary.add_argument("--curated", help="curated folder (default: $ARMTRACE_CURATED_DIR "
                                              "or data/curated)")
    dictionary.add_argument("--out", help="file to write (default: standard output)")
    dictionary.set_defaults(handler=command_dictionary)

    headers = commands.add_parser(
        "headers", help="write the page of accepted headers (Markdown) from header_aliases.csv")
    headers.add_argument("--reference", help="reference tables folder (default: "
                                             "$ARMTRACE_REFERENCE_DIR or data/reference)")
    headers.add_argument("--out", help="file to write (default: standard output)")
    headers.set_defaults(handler=command_headers)

    sql = commands.add_parser("sql", help="run read-only SQL on the curated database")
    sql.add_argument("query")
    sql.add_argument("--curated", help="curated folder (default: $ARMTRACE_CURATED_DIR or "
                                       "data/curated)")
    sql.add_argument("--format", choices=sql_output.FORMATS, default="table",
                     help="table (default: fitted to the terminal), csv, json or markdown")
    sql.add_argument("--limit", type=sql_output.parse_limit, metavar="N|all",
                     help=f"rows to write (default: {sql_output.DEFAULT_TABLE_ROWS} for the "
                          f"table format, every row for csv, json and markdown)")
    sql.set_defaults(handler=command_sql)

    trace = commands.add_parser(
        "trace", help="every sighting of a serial number, lot number or record id",
        description="List every sighting of TEXT (a serial or lot number read off a weapon or "
                    "a crate, or a record id) in the published database: items, superseded "
                    "versions, merged records, quarantined rows and transfers. TEXT is "
                    "normalised as the build normalises keys (prefixes, spaces, hyphens, "
                    "look-alike letters). Exit status: 0 found, 1 not found, 2 could not look.")
    trace.add_argument("text", metavar="TEXT")
    trace.add_argument("--partial", action="store_true",
                       help="also list keys that contain TEXT when there are exact matches "
                            "(without it, only when there are none)")
    trace.add_argument("--curated", help="curated folder (default: $ARMTRACE_CURATED_DIR or "
                                         "data/curated)")
    trace.add_argument("--format", choices=sql_output.FORMATS, default="table",
                       help="table shows the main columns; csv, json and markdown all of them")
    trace.add_argument("--max-rows", type=_positive, default=500, metavar="N",
                       help="most sightings to print (default: 500)")
    trace.set_defaults(handler=command_trace)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit code. Errors no command expects are one line too. A wrong
    flag (one line) or --help raise SystemExit, as argparse does."""
    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except BrokenPipeError:  # the reader of the output went away: pipeline/command.py
        raise
    except OSError as error:
        if os.environ.get(DEBUG_ENV):
            raise
        where = f" {error.filename}" if error.filename else ""
        print(f"armtrace {args.command}: cannot read or write{where} ({error.strerror or error}): "
              f"check that it exists and that armtrace may use it", file=sys.stderr)
        return EXIT_CANNOT_WRITE
    except Exception as error:
        if os.environ.get(DEBUG_ENV):
            raise
        print(f"armtrace {args.command}: unexpected error ({type(error).__name__}: "
              f"{_one_line(error)[:300]}): run it again with {DEBUG_ENV}=1 to see where, and "
              f"report it", file=sys.stderr)
        return EXIT_SOFTWARE


if __name__ == "__main__":
    from pipeline.command import run

    run()
