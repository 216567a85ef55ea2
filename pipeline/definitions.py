"""Dagster entry point: `dg dev` / `dagster dev` load `defs` from here (see pyproject.toml)."""

from __future__ import annotations

import dagster as dg
from dagster_duckdb import DuckDBResource

from pipeline.assets import ASSET_CHECKS, ASSETS
from pipeline.paths import Paths
from pipeline.resources import ArmtraceFolders, StageFrames, ValidationSettings

BUILD_JOB = "build"


def build_definitions(paths: Paths,
                      validation: ValidationSettings | None = None) -> dg.Definitions:
    """The asset graph wired to one set of folders (the CLI passes its flags here)."""
    return dg.Definitions(
        assets=ASSETS,
        asset_checks=ASSET_CHECKS,
        jobs=[dg.define_asset_job(BUILD_JOB, selection=dg.AssetSelection.all(),
                                  description="Rebuild everything from the raw folder.")],
        resources={
            "folders": ArmtraceFolders.from_paths(paths),
            "duckdb": DuckDBResource(database=str(paths.work_database)),
            "io_manager": StageFrames(base_dir=str(paths.work_dir / "stages")),
            "validation": validation or ValidationSettings.resolve(),
        },
    )


defs = build_definitions(Paths.resolve())
