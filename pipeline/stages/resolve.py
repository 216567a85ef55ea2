"""Stage 4: one record, one item.

Every row gets exactly one `disposition`:

- `quarantined`: it broke a contract rule (the clean stage listed why);
- `merged`: an identical repeat in the same file, a re-documented serial-numbered item, or a
  double entry; `resolved_to_row` is the row kept instead;
- `superseded`: an older version of a record seen again in a later export of the same team
  (record ids are compared after Unicode cleaning, `record_id_key`); `resolved_to_row` is
  the winning version;
- `item`: what the curated `items` table holds.

Row accounting therefore holds by construction: the dispositions partition the input rows.
Ties are always broken by `row_number`, which is path order, then sheet, then line.
"""

from __future__ import annotations

import polars as pl

MERGE_RULES: dict[str, tuple[str, ...]] = {
    # The same record_id twice in one file with identical content is one record.
    "identical_row": ("source_file", "cells"),
    # Serial-numbered items with the same serial, model and present-day origin (or the same
    # non-state producer: origin_key) are one item.
    "re_documented_item": ("serial_key", "model_key", "origin_key"),
    # Different ids, same everything else: one record entered twice. The serial number is part
    # of the key, because two weapons with different serials are two weapons.
    "double_entry": ("documented_in_present_code", "site_key", "documented_on_parsed",
                     "category_normalised", "model_key", "calibre_key", "origin_key",
                     "year_value", "lot_key", "quantity_value", "serial_key"),
}

CALIBRE_KEY = pl.coalesce(pl.col("calibre_designation"), pl.col("calibre").str.to_lowercase())
RE_DOCUMENTABLE = pl.col("serial_numbered") & pl.all_horizontal(
    pl.col(k).is_not_null() for k in MERGE_RULES["re_documented_item"])
"""A row re_documented_item may merge: serial-numbered, with every key known."""

DECISIONS = ("calibre_key", "disposition", "rule", "resolved_to_row")
VERSION_KEYS = ("team", "record_id_key")
"""A record: teams number their records independently (the contract's rule 1)."""

RULE_INPUTS = tuple(dict.fromkeys((
    "row_number", "reasons", *VERSION_KEYS, "updated_at_parsed", "documented_on_parsed",
    "serial_numbered", "calibre_designation", "calibre",
    *(key for keys in MERGE_RULES.values() for key in keys
      if key not in ("calibre_key", "cells")))))
"""The columns the rules read but cells: those are read for the few rows that may be identical."""


def resolve_decisions(normalised: pl.LazyFrame) -> pl.DataFrame:
    """row_number and the DECISIONS columns of every row, in the order of `normalised`.

    Only a row that shares a rule's keys with another row that passed the contract can be
    merged, superseded or kept over another. A first streamed pass hashes each rule's keys on
    every row and keeps the rows whose hash another such row shares (every row that may share
    its keys, and perhaps a few more); the rules then run on those rows alone (_decide), and
    every other row is an item or quarantined. At ten million rows, holding the rules' dozen
    columns for every row took the stage to 4.2 GiB; with the hashes it takes 2.9 GiB, and the
    rules run on about 4% of the rows.
    """
    hashes = {f"{rule}_hash": hashed for rule, hashed in _key_hashes().items()}
    rows = _in_one_chunk(normalised.select(
        "row_number", calibre_key=CALIBRE_KEY, quarantined=pl.col("reasons").list.len() > 0,
        **hashes).collect(engine="streaming"))
    may_merge = rows.filter(~pl.col("quarantined")).filter(pl.any_horizontal(
        pl.col(name).is_not_null() & pl.col(name).is_duplicated() for name in hashes
    ))["row_number"]
    decided = _decide(normalised.filter(pl.col("row_number").is_in(may_merge.implode())))
    return rows.select(
        "row_number", "calibre_key",
        disposition=pl.when("quarantined").then(pl.lit("quarantined")).otherwise(pl.lit("item")),
    ).join(decided.drop("calibre_key"), on="row_number", how="left",
           maintain_order="left", suffix="_decided").select(
        "row_number", "calibre_key",
        disposition=pl.coalesce("disposition_decided", "disposition"),
        rule="rule", resolved_to_row="resolved_to_row")



def _key_hashes() -> dict[str, pl.Expr]:
    """A hash of each rule's keys (for identical rows, of the file and the clean stage's hash
    of cells), NULL where the rule does not apply to the row. Equal keys hash alike."""
    return {
        "identical_row": pl.struct("source_file", "cells_hash").hash(),
        "record_version": pl.when(pl.col("record_id_key").is_not_null())
        .then(pl.struct(*VERSION_KEYS).hash()),
        "re_documented_item": pl.when(RE_DOCUMENTABLE)
        .then(pl.struct(*MERGE_RULES["re_documented_item"]).hash()),
        "double_entry": pl.struct(*(CALIBRE_KEY.alias(k) if k == "calibre_key" else pl.col(k)
                                    for k in MERGE_RULES["double_entry"])).hash(),
    }


def _decide(normalised: pl.LazyFrame) -> pl.DataFrame:
    """row_number and the DECISIONS columns of every row of `normalised`, the rules applied in
    order: identical rows, old versions, re-documented items, double entries.

    Reads the RULE_INPUTS columns, cells_hash, and the cells of the rows that may be
    identical: the rules read a dozen of the ~50 columns, and cells, the widest, only to tell
    identical rows apart. No rule depends on the order of the rows: ties are broken by
    row_number.
    """
    frame = _in_one_chunk(normalised.select(*RULE_INPUTS, "cells_hash")
                          .collect(engine="streaming"))
    frame = frame.with_columns(
        calibre_key=CALIBRE_KEY,
        disposition=pl.when(pl.col("reasons").list.len() > 0).then(pl.lit("quarantined")),
        rule=pl.lit(None, pl.String),
        resolved_to_row=pl.lit(None, pl.Int64),
    )
    frame = _merge_identical_rows(frame, normalised)
    frame = _supersede_old_versions(frame)
    frame = _merge(frame, "re_documented_item", order=["documented_on_parsed", "row_number"],
                   eligible=RE_DOCUMENTABLE)
    frame = _merge(frame, "double_entry", order=["row_number"])
    return frame.select("row_number", *DECISIONS).with_columns(
        disposition=pl.col("disposition").fill_null("item"))


def _in_one_chunk(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` in one chunk per column, copied a column at a time, each column's chunks freed
    once copied. A streamed collect gives a chunk per morsel, and the first column the rules
    add in one chunk made polars align (copy) every column at once: 3 GB at ten million rows.
    Empties `frame`."""
    return pl.DataFrame([frame.drop_in_place(name).rechunk() for name in frame.columns])


def _undecided(eligible: pl.Expr) -> pl.Expr:
    return pl.col("disposition").is_null() & eligible


# Only rows whose keys hash like another undecided row's can merge: each rule runs its exact
# window on those few. Over every row the window row-encoded all the keys, cells too.

def _shares_hash(keys: list[pl.Expr], pool: pl.Expr) -> pl.Expr:
    """True where another row of the pool hashes its keys alike: every pool row that shares
    its keys with another, and perhaps a few more. A hash set finds them in a fraction of the
    memory a window over the keys took at ten million rows."""
    return pool & pl.struct(*keys, pool.alias("_pool")).hash().is_duplicated()


def _merge_identical_rows(frame: pl.DataFrame, normalised: pl.LazyFrame) -> pl.DataFrame:
    """identical_row, with the cells of the rows whose cells hash like another's in their file
    read for those rows alone. Needs `frame` with cells_hash instead of cells."""
    pool = _undecided(pl.lit(True))
    shortlist = frame.filter(_shares_hash([pl.col("source_file"), pl.col("cells_hash")], pool))
    candidates = normalised.filter(
        pl.col("row_number").is_in(shortlist["row_number"].implode())
    ).select("row_number", "source_file", "cells").collect(engine="streaming")
    return _mark_merged(frame, candidates, "identical_row", order=["row_number"])


def _merge(frame: pl.DataFrame, rule: str, order: list[str],
           eligible: pl.Expr | None = None) -> pl.DataFrame:
    """Within each group of undecided rows equal on the rule's keys, keep the first by
    `order`; mark the others merged into it."""
    pool = _undecided(pl.lit(True) if eligible is None else eligible)
    keys = [pl.col(key) for key in MERGE_RULES[rule]]
    return _mark_merged(frame, frame.filter(_shares_hash(keys, pool)), rule, order)


def _mark_merged(frame: pl.DataFrame, candidates: pl.DataFrame, rule: str,
                 order: list[str]) -> pl.DataFrame:
    """Within each group of `candidates` equal on the rule's keys, keep the first by `order`;
    mark the others merged into it in `frame`. `candidates` holds every undecided row that
    may share its keys with another, and the rule's keys and `order` columns."""
    merges = candidates.select(
        "row_number", kept=pl.col("row_number").sort_by(order).first().over(MERGE_RULES[rule]),
    ).filter(pl.col("row_number") != pl.col("kept"))
    return _mark(frame, merges["row_number"], merges["kept"], "merged", rule)


def _mark(frame: pl.DataFrame, rows: pl.Series, resolved_to: pl.Series, disposition: str,
          rule: str | None) -> pl.DataFrame:
    """`frame` with `rows` (row numbers) given `disposition` and `rule`, each resolved to the
    row of `resolved_to` at the same place."""
    marked = pl.col("row_number").is_in(rows.implode())
    target = pl.col("row_number").replace_strict(rows, resolved_to, default=None,
                                                 return_dtype=pl.Int64)
    return frame.with_columns(
        disposition=pl.when(marked).then(pl.lit(disposition)).otherwise(pl.col("disposition")),
        rule=pl.when(marked).then(pl.lit(rule, pl.String)).otherwise(pl.col("rule")),
        resolved_to_row=pl.when(marked).then(target).otherwise(pl.col("resolved_to_row")),
    )


def _supersede_old_versions(frame: pl.DataFrame) -> pl.DataFrame:
    """Per record (VERSION_KEYS: team and cleaned record_id) the version with the latest
    `updated_at` wins when every version has one; otherwise (or on a tie) the one from the
    later file in path order."""
    pool = _undecided(pl.col("record_id_key").is_not_null())
    # only an id the pool holds more than once has old versions: the windows run on those rows
    versions = frame.filter(_shares_hash([pl.col(k) for k in VERSION_KEYS], pool))
    # recency is a column before the window that sorts by it: a window nested inside another
    # one is evaluated once per group, which took minutes at a million rows
    versions = versions.with_columns(
        all_dated=pl.col("updated_at_parsed").is_not_null().all().over(VERSION_KEYS))
    recency = pl.when(pl.col("all_dated")).then(pl.col("updated_at_parsed"))
    old = versions.select(
        "row_number",
        winner=pl.col("row_number").sort_by([recency, pl.col("row_number")]).last()
        .over(VERSION_KEYS),
    ).filter(pl.col("row_number") != pl.col("winner"))
    return _mark(frame, old["row_number"], old["winner"], "superseded", None)
