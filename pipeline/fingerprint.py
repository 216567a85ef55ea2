"""What a build depends on, and whether the published build already reflects exactly that.

A build's manifest names every input (raw files, reference tables, analysts' corrections),
every file of its code, every installed library and every setting it was given, each with a
SHA-256, a version or a value. The published database keeps the manifest of the build that
made it (`build_manifest`) and the reports folder a copy (`build-manifest.json`). A build, the
schedule and the sensor compare the current manifest with the published one: when nothing
differs there is nothing to do, and when something does, the differences say why a rebuild
runs.

The cut-off for future documentation dates defaults to today's date, which changes daily
without changing anything else. It only matters once a row the published build quarantined as
dated in the future is no longer in the future, so the manifest records the earliest such
date: a new day forces a rebuild only when it reaches that date.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass, replace
from importlib.metadata import distributions
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from pipeline.outputs import REPORTS_OUTPUT, BrokenPublishedState
from pipeline.paths import DATABASE_NAME, Paths
from pipeline.stages.discover import discover_raw_files, sha256_of

CODE_DIR = Path(__file__).resolve().parent
CODE_SUFFIXES = (".py", ".sql", ".j2")
MANIFEST_FILE = "build-manifest.json"
TODAY_SETTING = "setting/normalised_rows.today"


@dataclass(frozen=True)
class Manifest:
    """`components`: 'kind/name' -> SHA-256, version or setting value. `cut_off` (the date
    after which documentation dates were in the future) and `next_future_date` (the earliest
    date of a row quarantined for that) describe the build that used it."""

    components: dict[str, str]
    cut_off: str | None = None
    next_future_date: str | None = None
    altered: tuple[tuple[str, bool], ...] = ()
    """Of a published build: its outputs (`armtrace.duckdb`, `reports/<file>`) that are no
    longer as it published them, each with whether it is missing (else edited or replaced)."""

    @property
    def fingerprint(self) -> str:
        text = json.dumps(sorted(self.components.items()), ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def as_json(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "cut_off": self.cut_off,
                "next_future_date": self.next_future_date, "components": self.components}

    def rows(self) -> pl.DataFrame:
        """The manifest as (component, value) rows, the build's own facts under 'build/'."""
        build = {"build/fingerprint": self.fingerprint, "build/cut_off": self.cut_off,
                 "build/next_future_date": self.next_future_date}
        return pl.DataFrame(sorted({**self.components, **build}.items()),
                            schema={"component": pl.String, "value": pl.String}, orient="row")

    @classmethod
    def from_rows(cls, rows: list[tuple[str, str]]) -> Manifest:
        values = dict(rows)
        return cls({k: v for k, v in values.items() if not k.startswith("build/")},
                   values.get("build/cut_off"), values.get("build/next_future_date"))


def settings_components(run_config: dict[str, Any]) -> dict[str, str]:
    """Every op setting the run was given (defaults are not listed: they live in the code)."""
    found = {}
    for op, entry in (run_config.get("ops") or {}).items():
        for key, value in ((entry or {}).get("config") or {}).items():
            if value is not None:
                found[f"setting/{op}.{key}"] = json.dumps(value, sort_keys=True)
    return found


def _hashed_files(folder: Path, kind: str, suffixes: tuple[str, ...] | None = None
                  ) -> dict[str, str]:
    """SHA-256 of each regular file under `folder` with one of `suffixes`. Links are not
    followed (the stages refuse them and say so) but listed by their target, so that adding,
    removing or re-pointing one still makes the next build run and report it."""
    found = {}
    for top, dirnames, names in os.walk(folder):  # followlinks=False: a linked folder is a name
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in (*names, *(d for d in dirnames if Path(top, d).is_symlink())):
            path = Path(top, name)
            if suffixes is not None and path.suffix not in suffixes:
                continue
            key = f"{kind}/{path.relative_to(folder).as_posix()}"
            if path.is_symlink():
                found[key] = f"link to {os.readlink(path)}"
            elif path.is_file():
                found[key] = sha256_of(path)
    return dict(sorted(found.items()))


def library_components() -> dict[str, str]:
    # each `.metadata` (and `.version`, which reads it too) parses the distribution's METADATA
    # file again: read once, it takes a third of the time (0.05 s for 127 distributions)
    found = {}
    for metadata in (d.metadata for d in distributions()):
        if metadata["Name"]:
            found[f"library/{metadata['Name'].lower()}"] = metadata["Version"]
    return found


def current_manifest(paths: Paths, run_config: dict[str, Any], max_quarantined_share: float,
                     raw_files: pl.DataFrame | None = None) -> Manifest:
    """The manifest of a build of `paths` with `run_config` and the validation threshold
    (a resource setting, not in the run config). `raw_files` (path, sha256): the raw files as
    the build saw them; found afresh when not given."""
    raw = raw_files if raw_files is not None else discover_raw_files(paths.raw_dir)
    return Manifest({
        **{f"input/{path}": sha or f"not hashed: {refused or f'{size} bytes, over the limit'}"
           for path, sha, size, refused in raw.select("path", "sha256", "size_bytes",
                                                       "refused").rows()},
        **_hashed_files(paths.reference_dir, "reference", (".csv",)),
        **_hashed_files(paths.corrections_dir, "corrections", (".yaml", ".yml")),
        **_hashed_files(CODE_DIR, "code", CODE_SUFFIXES),
        **library_components(),
        **settings_components(run_config),
        "setting/validation.max_quarantined_share": json.dumps(max_quarantined_share),
    })


def next_future_date(*dated: tuple[pl.DataFrame | pl.LazyFrame, str]) -> str | None:
    """The earliest date of a row quarantined as dated in the future, over (frame, date column)
    pairs: item rows by `documented_on_parsed`, transfer rows by `shipped_on_parsed`. Each
    frame needs `reasons` and its date column."""
    dates = [frame.lazy().filter(pl.col("reasons").list.contains("future_date"))
             .select(pl.col(column).min()).collect().item() for frame, column in dated]
    found = [date for date in dates if isinstance(date, dt.datetime)]
    return min(found).date().isoformat() if found else None


def published_manifest(paths: Paths) -> Manifest | None:
    """The manifest of the published build, with the outputs found changed since it published
    them (`altered`, by their SHA-256 in the manifest's `outputs`). None when there is no
    published build, or the database and the reports folder do not come from one build.

    BrokenPublishedState when the reports' manifest is damaged or, for a set published
    without `outputs` (by an earlier armtrace), the database cannot be read.
    """
    manifest_file = paths.reports_dir / MANIFEST_FILE
    if not manifest_file.exists():  # reports deleted, or nothing published yet
        return None
    document = _manifest_document(manifest_file)
    if "outputs" in document:
        return replace(document["manifest"], altered=_altered_outputs(paths, document))
    return _database_manifest(paths, document["manifest"])


def _manifest_document(path: Path) -> dict[str, Any]:
    """The reports' manifest, parsed and checked; its components as `manifest`."""
    damaged = (f"the published manifest {path} is damaged ({{}}): run `armtrace build "
               f"--force` to replace the published database and reports with a fresh build")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BrokenPublishedState(damaged.format(error)) from None
    components = document.get("components") if isinstance(document, dict) else None
    outputs = document.get("outputs", {}) if isinstance(document, dict) else None
    if not (_strings(components) and _strings(outputs)):
        raise BrokenPublishedState(damaged.format("not an armtrace build manifest"))
    manifest = Manifest(components, document.get("cut_off"), document.get("next_future_date"))
    if document.get("fingerprint") != manifest.fingerprint:
        raise BrokenPublishedState(damaged.format("its fingerprint does not match what it lists"))
    return {**document, "manifest": manifest}


def _strings(mapping: object) -> bool:
    return isinstance(mapping, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in mapping.items())


def _altered_outputs(paths: Paths, document: dict[str, Any]) -> tuple[tuple[str, bool], ...]:
    altered = []
    for name, sha256 in sorted(document["outputs"].items()):
        reports_name = name.removeprefix(f"{REPORTS_OUTPUT}/")
        path = paths.database if name == DATABASE_NAME else paths.reports_dir / reports_name
        if path.is_symlink() or not path.is_file():
            altered.append((name, True))
        elif sha256_of(path) != sha256:
            altered.append((name, False))
    return tuple(altered)


def _database_manifest(paths: Paths, reports: Manifest) -> Manifest | None:
    """The manifest in the database, when it is the reports' (a set published before
    manifests listed their outputs)."""
    if not paths.database.exists():
        return None
    try:
        with duckdb.connect(str(paths.database), read_only=True) as con:
            manifest = Manifest.from_rows(
                con.sql("SELECT component, value FROM build_manifest").fetchall())
    except duckdb.CatalogException:  # published by a version that kept no manifest
        return None
    except duckdb.Error as error:
        raise damaged_database(paths.database, error) from None
    return manifest if manifest.fingerprint == reports.fingerprint else None


def damaged_database(database: Path, error: Exception) -> BrokenPublishedState:
    first_line = str(error).strip().split("\n", 1)[0]
    return BrokenPublishedState(
        f"the published database {database} cannot be read ({first_line}): run `armtrace "
        f"build --force` to replace it with a fresh build")


def _describe(key: str) -> str:
    kind, _, name = key.partition("/")
    return f"{kind} {name}"


def rebuild_reasons(published: Manifest | None, current: Manifest, today: dt.date) -> list[str]:
    """Why a build of `current` would differ from the published one; empty when it would not."""
    if published is None:
        return ["no complete published build to compare with"]
    old, new = published.components, current.components
    reasons = [f"added: {_describe(k)}" for k in sorted(new.keys() - old.keys())]
    reasons += [f"removed: {_describe(k)}" for k in sorted(old.keys() - new.keys())]
    reasons += [f"changed: {_describe(k)} ({old[k]} -> {new[k]})" if k.startswith(
        ("library/", "setting/")) else f"changed: {_describe(k)}"
                for k in sorted(old.keys() & new.keys()) if old[k] != new[k]]
    reasons += [f"removed: output {name} (published, now missing)" if missing else
                f"changed: output {name} (not as published)"
                for name, missing in published.altered]
    due = published.next_future_date
    if TODAY_SETTING not in new and due is not None and due <= today.isoformat():
        reasons.append(f"a row dated {due} was in the future at the last build "
                       f"(cut-off {published.cut_off}) and no longer is")
    return reasons
