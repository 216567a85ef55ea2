"""Stage 4: one record, one item.

Every row gets exactly one `disposition`:

- `quarantined`: it broke a contract rule (the clean stage listed why);
- `merged`: an identical repeat in the same file, a re-documented serial-numbered item, or a
  double entry; `resolved_to_row` is the row kept instead;
- `superseded`: an older version of a record seen again in a later export; `resolved_to_row`
  is the winning version;
- `item`: what the curated `items` table holds.

Row accounting therefore holds by construction: the dispositions partition the input rows.
Ties are always broken by `row_number`, which is path order, then sheet, then line.
"""

from __future__ import annotations

import polars as pl

MERGE_RULES: dict[str, tuple[str, ...]] = {
    # The same record_id twice in one file with identical content is one record.
    "identical_row": ("source_file", "cells"),
    # Serial-numbered items with the same serial, model and present-day origin are one item.
    "re_documented_item": ("serial_key", "model_key", "origin_code"),
    # Different ids, same everything else: one record entered twice. The serial number is part
    # of the key, because two weapons with different serials are two weapons.
    "double_entry": ("documented_in_present_code", "site_key", "documented_on_parsed",
                     "category_normalised", "model_key", "calibre_key", "origin_code",
                     "year_value", "lot_key", "quantity_value", "serial_key"),
}

DECISIONS = ("calibre_key", "disposition", "rule", "resolved_to_row")
RULE_INPUTS = tuple(dict.fromkeys((
    "row_number", "reasons", "record_id", "updated_at_parsed", "documented_on_parsed",
    "serial_numbered", "calibre_designation", "calibre",
    *(key for keys in MERGE_RULES.values() for key in keys if key != "calibre_key"))))


def resolve_records(normalised: pl.DataFrame) -> pl.DataFrame:
    """Assign every normalised row its disposition, rule and `resolved_to_row`.

    Needs: row_number, reasons, record_id, source_file, cells, updated_at_parsed,
    documented_on_parsed, serial_numbered and the merge keys of MERGE_RULES.
    """
    rows = normalised if normalised["row_number"].is_sorted() else normalised.sort("row_number")
    # The rules run on the few columns they read: each rule re-sorts what it decided, and with
    # all ~50 columns that took most of the stage's time and memory at a million rows.
    frame = rows.select(RULE_INPUTS).with_columns(
        calibre_key=pl.coalesce(pl.col("calibre_designation"),
                                pl.col("calibre").str.to_lowercase()),
        disposition=pl.when(pl.col("reasons").list.len() > 0).then(pl.lit("quarantined")),
        rule=pl.lit(None, pl.String),
        resolved_to_row=pl.lit(None, pl.Int64),
    )
    frame = _merge(frame, "identical_row", order=["row_number"])
    frame = _supersede_old_versions(frame)
    serial_keys_known = pl.all_horizontal(
        pl.col(k).is_not_null() for k in MERGE_RULES["re_documented_item"])
    frame = _merge(frame, "re_documented_item", order=["documented_on_parsed", "row_number"],
                   eligible=pl.col("serial_numbered") & serial_keys_known)
    frame = _merge(frame, "double_entry", order=["row_number"])
    decisions = frame.select(DECISIONS).with_columns(
        disposition=pl.col("disposition").fill_null("item"))
    return rows.hstack(decisions.get_columns())  # both in row_number order, one row each


def _undecided(eligible: pl.Expr) -> pl.Expr:
    return pl.col("disposition").is_null() & eligible


def _decide(frame: pl.DataFrame, pool: pl.Expr, decided: pl.DataFrame) -> pl.DataFrame:
    return pl.concat([frame.filter(~pool), decided]).sort("row_number")


def _merge(frame: pl.DataFrame, rule: str, order: list[str],
           eligible: pl.Expr | None = None) -> pl.DataFrame:
    """Within each group of undecided rows equal on the rule's keys, keep the first by
    `order`; mark the others merged into it."""
    pool = _undecided(pl.lit(True) if eligible is None else eligible)
    keys = list(MERGE_RULES[rule])
    kept = pl.col("row_number").sort_by(order).first().over(keys)
    decided = frame.filter(pool).with_columns(kept=kept).with_columns(
        disposition=pl.when(pl.col("row_number") != pl.col("kept")).then(pl.lit("merged")),
        rule=pl.when(pl.col("row_number") != pl.col("kept")).then(pl.lit(rule)),
        resolved_to_row=pl.when(pl.col("row_number") != pl.col("kept")).then(pl.col("kept")),
    ).drop("kept")
    return _decide(frame, pool, decided)


def _supersede_old_versions(frame: pl.DataFrame) -> pl.DataFrame:
    """Per record_id the version with the latest `updated_at` wins when every version has one;
    otherwise (or on a tie) the one from the later file in path order."""
    pool = _undecided(pl.col("record_id").is_not_null())
    all_dated = pl.col("updated_at_parsed").is_not_null().all().over("record_id")
    # recency is a column before the window that sorts by it: a window nested inside another
    # one is evaluated once per group, which took minutes at a million rows
    recency = pl.when(pl.col("all_dated")).then(pl.col("updated_at_parsed"))
    winner = pl.col("row_number").sort_by([recency, pl.col("row_number")]).last().over("record_id")
    decided = frame.filter(pool).with_columns(all_dated=all_dated).with_columns(
        winner=winner).drop("all_dated").with_columns(
        disposition=pl.when(pl.col("row_number") != pl.col("winner")).then(pl.lit("superseded")),
        resolved_to_row=pl.when(pl.col("row_number") != pl.col("winner"))
        .then(pl.col("winner")),
    ).drop("winner")
    return _decide(frame, pool, decided)
