"""Great Expectations suites on the parsed rows and on `items`, and their Data Docs.

The suites are data: a list of `Expectation` (GX expectation class, its arguments, a
severity and why it holds) per suite, readable without knowing GX. `run_suite` validates a
polars frame against one suite with an ephemeral GX context (GX's SQL datasource on DuckDB
fails every expectation silently, so frames go through pandas) and writes that suite's Data
Docs into a folder of its own, rewritten to need no network. GX is imported inside the
functions: the import takes seconds and the pipeline module must load fast.

ERROR expectations block publishing (the asset checks in `pipeline/checks.py` are blocking);
WARN expectations are reported and do not block.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import threading
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import polars as pl

from pipeline.ahead import computed_ahead
from pipeline.data_docs import make_offline

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)
ERROR, WARN = "ERROR", "WARN"
EXAMPLES = 3
DATA_DOCS_DIR = "data-docs"
DEFAULT_MAX_QUARANTINED_SHARE = 0.05
ENV_MAX_QUARANTINED_SHARE = "ARMTRACE_MAX_QUARANTINED_SHARE"
EARLIEST_YEAR = 1850
MAX_QUANTITY = 10_000_000  # the input contract's limit, as pipeline/stages/clean.py applies it
CALIBRE_FAMILIES = ["warsaw_pact", "nato", "other", "unknown"]
ITEM_KINDS = ["weapons", "ammunition", "ied_materiel"]
PROVENANCE = ("source_file", "source_line")


def resolve_max_quarantined_share(given: float | None = None) -> float:
    """The largest quarantined share allowed: the flag, else $ARMTRACE_MAX_QUARANTINED_SHARE,
    else the default."""
    if given is not None:
        return given
    return float(os.environ.get(ENV_MAX_QUARANTINED_SHARE) or DEFAULT_MAX_QUARANTINED_SHARE)


class ExpectationError(RuntimeError):
    """An expectation could not be evaluated: a programming error, not bad data."""


@dataclass(frozen=True)
class Expectation:
    type: str
    """GX expectation class, e.g. ExpectColumnValuesToNotBeNull."""
    kwargs: dict[str, Any]
    why: str
    severity: str = ERROR

    @property
    def column(self) -> str | None:
        return self.kwargs.get("column") or self.kwargs.get("column_A")


@dataclass(frozen=True)
class Outcome:
    """The result of one expectation: examples are (file:line, value) pairs."""

    expectation: Expectation
    success: bool
    unexpected_count: int
    examples: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class SuiteResult:
    suite: str
    rows: int
    outcomes: list[Outcome]
    data_docs: Path | None

    def failed(self, severity: str | None = None) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success
                and (severity is None or o.expectation.severity == severity)]

    @property
    def passed(self) -> bool:
        return not self.failed(ERROR)


def _not_null(column: str, why: str) -> Expectation:
    return Expectation("ExpectColumnValuesToNotBeNull", {"column": column}, why)


def _unique(column: str, why: str, severity: str = ERROR) -> Expectation:
    return Expectation("ExpectColumnValuesToBeUnique", {"column": column}, why, severity)


PARSED_ROWS_SUITE = [
    _not_null("row_number", "every input row has a position in the build"),
    _unique("row_number", "row_number is the key that links items, versions, merges and "
                          "quarantine"),
    _not_null("source_file", "provenance: every row names its file"),
    Expectation("ExpectColumnValuesToBeBetween",
                {"column": "source_line", "min_value": 1},
                "lines count from 1 (NULL only for the one row of an unreadable file)"),
]


def items_suite(categories: pl.DataFrame, country_names: list[str],
                today: dt.date) -> list[Expectation]:
    """The suite on `items`. categories: category, item_kind (ref_categories);
    country_names: every display name a country may take (ref_countries.name)."""
    required = ["record_id", "documented_on", "documented_in", "site", "category", "item_kind",
                "quantity"]
    return [
        *[_not_null(column, "required by the item-log contract") for column in required],
        _not_null("source_file", "provenance"), _not_null("source_line", "provenance"),
        _unique("row_number", "one item per input row"),
        _unique("team_record_id", "resolve keeps one version per record id of a team"),
        Expectation("ExpectColumnValuesToNotBeNull", {"column": "origin", "mostly": 0.9},
                    "the figures by origin rest on items whose origin is known", WARN),
        Expectation("ExpectColumnValuesToBeInSet",
                    {"column": "category", "value_set": sorted(categories["category"])},
                    "contract categories"),
        Expectation("ExpectColumnValuesToBeInSet", {"column": "item_kind", "value_set": ITEM_KINDS},
                    "the three kinds counted separately"),
        Expectation("ExpectColumnValuesToBeInSet",
                    {"column": "calibre_family", "value_set": CALIBRE_FAMILIES},
                    "calibre families of the figures"),
        Expectation("ExpectColumnValuesToBeInSet",
                    {"column": "origin", "value_set": country_names}, "reference countries"),
        Expectation("ExpectColumnValuesToBeInSet",
                    {"column": "documented_in", "value_set": country_names},
                    "reference countries"),
        Expectation("ExpectColumnValuesToBeBetween",
                    {"column": "quantity", "min_value": 1, "max_value": MAX_QUANTITY},
                    "a row documents at least one item or unit, and at most the contract's "
                    "limit"),
        Expectation("ExpectColumnValuesToBeBetween",
                    {"column": "weapon_quantity", "min_value": 1, "max_value": 1},
                    "weapons are documented one per row (quantity of weapons rows)"),
        Expectation("ExpectColumnValuesToBeBetween",
                    {"column": "year_of_manufacture", "min_value": EARLIEST_YEAR},
                    f"no manufacture before {EARLIEST_YEAR}"),
        Expectation("ExpectColumnPairValuesAToBeGreaterThanB",
                    {"column_A": "documented_year", "column_B": "year_of_manufacture",
                     "or_equal": True, "ignore_row_if": "either_value_is_missing"},
                    "nothing is made after the year it was documented"),
        Expectation("ExpectColumnValuesToBeBetween",
                    {"column": "latitude", "min_value": -90, "max_value": 90}, "degrees"),
        Expectation("ExpectColumnValuesToBeBetween",
                    {"column": "longitude", "min_value": -180, "max_value": 180}, "degrees"),
        Expectation("ExpectColumnValuesToBeBetween",
                    {"column": "documented_on",
                     "max_value": dt.datetime.combine(today, dt.time())},
                    "nothing is documented after the build's today"),
    ]


def items_frame(items: Frame) -> Frame:
    """items with the derived columns the suite compares (documented_year, weapon_quantity,
    team_record_id: `team/record_id`, the team being the first folder under items/). Needs
    documented_on, item_kind, quantity, source_file and record_id."""
    return items.with_columns(
        documented_year=pl.col("documented_on").dt.year(),
        team_record_id=pl.format("{}/{}", pl.col("source_file").str.extract(
            r"^items/([^/]+)/").fill_null(""), pl.col("record_id")),
        weapon_quantity=pl.when(pl.col("item_kind") == "weapons").then(pl.col("quantity")),
    )


def validate_items(con: duckdb.DuckDBPyConnection, today: dt.date,
                   docs_dir: Path | None) -> SuiteResult:
    """The items suite (items_suite, with the reference tables `con` holds) on `items`."""
    categories = con.sql("SELECT category, item_kind FROM ref_categories").pl()
    names = [n for (n,) in con.sql("SELECT DISTINCT name FROM ref_countries "
                                   "UNION SELECT DISTINCT present_name FROM ref_countries "
                                   "WHERE present_name IS NOT NULL ORDER BY 1").fetchall()]
    # lazy: the suite collects a column or two at a time, DuckDB reading just those. In stored
    # order, which is row order (publish writes them so): sorting each column's read by
    # row_number took half a gigabyte at ten million items, and the order only places examples.
    items = con.sql("SELECT * FROM items").pl(lazy=True)
    return run_suite("items", items_frame(items), items_suite(categories, names, today),
                     docs_dir)


def validate_items_at(database: str, config: dict[str, Any], today: dt.date,
                      docs_dir: Path | None) -> SuiteResult:
    """validate_items on the database file `database`, opened read-only with `config`: what
    a process of its own runs."""
    with duckdb.connect(database, read_only=True, config=config) as con:
        return validate_items(con, today, docs_dir)


def _examples(frame: pl.LazyFrame, column: str | None,
              indexes: list[int]) -> list[tuple[str, str]]:
    """file:line (or the row's position) and value of the first unexpected rows."""
    if not indexes:
        return []
    present = frame.collect_schema().names()
    rows = frame.select(*(c for c in PROVENANCE if c in present),
                        *([column] if column else [])).with_row_index("position").filter(
        pl.col("position").is_in(indexes[:EXAMPLES])).collect()
    examples = []
    for row in rows.iter_rows(named=True):
        where = (f"{row['source_file']}:{row['source_line']}"
                 if all(c in row for c in PROVENANCE) else f"row {row['position'] + 1}")
        value = row.get(column) if column else ""
        examples.append((where, repr(value) if isinstance(value, str) or value is None
                         else str(value)))
    return examples


def _outcome(expectation: Expectation, result: Any, frame: pl.LazyFrame) -> Outcome:
    info = result.exception_info or {}
    infos = info.values() if info and "raised_exception" not in info else [info]
    for entry in infos:
        if entry.get("raised_exception"):
            raise ExpectationError(f"{expectation.type}({expectation.kwargs}) could not be "
                                   f"evaluated: {entry.get('exception_message')}")
    details = result.result or {}
    return Outcome(expectation, bool(result.success), int(details.get("unexpected_count") or 0),
                   _examples(frame, expectation.column, details.get("unexpected_index_list") or []))


def gx_dtypes(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` in dtypes GX checks with vectorised pandas: datetime64[ns] and 64-bit numbers.
    With other dtypes (polars dates become datetime64[ms], small integers int32) GX calls
    Python once per row, which took seconds a million rows."""
    frame = frame.with_columns(
        pl.col(pl.Int8, pl.Int16, pl.Int32, pl.UInt8, pl.UInt16, pl.UInt32).cast(pl.Int64),
        pl.col(pl.Float32).cast(pl.Float64))
    try:
        return frame.with_columns(pl.col(pl.Date, pl.Datetime).cast(pl.Datetime("ns")))
    except pl.exceptions.InvalidOperationError:  # a date outside 1677-2262: checked row by row
        return frame


def run_suite(name: str, frame: pl.LazyFrame | pl.DataFrame, suite: list[Expectation],
              docs_dir: Path | None = None) -> SuiteResult:
    """Validate `frame` against `suite`; write Data Docs into `docs_dir` (replaced) if given.

    GX validates the expectations on each set of columns (one column, or a pair) as a suite of
    its own, `<name>.<columns>`, on a pandas frame of just those columns, collected from
    `frame` when its turn comes: GX copies the whole frame it is given once per expectation
    (to drop the rows with nulls), and at ten million items a frame of every column the suite
    reads took 8 GiB before GX began. Examples are looked up afterwards by row position.
    Raises ExpectationError when an expectation cannot be built or evaluated."""
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    _no_batch_fingerprints()
    _no_multiprocessing_lock()
    # without a config, GX adds a docs site in a temporary folder it never removes
    context = gx.get_context(mode="ephemeral", project_config=DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        progress_bars=ProgressBarsConfig(globally=False)))
    frames = context.data_sources.add_pandas("frames")
    frame = frame.lazy()
    groups = _by_columns(suite)

    def batch_of(columns: tuple[str, ...]) -> Any:
        # a table-level expectation (no column) sees every column
        return gx_dtypes((frame.select(columns) if columns else frame).collect()).to_pandas()

    results = {}
    # the next columns are collected while GX validates these (one thread: a frame read from
    # DuckDB must not be collected twice at once): 17.1 -> 14.6 s for items at 10M rows
    with closing(computed_ahead(batch_of, groups, threads=1)) as batches:
        for (columns, indexes), batch in zip(groups.items(), batches, strict=True):
            part = f"{name}.{'.'.join(columns)}"
            definition = context.validation_definitions.add(gx.ValidationDefinition(
                name=part, suite=_gx_suite(gx, context, part, suite, indexes),
                data=frames.add_dataframe_asset(part).add_batch_definition_whole_dataframe(
                    "whole")))
            run = definition.run(batch_parameters={"dataframe": batch},
                                 result_format={"result_format": "COMPLETE"})
            del batch
            _forget_batches(frames)
            results.update({r.expectation_config.meta["index"]: r for r in run.results})
    outcomes = [_outcome(e, results[i], frame) for i, e in enumerate(suite)]
    if docs_dir is not None:
        _write_data_docs(context, docs_dir)
    return SuiteResult(name, frame.select(pl.len()).collect().item(), outcomes,
                       docs_dir / "index.html" if docs_dir else None)


def _no_batch_fingerprints() -> None:
    """Stop GX hashing each pandas batch whole for a batch marker (`pandas_data_fingerprint`)
    that nothing reads. The hash took 6 of the 10 s that record_id took at ten million items,
    and half a second on most other columns. GX itself skips it for batches of more than
    HASH_THRESHOLD bytes; a threshold of 0 skips it for all. tests/test_validation.py fails if
    GX renames the setting."""
    from great_expectations.execution_engine import pandas_execution_engine

    pandas_execution_engine.HASH_THRESHOLD = 0


def _no_multiprocessing_lock() -> None:
    """Give tqdm a thread lock. GX makes a (disabled) tqdm progress bar for each validation,
    and tqdm's first one makes a multiprocessing lock: in a suite's process, a named semaphore
    that the resource tracker reported as leaked ("leaked semaphore objects") once the process
    was ended (suite_process). A bar that is never drawn needs no lock across processes."""
    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())


def _forget_batches(datasource: Any) -> None:
    """Drop the pandas frames GX keeps after a run: its execution engine caches every batch
    it loaded until the context goes, which kept every column's copy until the suite ended
    where one at a time suffices."""
    manager = datasource.get_execution_engine().batch_manager
    manager.reset_batch_cache()
    manager.batch_data_cache.clear()


def _by_columns(suite: list[Expectation]) -> dict[tuple[str, ...], list[int]]:
    """Indexes of the suite's expectations by the columns they read, in suite order."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for index, expectation in enumerate(suite):
        columns = tuple(c for key in ("column", "column_A", "column_B")
                        if (c := expectation.kwargs.get(key)) is not None)
        groups.setdefault(columns, []).append(index)
    return groups


def _gx_suite(gx: Any, context: Any, name: str, suite: list[Expectation],
              indexes: list[int]) -> Any:
    gx_suite = context.suites.add(gx.ExpectationSuite(name))
    for index in indexes:
        expectation = suite[index]
        try:
            cls = getattr(gx.expectations, expectation.type)
            gx_suite.add_expectation(cls(**expectation.kwargs,
                                         meta={"index": index, "why": expectation.why,
                                               "severity": expectation.severity}))
        except Exception as error:  # GX raises pydantic and its own errors: all are ours
            raise ExpectationError(f"{expectation.type}({expectation.kwargs}) is not a valid "
                                   f"expectation: {error}") from None
    return gx_suite


def _write_data_docs(context: Any, docs_dir: Path) -> None:
    """Data Docs of every validation run in `context`, made readable offline."""
    shutil.rmtree(docs_dir, ignore_errors=True)
    context.add_data_docs_site(site_name="armtrace", site_config={
        "class_name": "SiteBuilder",
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                          "base_directory": str(docs_dir)}})
    context.build_data_docs(site_names=["armtrace"])
    make_offline(docs_dir)


def failure_records(result: SuiteResult) -> list[dict[str, Any]]:
    """Failed expectations as JSON-ready records (check metadata the CLI prints)."""
    return [{"expectation": o.expectation.type, "column": o.expectation.column,
             "severity": o.expectation.severity, "unexpected": o.unexpected_count,
             "examples": [f"{where} {value}" for where, value in o.examples]}
            for o in result.failed()]


def describe_failures(result: SuiteResult) -> str:
    """A markdown table of failed expectations with examples (for Dagster metadata)."""
    lines = ["| severity | expectation | column | unexpected | examples |", "|---|---|---|---|---|"]
    for outcome in result.failed():
        examples = "; ".join(f"{where} {value}" for where, value in outcome.examples)
        lines.append(f"| {outcome.expectation.severity} | {outcome.expectation.type} | "
                     f"{outcome.expectation.column or ''} | {outcome.unexpected_count} | "
                     f"{examples.replace('|', '/')} |")
    return "\n".join(lines)
