"""Whether the raw data files are the synthetic sample, real logs, or a mix of both.

The label a report carries follows from the raw files themselves, never from a file beside
them. A raw data file (under `items/` or `transfers/`) is a sample file when either
- its SHA-256 is one `armtrace sample` wrote: the table `sample_files.csv` in the reference
  folder (sha256, path, seed, scale), committed with the project and written by `armtrace
  sample --fingerprints`; deleting anything in the raw folder does not change it; or
- it carries the sample's own mark: every item row of the sample holds SYNTHETIC_LABEL in its
  `Dataset` cell, and its workbook a "Read me" sheet that says it. So a sample file someone
  edited, or a sample of another --seed or --scale, is still a sample file. Only the first
  MARK_WINDOW bytes of each file (or workbook part) are searched: every sample row has it.

All data files sample files: synthetic, and the report is labelled. None: real, no label
(a stray `SYNTHETIC.md` is not a data file and changes nothing). Both: MixedRawFolder, and
nothing is published: a report of the mix would either show invented rows as real or label
real ones as invented.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import polars as pl

SYNTHETIC_LABEL = "SYNTHETIC: armtrace sample data, not a real documented item"
"""The sample's mark: in every item row's `Dataset` cell and on each workbook's first sheet."""
SAMPLE_FILES = "sample_files.csv"
SAMPLE_FILES_SCHEMA = {"sha256": pl.String, "path": pl.String, "seed": pl.Int64,
                       "scale": pl.Int64}
DATA_FOLDERS = ("items", "transfers")
MARK_WINDOW = 64 * 1024
"""Bytes searched for the mark at the start of a file or of a workbook's sheet: a few hundred
sample rows, each of which carries it."""
SHOWN_FILES = 3
UNREADABLE_ZIP = (OSError, EOFError, RuntimeError, NotImplementedError, zipfile.BadZipFile,
                  zlib.error)
"""What zipfile raises on a damaged or encrypted archive, or one of a method it lacks."""


class MixedRawFolder(Exception):
    """The raw folder holds sample files and other data files; the message names them."""


class SampleFilesError(Exception):
    """The table of the sample's fingerprints cannot be read; the message says what to do."""


@dataclass(frozen=True)
class Provenance:
    """The raw data files (paths under the raw folder) that are sample files, and the others."""

    sample_files: tuple[str, ...]
    other_files: tuple[str, ...]

    @property
    def synthetic(self) -> bool:
        """Whether the report must be labelled synthetic: its rows come from the sample."""
        return bool(self.sample_files)

    def summary_line(self) -> str:
        if self.synthetic:
            return (f"data: SYNTHETIC sample ({_files(len(self.sample_files))}): the "
                    f"report is labelled synthetic")
        return (f"data: real ({_files(len(self.other_files))}, none of them a sample "
                f"file): the report carries no synthetic label")


def raw_provenance(raw_dir: Path, raw_files: pl.DataFrame, reference_dir: Path) -> Provenance:
    """Which raw data files are sample files. `raw_files` has each file's `path` (relative
    to `raw_dir`), `dataset` (items, transfers or other) and `sha256` (NULL for a file that
    was not opened: it is not searched for the mark). MixedRawFolder when there are both;
    SampleFilesError when the reference folder's sample_files.csv cannot be read."""
    known = sample_fingerprints(reference_dir)
    data = raw_files.filter(pl.col("dataset").is_in(DATA_FOLDERS))
    sample, other = [], []
    for path, sha256 in data.select("path", "sha256").sort("path").rows():
        is_sample = sha256 is not None and (sha256 in known or carries_mark(raw_dir / path))
        (sample if is_sample else other).append(path)
    provenance = Provenance(tuple(sample), tuple(other))
    if sample and other:
        raise MixedRawFolder(mixed_message(raw_dir, provenance))
    return provenance


def sample_fingerprints(reference_dir: Path) -> frozenset[str]:
    """The SHA-256s in the reference folder's sample_files.csv (none when it has no such
    file: then only the mark tells a sample file)."""
    table = reference_dir / SAMPLE_FILES
    if not table.exists():
        return frozenset()
    try:
        frame = pl.read_csv(table, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as error:
        raise SampleFilesError(f"{table} cannot be read ({error}): restore it from the "
                               f"project (git checkout {SAMPLE_FILES})") from None
    if "sha256" not in frame.columns:
        raise SampleFilesError(f"{table}: the first line must name the columns "
                               f"{', '.join(SAMPLE_FILES_SCHEMA)}: restore it from the project")
    return frozenset(frame["sha256"].drop_nulls().str.to_lowercase())


def carries_mark(path: Path) -> bool:
    """Whether SYNTHETIC_LABEL is in the first MARK_WINDOW bytes of the file or, for a
    workbook, of one of its sheets or its shared strings. The file is opened without
    following links, as the build reads raw files; one that cannot be read has no mark."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    label = SYNTHETIC_LABEL.encode()
    with os.fdopen(handle, "rb") as file:
        head = file.read(MARK_WINDOW)
        if not head.startswith(b"PK\x03\x04"):
            return label in head
        try:
            with zipfile.ZipFile(file) as workbook:
                return any(label in _part_head(workbook, name)
                           for name in workbook.namelist() if _holds_cells(name))
        except (*UNREADABLE_ZIP, ValueError):  # ValueError: a damaged central directory
            return False


def _holds_cells(name: str) -> bool:
    return name == "xl/sharedStrings.xml" or (name.startswith("xl/worksheets/")
                                              and name.endswith(".xml"))


def _part_head(workbook: zipfile.ZipFile, name: str) -> bytes:
    """The first MARK_WINDOW bytes of a workbook part, decompressed no further (empty when
    the part cannot be decompressed: the other parts may still show the mark)."""
    try:
        with workbook.open(name) as part:
            return part.read(MARK_WINDOW)
    except UNREADABLE_ZIP:
        return b""


def _first(paths: tuple[str, ...]) -> str:
    shown = ", ".join(paths[:SHOWN_FILES])
    return shown + (f" and {len(paths) - SHOWN_FILES} more" if len(paths) > SHOWN_FILES else "")


def _files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


def mixed_message(raw_dir: Path, provenance: Provenance) -> str:
    sample, other = provenance.sample_files, provenance.other_files
    return (f"mixed raw folder {raw_dir}: {_files(len(sample))} of the synthetic sample "
            f"({_first(sample)}) beside {_files(len(other))} of other logs ({_first(other)}); "
            f"nothing was published: move the sample's files out of the folder, or build your "
            f"logs from a folder of their own with --raw DIR (README, \"From the sample to "
            f"your own logs\")")
