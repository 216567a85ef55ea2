"""Dagster resources: where the build reads and writes, and how stage frames are handed on."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
from upath import UPath

from pipeline.lock import LockUnwritable, build_lock
from pipeline.outputs import BrokenPublishedState, CannotWrite, Refused, claim_output_folders
from pipeline.parts import Parts, scan_parts
from pipeline.paths import Paths
from pipeline.stages.publish import finish_interrupted_publish
from pipeline.suite_process import start_spare_for_small_build, stop_spare_process
from pipeline.validation import DEFAULT_MAX_QUARANTINED_SHARE, resolve_max_quarantined_share


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


class BuildLock(dg.ConfigurableResource):
    """Held for the whole run: one build at a time writes to a curated folder and to a reports
    folder. Before taking it, the run checks that both output folders are armtrace's
    (pipeline/outputs.py); on taking it, it first finishes or clears whatever a killed build
    left behind."""

    raw_dir: str
    curated_dir: str
    reports_dir: str
    reference_dir: str
    corrections_dir: str
    wait_seconds: float = 0.0
    """How long to wait for another build to finish before failing (0: fail at once)."""

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[BuildLock]:
        paths = Paths.resolve(self.raw_dir, self.curated_dir, self.reports_dir,
                              self.reference_dir, self.corrections_dir)
        try:
            claim_output_folders(paths)
        except (Refused, CannotWrite) as error:
            raise dg.Failure(str(error)) from None
        with build_lock(paths, self.wait_seconds):
            try:
                done = finish_interrupted_publish(paths)
            except (BrokenPublishedState, LockUnwritable) as error:
                raise dg.Failure(str(error)) from None
            for message in done if context.log else []:
                context.log.warning(message)
            yield self


class ValidationSettings(dg.ConfigurableResource):
    """Thresholds of the data checks (pipeline/validation.py)."""

    max_quarantined_share: float = DEFAULT_MAX_QUARANTINED_SHARE
    """Largest share of input rows that may be quarantined before the build is blocked."""

    @classmethod
    def resolve(cls, max_quarantined_share: float | None = None) -> ValidationSettings:
        """The flag wins over $ARMTRACE_MAX_QUARANTINED_SHARE over the default."""
        return cls(max_quarantined_share=resolve_max_quarantined_share(max_quarantined_share))


class SuiteProcess(dg.ConfigurableResource):
    """The process a small build's GX suites run in (pipeline/suite_process.py), for the
    length of a run: started as the run starts when the item logs under `raw_dir` make a
    small build, so that it imports GX (4 s) while the run reads them, and ended with the run.
    `armtrace build` starts it before it imports Dagster; this starts it for the runs that the
    UI, the sensor and the schedule launch (a no-op where one is started already)."""

    raw_dir: str

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[SuiteProcess]:
        start_spare_for_small_build(Path(self.raw_dir))
        try:
            yield self
        finally:  # a run that failed before the items suite leaves the spare waiting
            stop_spare_process()


class _ParquetFrames(dg.UPathIOManager):
    extension = ".parquet"

    def dump_to_path(self, context: dg.OutputContext, obj: pl.DataFrame | Parts,
                     path: UPath) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_dir():  # a previous build's output, parts or one file
            shutil.rmtree(target)
        target.unlink(missing_ok=True)
        if isinstance(obj, Parts):  # already written file by file: moved, not copied
            obj.folder.replace(target)
        else:
            obj.write_parquet(target)

    def load_from_path(self, context: dg.InputContext, path: UPath) -> Any:
        target = Path(path)
        frame = scan_parts(target) if target.is_dir() else pl.scan_parquet(target)
        if context.dagster_type.typing_type is pl.LazyFrame:  # reads only what is collected
            return frame
        return frame.collect()


class StageFrames(dg.ConfigurableIOManagerFactory):
    """Stage outputs (polars frames) as Parquet files in the build's scratch folder. An input
    annotated `pl.LazyFrame` is scanned, not read: an asset that needs a count or two columns
    of a million-row frame reads just those. An output that is `Parts` (written file by file)
    is a folder of Parquet files, moved into place and scanned as one frame.

    dagster-polars would do this, but its releases pin an older Dagster.
    """

    base_dir: str

    def create_io_manager(self, context: dg.InitResourceContext) -> _ParquetFrames:
        return _ParquetFrames(base_path=UPath(self.base_dir))
