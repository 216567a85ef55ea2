"""Stages 2 to 3 for the item logs, in one pass per file: read (read.py), apply the analysts'
corrections (correct.py) and normalise (clean.py) each log's rows, then write them once.

Each stage is its own module and is tested on its own; this one only chains them, file by
file. Handing the rows from stage to stage through Parquet files wrote every row once more
and read it back: at ten million rows the three stages took 54 to 59 s, and 45 to 46 s in
one pass, with the same rows (docs/decisions/scale.md).
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from pipeline.parts import Parts
from pipeline.reference import Reference
from pipeline.stages.clean import normalise_each_file
from pipeline.stages.correct import FileByFileCorrections
from pipeline.stages.read import FILE_REPORT_SCHEMA, read_files


def normalise_logs(raw_dir: Path, raw_files: pl.DataFrame, corrections: FileByFileCorrections,
                   reference: Reference, today: dt.date,
                   parts_dir: Path) -> tuple[Parts, pl.DataFrame, pl.DataFrame]:
    """Every item log's rows read, corrected and normalised, file by file, as parts in
    `parts_dir`; one report line per file read (read_files); the corrections applied
    (FileByFileCorrections.audit, which raises CorrectionError, once every file is read,
    when a correction could not be applied as written).

    In memory at a time: the rows of the logs whose slices are being normalised or written
    (at most three slices), of the next log being read, and of the workbook read ahead
    (spilled beside `parts_dir` until its turn). Needs `raw_files` columns path, dataset,
    format.
    """
    report: list[dict] = []
    spill_dir = parts_dir.with_name(parts_dir.name + "-workbooks")

    def corrected_files() -> Iterator[pl.DataFrame]:
        for rows, line in read_files(raw_dir, raw_files, reference.contract("items"),
                                     spill_dir):
            report.append(line)
            yield corrections.apply(rows)

    files = corrected_files()
    try:
        parts = normalise_each_file(files, reference, today, parts_dir)
    finally:
        files.close()  # a failed step stops the read-ahead now, not when files is collected
        shutil.rmtree(spill_dir, ignore_errors=True)
    return parts, pl.DataFrame(report, schema=FILE_REPORT_SCHEMA), corrections.audit()
