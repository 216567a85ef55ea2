"""Stage 2b: apply analysts' corrections to the parsed rows, before cleaning.

Raw logs are evidence and are never edited. A correction lives in a versioned YAML file under
the corrections folder (data/corrections/README.md gives the format): one record, one field,
the new raw text, why and who decided. Its `expect` guard holds the raw text the correction
assumes; when a log now holds something else, or no row has the record any more, or two
corrections change the same cell, the build fails and lists every such problem instead of
applying anything blindly. A corrected value is raw text: cleaning, validation and quarantine
treat it like any other. The original cells (`cells`) are left as they were.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import stat
from pathlib import Path
from typing import Annotated, Any, Literal

import polars as pl
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    StrictStr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from pipeline.columns import CANONICAL_NAMES, ITEMS
from pipeline.stages.read import numbered_schema
from pipeline.stages.workbook_guard import LIMITS, limit
from pipeline.tables import CORRECTIONS

FILE_SUFFIXES = (".yaml", ".yml")
WHAT_TO_DO = "review the log and update or delete the correction"

# Limits on a corrections file (docs/decisions/corrections.md). The format nests
# three levels (corrections: a list of mappings of text), so depth is a property of the
# format, not a setting; the size is a setting, LIMITS["corrections_bytes"].
ENV_MAX_CORRECTIONS_BYTES = LIMITS["corrections_bytes"].env
MAX_NESTING = 8
QUOTED_CHARS = 80  # of a value quoted in a message: never the whole input

Text = Annotated[StrictStr, StringConstraints(strip_whitespace=True, min_length=1)]

CORRECTION_SCHEMA = {
    "corrections_file": pl.String, "corrections_sha256": pl.String, "entry": pl.Int64,
    "corrections_line": pl.Int64, "record_id": pl.String, "only_file": pl.String,
    "field": pl.String, "expected": pl.String, "value": pl.String, "reason": pl.String,
    "decided_by": pl.String, "decided_on": pl.Date,
}


class CorrectionError(Exception):
    """Corrections that cannot be read or applied; the message lists each problem."""


class RefusedYAML(yaml.MarkedYAMLError):
    """Valid YAML that a corrections file must not hold (anchors, aliases, deep nesting)."""


LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's: five times faster


def check_yaml_events(text: str) -> None:
    """Raise RefusedYAML at the first anchor or alias (`&a`, `*a`: a few hundred bytes of
    nested aliases expand to gigabytes) or collection nested deeper than MAX_NESTING (PyYAML
    builds nodes recursively: 50,000 levels are a RecursionError). Reads the parser's events
    only, so nothing is built from a refused file."""
    nesting = 0
    for event in yaml.parse(text, Loader=LOADER):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise RefusedYAML(problem="anchors and aliases (&name, *name) are not allowed in "
                                      "a corrections file; write each value out",
                              problem_mark=event.start_mark)
        if isinstance(event, yaml.CollectionStartEvent):
            nesting += 1
            if nesting > MAX_NESTING:
                raise RefusedYAML(problem=f"nested more than {MAX_NESTING} levels deep; a "
                                          "corrections file is a list of entries of text",
                                  problem_mark=event.start_mark)
        elif isinstance(event, yaml.CollectionEndEvent):
            nesting -= 1


def _shown(value: object) -> str:
    """repr of a value from a corrections file, cut to QUOTED_CHARS."""
    text = repr(value)
    return text if len(text) <= QUOTED_CHARS else f"{text[:QUOTED_CHARS]}... ({len(text):,} " \
                                                   "characters)"


class Correction(BaseModel):
    """One entry of a corrections file."""

    model_config = ConfigDict(extra="forbid")

    record_id: Text
    source_file: Text | None = None
    field: Literal[CANONICAL_NAMES]  # type: ignore[valid-type]
    expect: StrictStr | None
    value: StrictStr | None
    reason: Text
    decided_by: Text
    decided_on: dt.date

    @field_validator("expect", "value")
    @classmethod
    def as_parsed_text(cls, text: str | None) -> str | None:
        """Cell text as the reader gives it: trimmed, and an empty cell is null."""
        return (text.strip() or None) if text is not None else None

    @model_validator(mode="after")
    def changes_something(self) -> Correction:
        if self.expect == self.value:
            raise ValueError("value is the same as expect: the correction changes nothing")
        return self


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"unknown key {where!r} (allowed: {', '.join(Correction.model_fields)})"
    if error["type"] == "missing":
        return f"missing key {where!r}"
    if error["type"] == "string_type":
        example = str(error["input"])[:QUOTED_CHARS]
        return (f"{where}: {error['msg']} (got {_shown(error['input'])}); write the value in "
                f"quotes, e.g. \"{example}\"")
    if error["type"] == "literal_error":
        return (f"{where}: {_shown(error['input'])} is not a column of the item-log contract "
                f"(expected one of {', '.join(CANONICAL_NAMES)})")
    return f"{where + ': ' if where else ''}{error['msg']}"


def _entry_nodes(document: yaml.Node | None) -> list[yaml.Node] | None:
    """The YAML nodes of the entries under `corrections:`, or None when the shape is wrong."""
    if not isinstance(document, yaml.MappingNode):
        return None
    keys = [key.value for key, _ in document.value]
    if keys != ["corrections"] or not isinstance(document.value[0][1], yaml.SequenceNode):
        return None
    return document.value[0][1].value


def _duplicate_keys(node: yaml.Node) -> list[str]:
    """Keys given twice in one entry (PyYAML would silently keep the last)."""
    if not isinstance(node, yaml.MappingNode):
        return []
    keys = [key.value for key, _ in node.value]
    return sorted({key for key in keys if keys.count(key) > 1})


def read_corrections_file(path: Path, relative: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The entries of one corrections file as rows of CORRECTION_SCHEMA, and its problems."""
    most = limit("corrections_bytes")
    with path.open("rb") as handle:
        data = handle.read(most + 1)
    if len(data) > most:
        return [], [f"{path}: holds more than the limit of {most:,} bytes "
                    f"(${ENV_MAX_CORRECTIONS_BYTES}); split it into several files"]
    try:
        text = data.decode("utf-8")
        check_yaml_events(text)
        loader = LOADER(text)
        try:
            document = loader.get_single_node()
            content = loader.construct_document(document) if document is not None else None
        finally:
            loader.dispose()
    except UnicodeDecodeError as error:
        return [], [f"{path}: not UTF-8 text ({error.reason} at byte {error.start}); "
                    "save the file as UTF-8"]
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = (getattr(error, "problem", None) or str(error))[:200]
        what = "refused" if isinstance(error, RefusedYAML) else "not valid YAML"
        return [], [f"{path}{where}: {what} ({problem})"]
    nodes = _entry_nodes(document)
    if nodes is None:
        return [], [f"{path}: expected a mapping with one key, `corrections:`, holding a list of "
                    "corrections (see data/corrections/README.md)"]
    digest = hashlib.sha256(data).hexdigest()
    rows, problems = [], []
    for entry, (node, raw) in enumerate(zip(nodes, content["corrections"], strict=True), 1):
        where = f"{path}, entry {entry} (line {node.start_mark.line + 1})"
        duplicates = _duplicate_keys(node)
        if duplicates:
            problems.append(f"{where}: key given twice: {', '.join(duplicates)}")
            continue
        if not isinstance(raw, dict):
            problems.append(f"{where}: expected keys {', '.join(Correction.model_fields)}, "
                            f"got {_shown(raw)}")
            continue
        try:
            correction = Correction.model_validate(raw)
        except ValidationError as error:
            problems.extend(f"{where}: {_describe(e)}" for e in error.errors())
            continue
        rows.append({
            "corrections_file": relative, "corrections_sha256": digest, "entry": entry,
            "corrections_line": node.start_mark.line + 1, "record_id": correction.record_id,
            "only_file": correction.source_file, "field": correction.field,
            "expected": correction.expect, "value": correction.value,
            "reason": correction.reason, "decided_by": correction.decided_by,
            "decided_on": correction.decided_on,
        })
    return rows, problems


def load_corrections(corrections_dir: Path) -> pl.DataFrame:
    """Every correction in every YAML file under `corrections_dir` (none if it is absent),
    in file-path then entry order. Raises CorrectionError listing every malformed entry."""
    paths, problems = _corrections_files(corrections_dir)
    rows = []
    for path in paths:
        found, wrong = read_corrections_file(path, path.relative_to(corrections_dir).as_posix())
        rows.extend(found)
        problems.extend(wrong)
    if problems:
        raise CorrectionError(_problem_list("cannot read", problems))
    return pl.DataFrame(rows, schema=CORRECTION_SCHEMA)


def _corrections_files(corrections_dir: Path) -> tuple[list[Path], list[str]]:
    """The regular *.yaml and *.yml files under `corrections_dir` in path order, and a problem
    for each such name that is not a regular file (a link, a FIFO, a device: never followed
    or opened, which could block or read outside the folder) and each folder that cannot be
    listed (Path.rglob would skip it without a word)."""
    if not corrections_dir.is_dir():
        return [], []
    paths, problems = [], []

    def unlisted(error: OSError) -> None:
        problems.append(f"{error.filename}: the folder cannot be listed ({error.strerror}); "
                        "give the build read access to it")

    for folder, _, names in os.walk(corrections_dir, onerror=unlisted):
        for name in names:
            path = Path(folder) / name
            if path.suffix not in FILE_SUFFIXES:  # as the fingerprint lists them
                continue
            mode = path.lstat().st_mode
            if stat.S_ISREG(mode):
                paths.append(path)
            else:
                problems.append(f"{path}: not a regular file (a link, FIFO or device); put "
                                "the corrections file itself in the folder")
    return sorted(paths), problems


MAX_PROBLEMS_LISTED = 100  # a broken file of thousands of entries is not a page of errors


def _problem_list(what: str, problems: list[str]) -> str:
    listed = problems[:MAX_PROBLEMS_LISTED]
    more = len(problems) - len(listed)
    return (f"{what} the corrections ({len(problems):,} problem{'s' if len(problems) > 1 else ''}"
            "); nothing was applied:\n" + "\n".join(f"    - {p}" for p in listed)
            + (f"\n    - ... and {more:,} more" if more else ""))


def _cell(text: str | None) -> str:
    return "an empty cell" if text is None else repr(text)


def _entry(row: dict[str, Any], corrections_dir: Path) -> str:
    return (f"{corrections_dir / row['corrections_file']}, entry {row['entry']} "
            f"(line {row['corrections_line']})")


def _row(row: dict[str, Any]) -> str:
    sheet = f", sheet {row['source_sheet']}" if row["source_sheet"] else ""
    return f"{row['source_file']}{sheet}, line {row['source_line']}"


def match_corrections(parsed: pl.LazyFrame, corrections: pl.DataFrame) -> pl.DataFrame:
    """One row per (correction, parsed row it targets) with the cell's current text as `found`.

    Needs `parsed` columns row_number, record_id, source_file, source_sheet, source_line and
    the canonical columns; `corrections` as load_corrections gives it. Reads only the rows
    whose record_id a correction names.
    """
    ids = corrections["record_id"].unique().implode()
    rows = parsed.select("row_number", "record_id", "source_file", "source_sheet",
                         "source_line").filter(pl.col("record_id").is_in(ids)).collect()
    matches = corrections.join(rows, on="record_id", how="inner").filter(
        pl.col("only_file").is_null() | (pl.col("only_file") == pl.col("source_file")))
    cells = parsed.filter(pl.col("row_number").is_in(matches["row_number"].implode())).unpivot(
        index="row_number", on=list(CANONICAL_NAMES), variable_name="field", value_name="found"
    ).collect()
    return matches.join(cells, on=["row_number", "field"], how="left").sort(
        "corrections_file", "entry", "row_number")


def correction_problems(corrections: pl.DataFrame, matches: pl.DataFrame,
                        parsed: pl.LazyFrame, corrections_dir: Path) -> list[str]:
    """Corrections that match no row, whose guard fails, or that change a cell another
    correction changes too."""
    problems: list[tuple[str, int, str]] = []  # file, entry, message: listed in file order
    unmatched = corrections.join(matches, on=["corrections_file", "entry"], how="anti")
    for row in unmatched.iter_rows(named=True):
        limit = f" in {row['only_file']}" if row["only_file"] else ""
        elsewhere = parsed.filter(pl.col("record_id") == row["record_id"]).select(
            "source_file").collect()["source_file"]
        found_in = (f" (it is in {', '.join(elsewhere.unique(maintain_order=True))})"
                    if elsewhere.len() else "")
        problems.append((row["corrections_file"], row["entry"],
            f"{_entry(row, corrections_dir)}: no row has record_id {row['record_id']!r}{limit}"
            f"{found_in}; the record may have been renamed or removed: {WHAT_TO_DO}"))
    changed = matches.filter(~pl.col("expected").eq_missing(pl.col("found")))
    for row in changed.iter_rows(named=True):
        problems.append((row["corrections_file"], row["entry"],
            f"{_entry(row, corrections_dir)}: record_id {row['record_id']!r}, field "
            f"{row['field']}: the correction expects {_cell(row['expected'])} but "
            f"{_row(row)} now holds {_cell(row['found'])}; the log changed after the "
            f"correction was written: {WHAT_TO_DO}"))
    clashes = matches.filter(pl.len().over("row_number", "field") > 1)
    for (_, field), group in clashes.group_by("row_number", "field", maintain_order=True):
        entries = " and ".join(_entry(row, corrections_dir) for row in group.iter_rows(named=True))
        first = group.row(0, named=True)
        problems.append((first["corrections_file"], first["entry"],
            f"{entries} all change field {field} of record_id {first['record_id']!r} at "
            f"{_row(first)}: keep one of them"))
    return [message for *_, message in sorted(problems)]


class FileByFileCorrections:
    """The corrections applied to one source file's parsed rows at a time (`apply`), and
    then checked across every file (`audit`): a correction whose record no file has, whose
    guard fails, or that changes a cell another correction changes too, fails the build.

    The build reads, corrects and normalises each log in one pass, so the rows of a file are
    corrected before the next file is read; the problems are raised once every file is seen,
    listing them all, and the build then publishes nothing.
    """

    def __init__(self, corrections: pl.DataFrame, corrections_dir: Path) -> None:
        self.corrections = corrections
        self.corrections_dir = corrections_dir
        self._ids = corrections["record_id"].unique().implode()
        self._matches: list[pl.DataFrame] = []
        self._seen: list[pl.DataFrame] = []  # (record_id, source_file) of the named records

    def apply(self, rows: pl.DataFrame) -> pl.DataFrame:
        """`rows` with every correction that targets them applied. Needs the parsed-row
        columns (match_corrections); `rows` may be one file's or any set of whole files'."""
        if self.corrections.is_empty():
            return rows
        matches = match_corrections(rows.lazy(), self.corrections)
        self._matches.append(matches)
        self._seen.append(rows.select("record_id", "source_file").filter(
            pl.col("record_id").is_in(self._ids)))
        for (field,), changes in matches.partition_by("field", as_dict=True).items():
            # two corrections of one cell fail the build at audit(); here either will do
            changes = changes.unique("row_number", keep="first", maintain_order=True)
            targeted = pl.col("row_number").is_in(changes["row_number"].implode())
            new_text = pl.col("row_number").replace_strict(
                changes["row_number"], changes["value"], default=None, return_dtype=pl.String)
            rows = rows.with_columns(
                pl.when(targeted).then(new_text).otherwise(pl.col(field)).alias(field))
        return rows

    def audit(self) -> pl.DataFrame:
        """The `corrections` table of every correction applied so far. Raises
        CorrectionError, listing every problem, when any correction could not be applied as
        written."""
        no_rows = pl.LazyFrame(schema=numbered_schema(ITEMS))
        matches = pl.concat([match_corrections(no_rows, self.corrections), *self._matches]).sort(
            "corrections_file", "entry", "row_number")
        seen = pl.concat([no_rows.select("record_id", "source_file").collect(), *self._seen])
        problems = correction_problems(self.corrections, matches, seen.lazy(),
                                       self.corrections_dir)
        if problems:
            raise CorrectionError(_problem_list("cannot apply", problems))
        return CORRECTIONS.select(matches)
