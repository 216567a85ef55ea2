"""Transfer records: documented legal transfers, normalised and checked like item logs.

Rows come from the read stage (the `transfers` contract in pipeline/columns.py). Values are
interpreted with the item logs' helpers: dates (`parse_date`), countries (the reference, with
present-day names), models (the models reference, so aliases match), lot and serial keys
(`record_key`). Each row gets `problems` and `reasons` as in the clean stage; rows with any
problem go to `quarantine` (dataset `transfers`), the others to the curated `transfers` table.
Matching transfers to items is SQL: pipeline/figures/diversion.sql.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from pipeline.columns import TRANSFERS
from pipeline.reference import Reference, designation_key
from pipeline.stages.clean import (
    country_notes,
    country_problem,
    distinct_map,
    explained_by_read_problem,
    flag_row,
    is_unknown,
    parse_date,
    quantity_checks,
    quantity_values,
    quoted,
    reason_codes,
    record_key,
    split_read_problems,
)
from pipeline.tables import QUARANTINE
from pipeline.tables import TRANSFERS as TRANSFER_TABLE

CLAUSE_VALUES = {"yes": True, "y": True, "true": True, "no": False, "n": False, "false": False}
"""Spellings of retransfer_clause. yes: the end-user certificate forbids retransfer."""

TRANSFER_LEVEL = ("exporter_code", "importer_code", "end_user", "shipped_on_parsed",
                  "retransfer_value")
"""Facts of a transfer every row of one transfer_id must agree on (rows differ by model, lot,
quantity and serial)."""


def normalise_transfers(parsed: pl.DataFrame, reference: Reference, today: dt.date,
                        first_row_number: int) -> pl.DataFrame:
    """Typed, normalised values and the list of problems for every transfer row.

    Needs the read stage's columns for the transfers contract. `row_number` is shifted by
    `first_row_number` (the number of item-log rows) so that it stays unique across the build.
    Keeps every row, in the same order.
    """
    frame = parsed.with_columns(
        pl.col("row_number") + first_row_number,
        *[pl.col(c).str.replace_all(r"\s+", " ") for c in ("shipped_on", "exporter", "importer",
                                                           "end_user", "retransfer_clause")],
    )
    # 'n/a' where a country belongs is a blank (so a missing field), not Namibia (code NA)
    frame = frame.with_columns(pl.when(~is_unknown(c)).then(pl.col(c)).alias(c)
                               for c in ("exporter", "importer"))
    frame = _interpret(frame, reference)
    notes = {c: country_notes(frame, c, f"{c}_state_code", reference)
             for c in ("exporter", "importer")}
    frame = frame.with_columns(problems=_problems(frame, today, notes))
    frame = _flag_conflicting_transfers(frame)
    return frame.with_columns(reasons=reason_codes())


def _interpret(frame: pl.DataFrame, reference: Reference) -> pl.DataFrame:
    countries = reference.countries
    present_code = dict(countries.select("code", "present_code").rows())
    present_name = dict(countries.select("code", "present_name").rows())

    def model(text: str) -> str | None:
        found = reference.models_by_key.get(designation_key(text))
        return found[0] if found else None

    def model_key(text: str) -> str:
        """As for items: known models compare by their canonical designation."""
        return designation_key(model(text) or text)

    frame = frame.with_columns(
        shipped_on_parsed=distinct_map(frame, "shipped_on", parse_date, pl.Datetime),
        exporter_state_code=distinct_map(frame, "exporter", reference.country_code, pl.String),
        importer_state_code=distinct_map(frame, "importer", reference.country_code, pl.String),
        model_designation=distinct_map(frame, "model", model, pl.String),
        model_key=distinct_map(frame, "model", model_key, pl.String),
        lot_key=record_key(frame, "lot_number"),
        serial_key=record_key(frame, "serial_number"),
        **quantity_values(frame),
        retransfer_value=pl.col("retransfer_clause").str.to_lowercase().replace_strict(
            CLAUSE_VALUES, default=None, return_dtype=pl.Boolean),
    )
    return frame.with_columns(
        exporter_code=pl.col("exporter_state_code").replace_strict(present_code, default=None),
        exporter_name=pl.col("exporter_state_code").replace_strict(present_name, default=None),
        importer_code=pl.col("importer_state_code").replace_strict(present_code, default=None),
        importer_name=pl.col("importer_state_code").replace_strict(present_name, default=None),
    )


def _problems(frame: pl.DataFrame, today: dt.date,
              notes: dict[str, dict[str, str]]) -> pl.Expr:
    """Every contract rule a transfer row breaks, as `code: message` strings."""
    checks = [
        pl.col("read_problem"),
        *[flag_row(pl.col(c).is_null() & ~explained_by_read_problem(c),
                   f"missing_required_field: {c} is empty; fill it in the transfer record")
          for c in TRANSFERS.required],
        flag_row(pl.col("shipped_on").is_not_null() & pl.col("shipped_on_parsed").is_null(),
                 pl.format("unparseable_date: shipped_on {} is not a date; write it as "
                           "YYYY-MM-DD or DD/MM/YYYY", quoted("shipped_on"))),
        flag_row(pl.col("shipped_on_parsed").dt.date() > today,
                 pl.format("future_date: shipped_on {} is after today ({}); check the date",
                           quoted("shipped_on"), pl.lit(today.isoformat()))),
        *[flag_row(pl.col(c).is_not_null() & pl.col(f"{c}_state_code").is_null(),
                   country_problem(c, notes[c]))
          for c in ("exporter", "importer")],
        *[flag_row(pl.col("quantity").is_not_null() & condition, message)
          for condition, message in quantity_checks("transfer row")],
        flag_row(pl.col("retransfer_clause").is_not_null()
                 & pl.col("retransfer_value").is_null(),
                 pl.format("invalid_retransfer_clause: retransfer_clause {} is neither yes nor "
                           "no; write yes when the end-user certificate forbids retransfer",
                           quoted("retransfer_clause"))),
    ]
    return split_read_problems(pl.concat_list(checks).list.drop_nulls())


def _flag_conflicting_transfers(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows of one transfer_id that disagree on who shipped what to whom, when, under which
    clause: every such row is suspect, since no one of them can be trusted over the others."""
    keyed = pl.col("transfer_id").is_not_null()
    conflicting = keyed & pl.any_horizontal(
        pl.col(c).n_unique().over("transfer_id") > 1 for c in TRANSFER_LEVEL)
    lines = pl.format("{}:{}", pl.col("source_file"), pl.col("source_line")).implode().over(
        "transfer_id").list.join(", ")
    message = pl.format("conflicting_transfer: transfer_id {} has rows ({}) that disagree on "
                        "exporter, importer, end_user, shipped_on or retransfer_clause; correct "
                        "them or give the transfers different ids", quoted("transfer_id"), lines)
    return frame.with_columns(
        problems=pl.when(conflicting).then(pl.col("problems").list.concat(
            pl.concat_list(message))).otherwise(pl.col("problems"))
    )


def transfer_frames(normalised: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The curated `transfers` table (rows without problems) and the quarantined transfer
    rows, which `quarantine` holds after the item-log ones."""
    quarantined = pl.col("reasons").list.len() > 0
    bad = QUARANTINE.select(
        normalised.filter(quarantined).with_columns(
            record_id=pl.col("transfer_id"), site=pl.lit(None, pl.String),
            documented_on_parsed=pl.col("shipped_on_parsed"),
            country_of_manufacture=pl.col("exporter"))
    ).with_columns(dataset=pl.lit("transfers"))
    return {
        TRANSFER_TABLE.name: TRANSFER_TABLE.select(normalised.filter(~quarantined)),
        QUARANTINE.name: bad,
    }
