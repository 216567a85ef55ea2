"""Stage 3: interpret every parsed row and list everything wrong with it.

Values are normalised to the contract (dates, countries with the successor mapping,
categories and item kind, calibres and family, anti-armour, years, quantities, serial and lot
keys). Nothing is removed here: each row gets `problems`, one message per broken rule naming
the column, the value and what to do, and `reasons`, the rule codes. Rows with any problem go
to quarantine in the next stage.

Low-cardinality columns (dates, countries, categories, calibres, models) are interpreted once
per distinct value and joined back, so the cost does not grow with row count in Python.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import polars as pl

from pipeline.ahead import computed_ahead
from pipeline.columns import ITEMS, REQUIRED_NAMES
from pipeline.keys import key_expr, record_id_key, unicode_cleaned
from pipeline.parts import ROWS_PER_PART, Parts, write_parts
from pipeline.reference import Reference, designation_key
from pipeline.stages.read import READ_PROBLEM_SEPARATOR, numbered_schema

EARLIEST_YEAR = 1850
UNKNOWN_MARKERS = ("unknown", "unk", "n/a", "na", "n.a.", "?", "-", "--", "none", "not known",
                   "nk", "")

MAX_QUANTITY = 10_000_000  # the most one record may hold (contract: invalid_quantity)
QUANTITY_FORM = r"^(?:[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)$"  # 1200 or 1,200 (after ascii_digits)

# Digits of the scripts the contract names, as ASCII: Arabic-Indic, Extended Arabic-Indic
# (Persian) and fullwidth. polars' `\d` matches every Unicode digit and a cast of the match
# then fails, so numbers are matched with [0-9] after this translation.
OTHER_DIGITS = {chr(zero + d): str(d) for zero in (0x0660, 0x06F0, 0xFF10) for d in range(10)}
DIGIT_TABLE = str.maketrans(OTHER_DIGITS)

PLAIN_TEXT = r"^[\x20-\x7E]*$"  # printable ASCII: Unicode cleaning leaves it be

DATE_FORMATS = ("%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%d %b %Y", "%d %B %Y", "%b %d, %Y",
                "%B %d, %Y", "%b %d %Y", "%B %d %Y", "%d %b, %Y", "%d %B, %Y")


def cut_off_date(today: str | None) -> dt.date:
    """The date after which a documentation date is in the future: `today` (ISO) if given,
    else the current UTC date."""
    return dt.date.fromisoformat(today) if today else dt.datetime.now(dt.UTC).date()


def parse_date(text: str) -> dt.datetime | None:
    """A contract date (or date-time, for `updated_at`); None when it is none of the forms.

    ISO dates and date-times, day-first numeric dates, and English month names; a spreadsheet
    date arrives from the reader as an ISO date-time.
    """
    text = " ".join(unicodedata.normalize("NFKC", text).translate(DIGIT_TABLE).split())
    try:
        parsed = dt.datetime.fromisoformat(text)
        return parsed.replace(tzinfo=None) if parsed.tzinfo is None else parsed.astimezone(
            dt.UTC).replace(tzinfo=None)
    except ValueError:
        pass
    for form in DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, form)
        except ValueError:
            continue
    return None


def distinct_map(
    frame: pl.DataFrame, column: str, interpret: Callable[[str], Any], dtype: pl.DataType
) -> pl.Expr:
    """Apply `interpret` to each distinct value of `column` only, as a lookup expression."""
    values = frame.get_column(column).drop_nulls().unique().to_list()
    mapping = {value: interpret(value) for value in values}
    return pl.col(column).replace_strict(mapping, default=None, return_dtype=dtype)


def is_unknown(column: str) -> pl.Expr:
    return pl.col(column).is_null() | pl.col(column).str.to_lowercase().is_in(UNKNOWN_MARKERS)


def flag_row(condition: pl.Expr, message: pl.Expr | str) -> pl.Expr:
    """The row's problem message where `condition` holds, else NULL."""
    message = pl.lit(message) if isinstance(message, str) else message
    return pl.when(condition).then(message).otherwise(pl.lit(None, pl.String))


def quoted(column: str) -> pl.Expr:
    return pl.format("'{}'", pl.col(column))


def ascii_digits(text: pl.Expr) -> pl.Expr:
    """`text` with the digits of other scripts the contract names (OTHER_DIGITS) as ASCII."""
    return text.str.replace_many(list(OTHER_DIGITS), list(OTHER_DIGITS.values()))


def odd_values_cleaned(frame: pl.DataFrame, column: str,
                       clean: Callable[[str], str | None]) -> pl.Expr:
    """`column` of `frame` with `clean` applied to the distinct values that are not printable
    ASCII (in Python, once each); on the others every cleaning of pipeline/keys.py is the
    identity already."""
    values = frame.get_column(column)
    odd = values.filter(~values.str.contains(PLAIN_TEXT)).unique()
    if odd.is_empty():
        return pl.col(column)
    cleaned = pl.Series([clean(value) for value in odd], dtype=pl.String)
    return pl.col(column).replace(odd, cleaned)


def cleaned_text(frame: pl.DataFrame, column: str) -> pl.Expr:
    """`column` of `frame` as a record id is compared (pipeline/keys.py, record_id_key), NULL
    where nothing is left."""
    trimmed = odd_values_cleaned(frame, column, record_id_key).str.strip_chars(" ")
    return pl.when(trimmed != "").then(trimmed)


def record_key(frame: pl.DataFrame, column: str) -> pl.Expr:
    """The contract's comparison key for serial and lot numbers (pipeline/keys.py, the one
    definition the SQL macros share): NFKC, invisible characters removed, upper case,
    Cyrillic and Greek look-alikes as Latin, a leading `No`, `No.`, `№` or `S/N` dropped,
    then spaces, hyphens, slashes and dots removed. `No` is only a prefix when punctuation,
    a space or a digit follows it, so a serial such as `NOR-55` keeps its letters.
    """
    text = odd_values_cleaned(frame, column, unicode_cleaned)
    key = key_expr(text)
    # an illegible serial ('n/a', 'unknown') is no serial: it must not match another one
    return pl.when((key != "") & ~is_unknown(column)).then(key)


def whole_number(text: str) -> int | None:
    """The whole number written in `text` (digits of any script the contract names; comma
    thousands groups, `1,200`), however large; None when it is not one."""
    digits = text.translate(DIGIT_TABLE)
    return int(digits.replace(",", "")) if re.fullmatch(QUANTITY_FORM, digits) else None


def quantity_values(frame: pl.DataFrame, column: str = "quantity") -> dict[str, pl.Expr]:
    """`quantity_value`, the whole number written in `column` of `frame` (whole_number), NULL
    when it is none or too large for Int64; and `quantity_over_limit`, true where it is above
    MAX_QUANTITY. Read once per distinct value: a log holds a few dozen quantities."""
    def value(text: str) -> int | None:
        number = whole_number(text)
        return number if number is not None and number < 2**63 else None

    def over(text: str) -> bool:
        number = whole_number(text)
        return number is not None and number > MAX_QUANTITY

    return {"quantity_value": distinct_map(frame, column, value, pl.Int64),
            "quantity_over_limit": distinct_map(frame, column, over, pl.Boolean)
            .fill_null(False)}


def quantity_checks(what: str) -> list[tuple[pl.Expr, pl.Expr]]:
    """(condition, message) of the quantity rules: a whole number above MAX_QUANTITY, or no
    positive whole number. Needs quantity, quantity_value, quantity_over_limit; `what` is
    the kind of record, for the message."""
    over = pl.col("quantity_over_limit")
    return [
        (over, pl.format(f"invalid_quantity: quantity {{}} is more than {MAX_QUANTITY:,}, the "
                         f"most one {what} may hold; check it, or split the {what}",
                         quoted("quantity"))),
        (~over & (pl.col("quantity_value").is_null() | (pl.col("quantity_value") < 1)),
         pl.format("invalid_quantity: quantity {} is not a positive whole number",
                   quoted("quantity"))),
    ]


def team_of(source_file: str) -> str:
    """The team that exported a log: the first folder under items/ (`items/iraq-north/x.csv`
    is iraq-north's); '' for the logs directly in items/, which form one team."""
    parts = PurePosixPath(source_file).parts
    return parts[1] if len(parts) > 2 else ""


def split_read_problems(problems: pl.Expr) -> pl.Expr:
    """A list of problem messages with the read stage's messages, which it joins with
    READ_PROBLEM_SEPARATOR in one read_problem, one a message."""
    return problems.list.eval(pl.element().str.split(READ_PROBLEM_SEPARATOR).list.explode(
        keep_nulls=False, empty_as_null=False))


# --- the stage -------------------------------------------------------------------------------

def normalise_rows(parsed: pl.DataFrame, reference: Reference, today: dt.date,
                   conflicts: pl.DataFrame | None = None) -> pl.DataFrame:
    """Typed, normalised values, the list of problems and a hash of `cells` (cells_hash) for
    every parsed row.

    Needs the parsed-row columns of the read stage (provenance, canonical text columns,
    `cells`, `read_problem`). Keeps every row, in the same order. `conflicts`
    (conflicting_ids) may cover more rows than `parsed`, as when `parsed` is a slice of a
    file; by default they are found among `parsed`.
    """
    frame = parsed.with_columns(
        pl.col(c).str.replace_all(r"\s+", " ")
        for c in ("documented_on", "updated_at", "category", "documented_in",
                  "country_of_manufacture", "calibre", "site")
    )
    # 'n/a' where the documentation country belongs is a blank, not Namibia (code NA)
    frame = frame.with_columns(
        documented_in=pl.when(~is_unknown("documented_in")).then(pl.col("documented_in")))
    frame = _interpret_values(frame, reference)
    frame = _derive_years(frame)
    notes = {c: country_notes(frame, c, code, reference)
             for c, code in (("documented_in", "documented_in_code"),
                             ("country_of_manufacture", "origin_state_code"))}
    frame = frame.with_columns(_problems(frame, today, notes))
    if conflicts is None:
        conflicts = conflicting_ids(parsed.lazy())
    frame = _flag_conflicting_ids(frame, conflicts)
    # resolve finds identical rows by this hash first: at ten million rows, reading and
    # hashing cells there took 2.2 of its 9 s; here the slice's cells are in memory already
    return frame.with_columns(reasons=reason_codes(), cells_hash=pl.col("cells").hash())


def normalise_each_file(files: Iterable[pl.DataFrame], reference: Reference, today: dt.date,
                        parts_dir: Path, rows_per_part: int = ROWS_PER_PART) -> Parts:
    """normalise_rows on each source file's rows as they come, in slices of at most
    `rows_per_part` rows, each slice written to a Parquet part of its own in `parts_dir`.

    The only rule that compares rows (duplicate_record_id) compares rows of one file, so its
    conflicts are found per file before the file is sliced: this gives what normalising every
    row at once gives, holding a file's rows and the slices under way. Needs each frame with
    what normalise_rows needs, the rows of one file, in row order.
    """
    def slices_with_conflicts() -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
        for file_rows in files:
            conflicts = conflicting_ids(file_rows.lazy())
            for rows in file_rows.iter_slices(rows_per_part):
                yield rows, conflicts

    def normalise(task: tuple[pl.DataFrame, pl.DataFrame]) -> pl.DataFrame:
        return normalise_rows(task[0], reference, today, task[1])

    schema = normalise_rows(pl.DataFrame(schema=numbered_schema(ITEMS)), reference, today).schema
    # Two threads: on one, a Python call per distinct value and the part's write left one
    # core idle 15% of the time. publish has DuckDB copy these parts into the curated tables.
    normalised = computed_ahead(normalise, slices_with_conflicts(), threads=2)
    return write_parts(parts_dir, schema, normalised)


def reason_codes() -> pl.Expr:
    """The rule codes of `problems` (`code: message` strings), each once, in order."""
    return pl.col("problems").list.eval(pl.element().str.extract(r"^([a-z_]+):")).list.unique(
        maintain_order=True)


def _interpret_values(frame: pl.DataFrame, reference: Reference) -> pl.DataFrame:
    countries = reference.countries
    present_code = dict(countries.select("code", "present_code").rows())
    present_name = dict(countries.select("code", "present_name").rows())
    state_name = dict(countries.select("code", "name").rows())
    categories = reference.tables["categories"]
    item_kind = dict(categories.select("category", "item_kind").rows())
    serial_numbered = dict(categories.select("category", "serial_numbered").rows())
    calibre_struct = pl.Struct({"calibre": pl.String, "family": pl.String})

    def calibre(text: str) -> dict[str, str] | None:
        found = reference.calibre(text)
        return {"calibre": found[0], "family": found[1]} if found else None

    def model(text: str) -> str | None:
        found = reference.models_by_key.get(designation_key(text))
        return found[0] if found else None

    def model_key(text: str) -> str:
        """Known models compare by their canonical designation, so aliases match."""
        return designation_key(model(text) or text)

    def origin_state(text: str) -> str | None:
        """A non-state producer is never a state, whatever the countries would make of it."""
        return None if reference.producer(text) else reference.country_code(text)

    anti_armour_models = {m for m, aa in reference.models_by_key.values() if aa}
    origin_known = ~is_unknown("country_of_manufacture")
    return frame.with_columns(
        documented_on_parsed=distinct_map(frame, "documented_on", parse_date, pl.Datetime),
        updated_at_parsed=distinct_map(frame, "updated_at", parse_date, pl.Datetime),
        documented_in_code=distinct_map(frame, "documented_in", reference.country_code,
                                         pl.String),
        origin_state_code=pl.when(origin_known).then(
            distinct_map(frame, "country_of_manufacture", origin_state, pl.String)),
        producer=pl.when(origin_known).then(
            distinct_map(frame, "country_of_manufacture", reference.producer, pl.String)),
        manufacturer_key=pl.when(~is_unknown("manufacturer")).then(
            pl.col("manufacturer").str.replace_all(r"\s+", " ").str.strip_chars()
            .str.to_lowercase()),
        category_normalised=distinct_map(frame, "category", reference.category, pl.String),
        calibre_found=distinct_map(frame, "calibre", calibre, calibre_struct),
        model_designation=distinct_map(frame, "model", model, pl.String),
        latitude_value=ascii_digits(pl.col("latitude")).cast(pl.Float64, strict=False),
        longitude_value=ascii_digits(pl.col("longitude")).cast(pl.Float64, strict=False),
        **quantity_values(frame),
        serial_key=record_key(frame, "serial_number"),
        lot_key=record_key(frame, "lot_number"),
        record_id_key=cleaned_text(frame, "record_id"),
        team=distinct_map(frame, "source_file", team_of, pl.String),
        model_key=distinct_map(frame, "model", model_key, pl.String),
        site_key=pl.col("site").str.replace_all(r"\s+", " ").str.strip_chars()
        .str.to_lowercase(),
    ).with_columns(
        documented_in_present_code=pl.col("documented_in_code").replace_strict(
            present_code, default=None),
        documented_in_name=pl.col("documented_in_code").replace_strict(present_name,
                                                                      default=None),
        origin_state=pl.col("origin_state_code").replace_strict(state_name, default=None),
        origin_code=pl.col("origin_state_code").replace_strict(present_code, default=None),
        origin=pl.col("origin_state_code").replace_strict(present_name, default=None),
        # what rule 2 and double entries compare: the present-day state, or the producer
        origin_key=pl.coalesce(
            pl.col("origin_state_code").replace_strict(present_code, default=None),
            pl.format("non-state: {}", pl.col("producer"))),
        item_kind=pl.col("category_normalised").replace_strict(item_kind, default=None),
        serial_numbered=pl.col("category_normalised").replace_strict(
            serial_numbered, default=False, return_dtype=pl.Boolean),
        calibre_designation=pl.col("calibre_found").struct.field("calibre"),
        calibre_family=pl.col("calibre_found").struct.field("family").fill_null("unknown"),
        anti_armour=pl.col("model_designation").is_in(list(anti_armour_models))
        .fill_null(False),
        quantity_value=pl.when(pl.col("quantity").is_null()).then(1)
        .otherwise(pl.col("quantity_value")),
    )


def _derive_years(frame: pl.DataFrame) -> pl.DataFrame:
    """Four-digit years as written; two-digit headstamp years as the latest such year not after
    the documentation year."""
    text = pl.when(~is_unknown("year_of_manufacture")).then(pl.col("year_of_manufacture"))
    digits = ascii_digits(text)
    documented_year = pl.col("documented_on_parsed").dt.year()
    two_digits = digits.str.extract(r"^([0-9]{2})$").cast(pl.Int32)
    return frame.with_columns(
        year_text=text,
        year_value=pl.when(digits.str.contains(r"^[0-9]{4}$")).then(digits.cast(pl.Int32))
        .when(two_digits.is_not_null())
        .then(documented_year - (documented_year - two_digits) % 100),
    )


def explained_by_read_problem(column: str) -> pl.Expr:
    """An empty cell the read stage already explains: the file lacks the column, or the row or
    file could not be read as it stands (a row's other read problems, such as an oversized
    or spreadsheet-error cell, leave its empty cells to be reported)."""
    problem = pl.col("read_problem")
    lacks_column = problem.str.contains(rf"^missing_required_column: the header has no "
                                        rf"(?:[a-z_]+, )*{column}[ ,]")
    not_read = problem.str.contains(r"(?m)^(?:unreadable_file|malformed_row):")
    return problem.is_not_null() & (not_read | lacks_column)


def country_notes(frame: pl.DataFrame, column: str, code: str,
                  reference: Reference) -> dict[str, str]:
    """Why each distinct value of `column` that names no state (`code` NULL) names none,
    where it is more than unknown (Reference.country_issue): for country_problem."""
    values = frame.filter(pl.col(code).is_null()).get_column(column).drop_nulls().unique()
    return {v: note for v in values if (note := reference.country_issue(v))}


def country_problem(column: str, notes: dict[str, str], if_unknown: str = "") -> pl.Expr:
    """The message for a value of `column` that names no state: ambiguous_country naming
    the candidates, or unknown_country (saying so when it is a region). `notes`:
    country_notes of the column."""
    note = pl.col(column).replace_strict(notes, default=None, return_dtype=pl.String)
    aliases = "data/reference/country_aliases.csv"
    return (
        pl.when(note.str.starts_with("could be")).then(pl.format(
            f"ambiguous_country: {column} {{}} {{}}; write the state's name or ISO code, or "
            f"add a line to {aliases} (alias,code,note) saying which state the team means",
            quoted(column), note))
        .when(note == "region").then(pl.format(
            f"unknown_country: {column} {{}} is a region or group of countries, not a "
            f"country; name the state{if_unknown}", quoted(column)))
        .otherwise(pl.format(
            f"unknown_country: {column} {{}} is not a known country; use an English name or "
            f"ISO code{if_unknown}, or add an alias to {aliases}", quoted(column))))


def _problems(frame: pl.DataFrame, today: dt.date,
              notes: dict[str, dict[str, str]]) -> pl.Series:
    """Every contract rule a row breaks, as `code: message` strings.

    The messages are formatted for the rows that break a rule only: formatting a dozen
    messages for every row, to drop nearly all of them, was most of this stage's time.
    """
    checks = _checks(today, notes)
    breaks = frame.select(pl.any_horizontal(
        condition.fill_null(False) for condition, _ in checks)).to_series()
    messages = frame.filter(breaks).select(split_read_problems(pl.concat_list(
        flag_row(condition, message) for condition, message in checks).list.drop_nulls())
    ).to_series()
    # row i takes messages[k] when it is the k-th row that breaks a rule, else the empty list
    position = breaks.cast(pl.UInt32).cum_sum() * breaks.cast(pl.UInt32)
    no_problems = pl.Series([[]], dtype=pl.List(pl.String))
    return pl.concat([no_problems, messages]).gather(position).alias("problems")


def _checks(today: dt.date,
            notes: dict[str, dict[str, str]]) -> list[tuple[pl.Expr, pl.Expr | str]]:
    """(condition, message) of every contract rule: a row breaks the rule where the condition
    is true."""
    return [
        (pl.col("read_problem").is_not_null(), pl.col("read_problem")),
        *[(pl.col("record_id_key" if c == "record_id" else c).is_null()
           & ~explained_by_read_problem(c),
           f"missing_required_field: {c} is empty; fill it in the log")
          for c in REQUIRED_NAMES],
        (pl.col("documented_on").is_not_null() & pl.col("documented_on_parsed").is_null(),
         pl.format("unparseable_date: documented_on {} is not a date; write it as "
                   "YYYY-MM-DD or DD/MM/YYYY", quoted("documented_on"))),
        (pl.col("updated_at").is_not_null() & pl.col("updated_at_parsed").is_null(),
         pl.format("unparseable_date: updated_at {} is not a date or date-time; write "
                   "it as YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS", quoted("updated_at"))),
        (pl.col("documented_on_parsed").dt.date() > today,
         pl.format("future_date: documented_on {} is after today ({}); check the date",
                   quoted("documented_on"), pl.lit(today.isoformat()))),
        (pl.col("category").is_not_null() & pl.col("category_normalised").is_null(),
         pl.format("unknown_category: category {} is not a known category; use a "
                   "contract category or add a synonym to "
                   "data/reference/category_synonyms.csv", quoted("category"))),
        (pl.col("documented_in").is_not_null() & pl.col("documented_in_code").is_null(),
         country_problem("documented_in", notes["documented_in"])),
        (~is_unknown("country_of_manufacture") & pl.col("origin_state_code").is_null()
         & pl.col("producer").is_null(),
         country_problem("country_of_manufacture", notes["country_of_manufacture"],
                         ", leave it blank if unknown (a non-state producer goes in "
                         "data/reference/non_state_producers.csv)")),
        (pl.col("year_text").is_not_null() & ~ascii_digits(pl.col("year_text")).str.contains(
            r"^[0-9]{2}$|^[0-9]{4}$"),
         pl.format("invalid_year: year_of_manufacture {} is not a year; write 4 digits, "
                   "a 2-digit headstamp year, or 'unknown'", quoted("year_text"))),
        ((pl.col("year_value") < EARLIEST_YEAR)
         | (pl.col("year_value") > pl.col("documented_on_parsed").dt.year()),
         pl.format("year_out_of_range: year_of_manufacture {} is before {} or after the "
                   "documentation year; check the year", quoted("year_text"),
                   pl.lit(EARLIEST_YEAR))),
        *quantity_checks("record"),
        ((pl.col("item_kind") == "weapons") & (pl.col("quantity_value") > 1),
         pl.format("weapon_quantity: quantity {} for a weapon; log each weapon as its "
                   "own record", quoted("quantity"))),
        *[(pl.col(c).is_not_null() & (pl.col(f"{c}_value").is_null()
                             | pl.col(f"{c}_value").is_nan()
                             | (pl.col(f"{c}_value").abs() > limit)),
           pl.format(f"invalid_coordinate: {c} {{}} is not decimal degrees within ±{limit}",
                     quoted(c)))
          for c, limit in (("latitude", 90), ("longitude", 180))],
    ]


def conflicting_ids(rows: pl.LazyFrame) -> pl.DataFrame:
    """row_number and problem message of each row whose record_id (after Unicode cleaning,
    cleaned_text) appears again in its file with different content: every such row is
    suspect. Identical repeats are not a problem here; the resolve stage merges them. Needs
    row_number, source_file, source_line, record_id and cells.
    """
    groups = ("source_file", "record_id_key")
    ids = rows.select("row_number", "source_file", "record_id").filter(
        pl.col("record_id").is_not_null()).collect()
    # Only an id repeated in its file can conflict: cells, the widest column, are read and
    # compared for those rows alone.
    repeated = ids.with_columns(record_id_key=cleaned_text(ids, "record_id")).filter(
        pl.col("record_id_key").is_not_null() & (pl.len().over(groups) > 1))
    candidates = rows.filter(pl.col("row_number").is_in(repeated["row_number"].implode()))
    lines = pl.col("source_line").cast(pl.String).implode().over(groups).list.join(", ")
    message = pl.format("duplicate_record_id: record_id {} appears on lines {} of this file with "
                        "different content; keep one row per record", quoted("record_id"), lines)
    # one chunk: on the rows of a log as read (not through Parquet), polars 2.1 panicked
    # formatting the message over the filtered frame ("assertion failed: i < self.len()")
    return candidates.select("row_number", "record_id", "source_line", "cells").collect().join(
        repeated.select("row_number", *groups), on="row_number", maintain_order="left"
    ).filter(pl.col("cells").n_unique().over(groups) > 1).rechunk().select(
        "row_number", message=message)


def _flag_conflicting_ids(frame: pl.DataFrame, conflicts: pl.DataFrame) -> pl.DataFrame:
    """`frame` with the message of `conflicts` (conflicting_ids) added to the problems of each
    row it names. Needs row_number and problems."""
    conflicting = pl.col("row_number").is_in(conflicts["row_number"].implode())
    row_message = pl.col("row_number").replace_strict(
        conflicts["row_number"], conflicts["message"], default=None, return_dtype=pl.String)
    return frame.with_columns(
        problems=pl.when(conflicting).then(pl.col("problems").list.concat(
            pl.concat_list(row_message))).otherwise(pl.col("problems"))
    )
