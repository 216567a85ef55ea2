"""The asset graph: one asset per stage output, grouped by stage.

ingest: raw_files; transfer_rows, transfer_reads
clean: normalised_rows, file_reads, corrections_applied (each item log read, corrected and
       normalised in one pass); normalised_transfers
resolve: resolved_rows
publish: curated_tables (into the work database)
figures: figures (fig_<id> tables in the work database)
report: report (the reports folder, built in a staging folder)
publish: published (the database and the reports folder, swapped in as one set)

Each asset calls its stage's function and reports counts; the logic lives in
`pipeline/stages/`. The checks that gate publishing are in `pipeline/checks.py`.
"""


import datetime as dt
import shutil
from dataclasses import replace

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource
from pydantic import Field

from pipeline.fingerprint import current_manifest, next_future_date
from pipeline.lookup.trace import create_lookup_macros
from pipeline.parts import Parts
from pipeline.reference import Reference
from pipeline.resources import ArmtraceFolders, BuildLock, ValidationSettings
from pipeline.stages.clean import cut_off_date
from pipeline.stages.correct import FileByFileCorrections, load_corrections
from pipeline.stages.discover import discover_raw_files
from pipeline.stages.figures import (
    DEFAULT_PERIOD_EDGES,
    DEFAULT_RECENT_FROM,
    FIGURE_IDS,
    FigureSettings,
    compute_figures,
    load_settings,
    save_settings,
)
from pipeline.stages.item_logs import normalise_logs
from pipeline.stages.publish import (
    comment_table,
    curated_frames,
    publish_outputs,
    write_curated_tables,
    write_reference_tables,
    write_resolved_tables,
    write_table,
)
from pipeline.stages.read import read_dataset
from pipeline.stages.resolve import resolve_decisions
from pipeline.stages.transfers import normalise_transfers, transfer_frames
from pipeline.tables import (
    BUILD_MANIFEST,
    CORRECTIONS,
    CURATED_TABLES,
    DIVERSION_ISSUES,
    FIGURE_SETTINGS,
    FIGURES,
)
from pipeline.validation import DATA_DOCS_DIR


def preview(frame: pl.DataFrame, rows: int = 5) -> dg.MetadataValue:
    with pl.Config(tbl_formatting="MARKDOWN", tbl_hide_column_data_types=True,
                   tbl_hide_dataframe_shape=True, tbl_rows=rows, fmt_str_lengths=40):
        return dg.MetadataValue.md(str(frame.head(rows)))


def run_cut_off(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> dt.date:
    """The run's cut-off for future dates: `today` of normalised_rows' config, else today."""
    clean = context.run.run_config.get("ops", {}).get("normalised_rows", {}).get("config", {})
    return cut_off_date(clean.get("today"))


def counts(frame: pl.DataFrame, column: str) -> dict[str, int]:
    return {str(k): v for k, v in frame.get_column(column).value_counts(sort=True).rows()}


def header_metadata(reads: pl.DataFrame) -> dict[str, dg.MetadataValue]:
    """Unmatched headers (header -> files) and the header warnings of a read report."""
    headers = reads.select(pl.col("unmatched_headers").explode().drop_nulls())
    warnings = reads.select("path", warning=pl.col("header_warnings")).explode("warning")
    return {
        "unmatched_headers": dg.MetadataValue.json(counts(headers, "unmatched_headers")),
        "header_warnings": dg.MetadataValue.json(
            [f"{p}: {w}" for p, w in warnings.drop_nulls().rows()]),
    }


@dg.asset(group_name="ingest", kinds={"polars"})
def raw_files(
    context: dg.AssetExecutionContext, folders: ArmtraceFolders, build_lock: BuildLock
) -> pl.DataFrame:
    """Every file under the raw folder with its size and SHA-256, in path order. Taken with
    the build lock held (`build_lock`), like everything after it."""
    files = discover_raw_files(folders.paths.raw_dir)
    context.add_output_metadata({
        "files": files.height,
        "bytes": int(files["size_bytes"].sum()),
        "by_format": dg.MetadataValue.json(counts(files, "format")),
        "preview": preview(files.select("path", "format", "size_bytes")),
    })
    return files


@dg.multi_asset(
    group_name="ingest",
    outs={
        "transfer_rows": dg.AssetOut(
            description="Every row of every transfer record as text under canonical column "
                        "names, with file, sheet, line and original cells.", kinds={"polars"}),
        "transfer_reads": dg.AssetOut(
            description="How each transfer record file was read.", kinds={"polars"}),
    },
)
def read_transfers(
    context: dg.AssetExecutionContext, folders: ArmtraceFolders, raw_files: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    contract = Reference.load(folders.paths.reference_dir).contract("transfers")
    rows, reads = read_dataset(folders.paths.raw_dir, raw_files, contract)
    context.add_output_metadata({"rows_in": rows.height, "files_read": reads.height},
                                output_name="transfer_rows")
    context.add_output_metadata({"by_status": dg.MetadataValue.json(counts(reads, "status")),
                                 **header_metadata(reads)}, output_name="transfer_reads")
    return rows, reads


class CleanConfig(dg.Config):
    today: str | None = None
    """ISO date after which a documentation date counts as in the future (default: today, UTC)."""

    def cut_off(self) -> dt.date:
        return cut_off_date(self.today)


@dg.multi_asset(
    group_name="clean",
    outs={
        "normalised_rows": dg.AssetOut(
            description="Every row of every item log, read, corrected and normalised: its "
                        "file, sheet, line and original cells, its text under canonical "
                        "names (analysts' corrections applied), the typed values, and the "
                        "contract rules it breaks.", kinds={"polars"}),
        "file_reads": dg.AssetOut(
            description="How each item log was read: encoding, delimiter, sheets, rows, "
                        "status and problem.", kinds={"polars"}),
        "corrections_applied": dg.AssetOut(
            description="Audit of every correction applied: file, entry, record, field, "
                        "expected and new text, reason, who decided, row changed.",
            kinds={"polars"}),
    },
)
def normalised_rows(
    context: dg.AssetExecutionContext, config: CleanConfig, folders: ArmtraceFolders,
    raw_files: pl.DataFrame,
) -> tuple[Parts, pl.DataFrame, pl.DataFrame]:
    """Each item log read, corrected (data/corrections) and normalised in one pass, file by
    file (normalise_logs). Fails, naming each correction and what to do, when a correction's
    guard no longer holds."""
    paths = folders.paths
    parts, reads, applied = normalise_logs(
        paths.raw_dir, raw_files,
        FileByFileCorrections(load_corrections(paths.corrections_dir), paths.corrections_dir),
        Reference.load(paths.reference_dir), config.cut_off(), paths.parts_dir("normalised_rows"))
    rows = parts.scan().select("source_file", "source_line", "record_id", "category", "reasons")
    reasons = rows.select("reasons").collect()
    context.add_output_metadata({
        "rows_in": reasons.height,
        "rows_corrected": applied["row_number"].n_unique(),
        "rows_with_problems": reasons.filter(pl.col("reasons").list.len() > 0).height,
        "problems_by_reason": dg.MetadataValue.json(
            counts(reasons.select(pl.col("reasons").explode().drop_nulls()), "reasons")),
        "models_not_in_reference": dg.MetadataValue.json(counts(parts.scan().filter(
            pl.col("model").is_not_null() & pl.col("model_designation").is_null()
        ).select("model").collect(), "model")),
        "preview": preview(rows.drop("reasons").head().collect()),
    }, output_name="normalised_rows")
    context.add_output_metadata({
        "files_read": reads.height,
        "unreadable_files": reads.filter(pl.col("status") == "unreadable").height,
        "by_status": dg.MetadataValue.json(counts(reads, "status")),
        **header_metadata(reads),
        "preview": preview(reads.select("path", "status", "rows_read")),
    }, output_name="file_reads")

    context.add_output_metadata({
        "corrections_dir": dg.MetadataValue.path(str(paths.corrections_dir)),
        "changes": applied.height,
        "by_field": dg.MetadataValue.json(counts(applied, "field")),
        "preview": preview(applied.select("corrections_file", "record_id", "field", "value")),
    }, output_name="corrections_applied")
    return parts, reads, applied


@dg.asset(group_name="clean", kinds={"polars"})
def normalised_transfers(
    context: dg.AssetExecutionContext, folders: ArmtraceFolders, transfer_rows: pl.DataFrame,
    normalised_rows: pl.LazyFrame,
) -> pl.DataFrame:
    """Transfer rows with normalised values and the rules each one breaks. Dates after the
    item logs' cut-off (`today` of normalised_rows) are future dates here too."""
    reference = Reference.load(folders.paths.reference_dir)
    frame = normalise_transfers(transfer_rows, reference, run_cut_off(context),
                                first_row_number=normalised_rows.select(pl.len()).collect().item())
    reasons = frame.select(pl.col("reasons").explode().drop_nulls())
    context.add_output_metadata({
        "rows_in": frame.height,
        "problems_by_reason": dg.MetadataValue.json(counts(reasons, "reasons")),
    })
    return frame


@dg.asset(group_name="resolve", kinds={"polars"})
def resolved_rows(context: dg.AssetExecutionContext,
                  normalised_rows: pl.LazyFrame) -> pl.DataFrame:
    """Every row's disposition (item, superseded version, merged, or quarantined), rule,
    resolved_to_row and calibre_key, by row_number, in the order of normalised_rows. The rest
    of each row stays in normalised_rows: curated_tables pairs them up."""
    frame = resolve_decisions(normalised_rows)
    merged = frame.filter(pl.col("disposition") == "merged")
    context.add_output_metadata({
        "rows_in": frame.height,
        "by_disposition": dg.MetadataValue.json(counts(frame, "disposition")),
        "merged_by_rule": dg.MetadataValue.json(counts(merged, "rule")),
    })
    return frame


@dg.asset(group_name="publish", kinds={"duckdb"}, deps=[normalised_rows, resolved_rows])
def curated_tables(
    context: dg.AssetExecutionContext, folders: ArmtraceFolders, duckdb: DuckDBResource,
    raw_files: pl.DataFrame, file_reads: pl.DataFrame, corrections_applied: pl.DataFrame,
    normalised_transfers: pl.DataFrame, transfer_reads: pl.DataFrame,
) -> dg.MaterializeResult:
    """items, quarantine, record_versions, dedup_decisions, source_files, corrections, transfers
    and the reference tables, written into a fresh work database with a COMMENT on every table
    and column. The normalised and resolved rows are not loaded here: DuckDB reads their
    Parquet files."""
    paths = folders.paths
    paths.work_dir.mkdir(parents=True, exist_ok=True)
    for leftover in (paths.work_database, paths.work_database.with_name(
            paths.work_database.name + ".wal")):  # a killed build may leave both behind
        leftover.unlink(missing_ok=True)
    reads = pl.concat([file_reads, transfer_reads])
    source_files = raw_files.join(reads, on="path", how="left").with_columns(
        problem=pl.coalesce("problem", "refused"),  # a refused entry that is not a log says why
        status=pl.coalesce(
            pl.col("status"),
            pl.when(pl.col("dataset") == "other").then(pl.lit("not_read"))
            .when(pl.col("format") == "unsupported").then(pl.lit("unsupported"))
            .otherwise(pl.lit("not_read")),
        )
    )
    frames = {**curated_frames(source_files), CORRECTIONS.name: corrections_applied,
              **transfer_frames(normalised_transfers)}
    with duckdb.get_connection() as con:
        write_resolved_tables(con, paths.stage_file("normalised_rows"),
                              paths.stage_file("resolved_rows"))
        write_curated_tables(con, frames)
        write_reference_tables(con, Reference.load(paths.reference_dir))
        create_lookup_macros(con)
        con.execute("CHECKPOINT")
        rows = {f"{t.name}_rows": con.execute(f"SELECT count(*) FROM {t.name}").fetchone()[0]
                for t in CURATED_TABLES}
    return dg.MaterializeResult(metadata=rows)


class FigureConfig(dg.Config):
    as_of: str | None = None
    """ISO date on which EU membership is taken (default: the latest documentation date)."""
    recent_from: int = DEFAULT_RECENT_FROM
    """First year of manufacture that counts as recent for anti-armour ammunition."""
    period_edges: list[int] = Field(default_factory=lambda: list(DEFAULT_PERIOD_EDGES))
    """First year of each manufacture period after the first."""

    def settings(self) -> FigureSettings:
        as_of = dt.date.fromisoformat(self.as_of) if self.as_of else None
        return FigureSettings(as_of, self.recent_from, tuple(self.period_edges))


@dg.asset(group_name="figures", deps=[curated_tables], kinds={"duckdb", "sql"})
def figures(
    context: dg.AssetExecutionContext, config: FigureConfig, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    """Every published figure (docs/figures.md) as a `fig_<id>` table, computed in SQL
    from `items`, and the settings used as `figure_settings`."""
    with duckdb.get_connection() as con:
        settings = compute_figures(con, config.settings())
        save_settings(con, settings)
        comment_table(con, "figure_settings", *FIGURE_SETTINGS)
        for figure, (comment, columns) in FIGURES.items():
            comment_table(con, f"fig_{figure}", comment, columns)
        comment_table(con, "diversion_issues", *DIVERSION_ISSUES)
        rows = {f"fig_{figure}_rows": con.sql(f"SELECT count(*) FROM fig_{figure}").fetchall()[0][0]
                for figure in FIGURE_IDS}
        summary = con.sql("SELECT * FROM fig_documentation_summary").pl()
        con.execute("CHECKPOINT")
    context.log.info(f"figures computed with {settings.as_json()}")
    return dg.MaterializeResult(metadata={
        **rows, "settings": dg.MetadataValue.json(settings.as_json()), "summary": preview(summary),
    })


@dg.asset(group_name="report", deps=[figures], kinds={"html", "json"})
def report(folders: ArmtraceFolders, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """statistics.json, tables, charts and index.html, built in a staging folder."""
    # imported here, not with the definitions: altair's import (0.75 s) is done while the
    # build waits for the items suite (checks.items_expectations) or, failing that, here
    from pipeline.report.build import build_reports

    paths = folders.paths
    with duckdb.get_connection() as con:
        written = build_reports(con, paths.reports_staging_dir, paths.raw_dir,
                                paths.reference_dir, load_settings(con))
    if (paths.work_dir / DATA_DOCS_DIR).is_dir():  # written by the checks; not byte-identical
        shutil.copytree(paths.work_dir / DATA_DOCS_DIR, paths.reports_staging_dir / DATA_DOCS_DIR)
    return dg.MaterializeResult(metadata={
        **written, "staging": dg.MetadataValue.path(str(paths.reports_staging_dir))})


@dg.asset(group_name="publish", deps=[report], kinds={"duckdb", "html"})
def published(
    context: dg.AssetExecutionContext, folders: ArmtraceFolders, build_lock: BuildLock,
    validation: ValidationSettings, duckdb: DuckDBResource, raw_files: pl.DataFrame,
    normalised_rows: pl.LazyFrame, normalised_transfers: pl.DataFrame,
) -> dg.MaterializeResult:
    """The curated database and the reports folder readers use, replaced together by a
    finished build, with the manifest of what the build used and of what it published."""
    paths = folders.paths
    manifest = replace(current_manifest(paths, context.run.run_config,
                                        validation.max_quarantined_share, raw_files),
                       cut_off=run_cut_off(context).isoformat(),
                       next_future_date=next_future_date(
                           (normalised_rows, "documented_on_parsed"),
                           (normalised_transfers, "shipped_on_parsed")))
    with duckdb.get_connection() as con:
        write_table(con, BUILD_MANIFEST.name, manifest.rows(), BUILD_MANIFEST.comment,
                    {c.name: c.comment for c in BUILD_MANIFEST.columns})
        con.execute("CHECKPOINT")
    for warning in publish_outputs(paths, manifest.as_json()):
        context.log.warning(warning)
    return dg.MaterializeResult(metadata={
        "database": dg.MetadataValue.path(str(paths.database)),
        "reports": dg.MetadataValue.path(str(paths.reports_dir)),
        "fingerprint": manifest.fingerprint,
        "bytes": paths.database.stat().st_size,
    })


ASSETS = [raw_files, normalised_rows, resolved_rows, curated_tables, figures, report, published,
          read_transfers, normalised_transfers]
