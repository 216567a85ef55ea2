"""Dagster resources: where the build reads and writes, and how stage frames are handed on."""

from __future__ import annotations

from typing import Any

import dagster as dg
import polars as pl
from upath import UPath

from pipeline.paths import Paths


class ArmtraceFolders(dg.ConfigurableResource):
    """The raw, curated, reports, reference and corrections folders (absolute paths)."""

    raw_dir: str
    curated_dir: str
    reports_dir: str
    reference_dir: str
    corrections_dir: str

    @classmethod
    def from_paths(cls, paths: Paths) -> ArmtraceFolders:
        return cls(raw_dir=str(paths.raw_dir), curated_dir=str(paths.curated_dir),
                   reports_dir=str(paths.reports_dir), reference_dir=str(paths.reference_dir),
                   corrections_dir=str(paths.corrections_dir))

    @property
    def paths(self) -> Paths:
        return Paths.resolve(self.raw_dir, self.curated_dir, self.reports_dir, self.reference_dir,
                             self.corrections_dir)


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
