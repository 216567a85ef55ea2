"""Dagster resources: where the build reads and writes, and how stage frames are handed on."""

from __future__ import annotations

import os
from typing import Any

import dagster as dg
import polars as pl
from upath import UPath

from pipeline.paths import Paths


class ArmtraceFolders(dg.ConfigurableResource):
    """The raw, curated, reports and reference folders (absolute paths)."""

    raw_dir: str
    curated_dir: str
    reports_dir: str
    reference_dir: str

    @classmethod
    def from_paths(cls, paths: Paths) -> ArmtraceFolders:
        return cls(raw_dir=str(paths.raw_dir), curated_dir=str(paths.curated_dir),
                   reports_dir=str(paths.reports_dir), reference_dir=str(paths.reference_dir))

    @property
    def paths(self) -> Paths:
        return Paths.resolve(self.raw_dir, self.curated_dir, self.reports_dir, self.reference_dir)


ENV_MAX_QUARANTINED_SHARE = "ARMTRACE_MAX_QUARANTINED_SHARE"


class ValidationSettings(dg.ConfigurableResource):
    """Thresholds of the data checks (pipeline/validation.py)."""

    max_quarantined_share: float = 0.05
    """Largest share of input rows that may be quarantined before the build is blocked."""
    today: str | None = None
    """ISO date after which no item may be documented (default: today, UTC)."""

    @classmethod
    def resolve(cls, max_quarantined_share: float | None = None,
                today: str | None = None) -> ValidationSettings:
        """The flag wins over $ARMTRACE_MAX_QUARANTINED_SHARE over the default."""
        share = max_quarantined_share
        if share is None and os.environ.get(ENV_MAX_QUARANTINED_SHARE):
            share = float(os.environ[ENV_MAX_QUARANTINED_SHARE])
        return cls(today=today) if share is None else cls(today=today,
                                                         max_quarantined_share=share)


class _ParquetFrames(dg.UPathIOManager):
    extension = ".parquet"

    def dump_to_path(self, context: dg.OutputContext, obj: pl.DataFrame, path: UPath) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        obj.write_parquet(str(path))

    def load_from_path(self, context: dg.InputContext, path: UPath) -> Any:
        return pl.read_parquet(str(path))


class StageFrames(dg.ConfigurableIOManagerFactory):
    """Stage outputs (polars frames) as Parquet files in the build's scratch folder.

    dagster-polars would do this, but its releases pin an older Dagster.
    """

    base_dir: str

    def create_io_manager(self, context: dg.InitResourceContext) -> _ParquetFrames:
        return _ParquetFrames(base_path=UPath(self.base_dir))
