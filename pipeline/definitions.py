"""Dagster entry point: `dg dev` / `dagster dev` load `defs` from here (see pyproject.toml)."""

from __future__ import annotations

import dagster as dg
from dagster_duckdb import DuckDBResource

from pipeline.assets import ASSETS
from pipeline.automation import BUILD_JOB, daily_build, raw_folder_changed
from pipeline.checks import ASSET_CHECKS
from pipeline.paths import Paths
from pipeline.resources import (
    ArmtraceFolders,
    BuildLock,
    StageFrames,
    SuiteProcess,
    ValidationSettings,
)

DUCKDB_MEMORY_LIMIT = "2GB"
"""DuckDB spills to the work folder past this. Its default, 80% of the machine's memory, is
a cache it keeps: at ten million rows the reconciliation check's hash tables took the build
from 6 to 11 GiB (docs/decisions/scale.md)."""
DUCKDB_MAX_VACUUM_TASKS = 0
"""No row groups merged at a checkpoint. DuckDB copies each Parquet part into row groups of
122,880 rows and leaves a short one at the end of each part; by default the checkpoint then
merges the short groups with their neighbours, decompressing and compressing again much of
items (the curated tables at ten million rows: 43 s of CPU instead of 37, a file of 465 MB
instead of 403). The build deletes no rows, so the merge reclaims no space: it only makes
fewer, fuller groups."""
DUCKDB_STORAGE_COMPATIBILITY = "v1.4.0"
"""The oldest DuckDB whose clients must open the curated database: 1.4, the long-term-support
release. Unless told otherwise DuckDB 2.0 writes a database in its own newest storage format,
which every 1.x client refuses ("database file with version number 69, but we can only read
versions between 64 and 68" in 1.5.6). Set when the work database is created; publishing
copies that file. Its bytes differ, its tables do not, and it builds no slower. `make test`
reads every table of a build with DuckDB 1.4.0 (tests/test_duckdb_clients.py)."""
LOCK_WAIT_SECONDS = 900.0
"""How long a run started by the sensor, the schedule or the UI waits for a build started from
the shell to finish (runs Dagster starts queue behind each other: see dagster.yaml)."""


def build_definitions(paths: Paths,
                      validation: ValidationSettings | None = None) -> dg.Definitions:
    """The asset graph wired to one set of folders (the CLI passes its flags here)."""
    folders = ArmtraceFolders.from_paths(paths)
    return dg.Definitions(
        assets=ASSETS,
        asset_checks=ASSET_CHECKS,
        jobs=[dg.define_asset_job(BUILD_JOB, selection=dg.AssetSelection.all(),
                                  description="Rebuild everything from the raw folder.")],
        schedules=[daily_build],
        sensors=[raw_folder_changed],
        # One process for the whole run, so that the build lock is held from start to publish.
        executor=dg.in_process_executor,
        resources={
            "folders": folders,
            "build_lock": BuildLock(raw_dir=folders.raw_dir, curated_dir=folders.curated_dir,
                                    reports_dir=folders.reports_dir,
                                    reference_dir=folders.reference_dir,
                                    corrections_dir=folders.corrections_dir,
                                    wait_seconds=LOCK_WAIT_SECONDS),
            "duckdb": DuckDBResource(database=str(paths.work_database), connection_config={
                "memory_limit": DUCKDB_MEMORY_LIMIT,
                "max_vacuum_tasks": DUCKDB_MAX_VACUUM_TASKS,
                "storage_compatibility_version": DUCKDB_STORAGE_COMPATIBILITY,
                "temp_directory": str(paths.work_dir / "duckdb-spill")}),
            "io_manager": StageFrames(base_dir=str(paths.stages_dir)),
            "validation": validation or ValidationSettings.resolve(),
            "suite_process": SuiteProcess(raw_dir=folders.raw_dir),
        },
    )


defs = build_definitions(Paths.resolve())
