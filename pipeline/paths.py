"""Where armtrace reads and writes. CLI flags win over environment variables over defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

ENV_RAW_DIR = "ARMTRACE_RAW_DIR"
ENV_CURATED_DIR = "ARMTRACE_CURATED_DIR"
ENV_REPORTS_DIR = "ARMTRACE_REPORTS_DIR"
ENV_REFERENCE_DIR = "ARMTRACE_REFERENCE_DIR"
ENV_CORRECTIONS_DIR = "ARMTRACE_CORRECTIONS_DIR"

DATABASE_NAME = "armtrace.duckdb"


def staged_database_of(database: Path) -> Path:
    return database.with_name(f".{database.name}.staged")


def journal_of(database: Path) -> Path:
    return database.with_name(f".{database.name}.publishing")


@dataclass(frozen=True)
class Paths:
    raw_dir: Path
    curated_dir: Path
    reports_dir: Path
    reference_dir: Path
    corrections_dir: Path

    @classmethod
    def resolve(
        cls,
        raw_dir: str | Path | None = None,
        curated_dir: str | Path | None = None,
        reports_dir: str | Path | None = None,
        reference_dir: str | Path | None = None,
        corrections_dir: str | Path | None = None,
    ) -> Paths:
        def pick(given: str | Path | None, env: str, default: Path) -> Path:
            chosen = given or os.environ.get(env) or default
            return Path(chosen).expanduser().resolve()

        return cls(
            raw_dir=pick(raw_dir, ENV_RAW_DIR, REPO_ROOT / "data" / "raw"),
            curated_dir=pick(curated_dir, ENV_CURATED_DIR, REPO_ROOT / "data" / "curated"),
            reports_dir=pick(reports_dir, ENV_REPORTS_DIR, REPO_ROOT / "reports"),
            reference_dir=pick(reference_dir, ENV_REFERENCE_DIR, REPO_ROOT / "data" / "reference"),
            corrections_dir=pick(corrections_dir, ENV_CORRECTIONS_DIR,
                                 REPO_ROOT / "data" / "corrections"),
        )

    @property
    def items_dir(self) -> Path:
        return self.raw_dir / "items"

    @property
    def database(self) -> Path:
        """The published database: replaced only by an atomic rename."""
        return self.curated_dir / DATABASE_NAME

    @property
    def work_dir(self) -> Path:
        """Build scratch space: stage outputs and the database being built."""
        return self.curated_dir / ".work"

    @property
    def stages_dir(self) -> Path:
        """Stage outputs, one per asset at `<asset>.parquet` (the StageFrames IO manager's
        layout): a Parquet file, or a folder of parts for a stage written file by file."""
        return self.work_dir / "stages"

    def stage_file(self, asset: str) -> Path:
        return self.stages_dir / f"{asset}.parquet"

    @property
    def work_database(self) -> Path:
        return self.work_dir / DATABASE_NAME

    @property
    def reports_staging_dir(self) -> Path:
        """Where the next reports folder is built: beside the published one, so the swap is a
        rename on one file system."""
        return self.reports_dir.with_name(f".{self.reports_dir.name}.building")

    @property
    def staged_database(self) -> Path:
        """The next database, copied beside the published one before the set is committed."""
        return staged_database_of(self.database)

    @property
    def journal(self) -> Path:
        """The publishing journal: written (the commit point) once both outputs are staged."""
        return journal_of(self.database)

    def retired_reports_dir(self, pid: int) -> Path:
        """Where a swap moves the published reports folder aside before removing it."""
        return self.reports_dir.with_name(f".{self.reports_dir.name}.{pid}.old")

    @property
    def reports_siblings_prefix(self) -> str:
        """Every name armtrace gives beside the reports folder (staging, retired folders, its
        lock) starts with this."""
        return f".{self.reports_dir.name}."

    def parts_dir(self, asset: str) -> Path:
        """Where a stage that works file by file writes one Parquet file per input file."""
        return self.work_dir / "parts" / asset
