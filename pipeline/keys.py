"""Serial numbers, lot numbers and record ids as the input contract compares them: the rule
in one place, for Python, polars and SQL.

Serial and lot keys (input contract, "Serial and lot numbers"): the text in Unicode NFKC form
(fullwidth letters and digits become ASCII); invisible characters (category Cf: zero-width
spaces and joiners, byte-order marks, soft hyphens) removed; every kind of space a space;
trimmed; upper case; Cyrillic and Greek capitals that look like Latin ones read as Latin; a
leading `No`, `No.`, `№` or `S/N` removed; then spaces, hyphens (and the Unicode hyphens and
dashes), slashes and dots removed. Record ids get the same Unicode cleaning and look-alike
letters, trimmed, with their case kept.

Three implementations read the tables below: `serial_key` and `record_id_key` (plain Python,
the reference the others are tested against), `key_expr` (polars, the clean stage, after
`unicode_cleaned` of the values that are not plain ASCII), and the
SQL macros `normalised_key` and `normalised_record_id` (`macro_sql`), stored in the curated
database for `trace`. DuckDB has no NFKC and its `upper` differs from Python's on a few
letters (`ß`), so the macros read their per-character mappings from the table
`key_characters` (`key_character_rows`), generated here from Python's Unicode data: NFKC is
each character's compatibility decomposition followed by NFC (`nfc_normalize`), which is what
NFKC is by definition; upper case is Python's full mapping.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, cached_property

import polars as pl

from pipeline.reference import CYRILLIC_LOOKALIKES
from pipeline.sql_literal import sql_string

GREEK_LOOKALIKES = dict(zip("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "ABEZHIKMNOPTYX", strict=True))
LOOKALIKES = {**CYRILLIC_LOOKALIKES, **GREEK_LOOKALIKES}
"""Capitals of other scripts that field teams (or their keyboards) type for Latin ones."""

HYPHENS = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
"""The hyphen-minus and the Unicode hyphens, dashes and minus sign, all removed from keys."""
SEPARATORS = " /." + HYPHENS

PREFIX = r"^(?:S/N|№|NO(?:[.:# ]|$))[ .:#]*"
"""A leading `S/N`, `№` or `No` followed by punctuation, a space or nothing (after NFKC, which
writes `№` as `No`, upper case and spaces cleaned), with what follows it up to the number.
`No` right before a digit is a prefix too (`NO_DIGIT`); before a letter it is part of the
serial (`NOR-55`)."""
NO_DIGIT = r"^NO([0-9])"


SCANNED_PLANES = (range(0xD800), range(0xE000, 0x40000), range(0xE0000, 0xE1000))
"""Where Unicode assigns characters that are not private use: planes 0 to 3 (without the
surrogates) and the tags and variation selectors of plane 14. The tables are built from these
(a test holds every other code point unassigned or private use)."""


@dataclass(frozen=True)
class _Tables:
    invisible: list[str]  # category Cf
    spaces: list[str]  # every character Python reads as a space but the space itself
    compatibility: dict[str, str]  # compatibility decompositions that differ from canonical
    upper: dict[str, str]  # Python's (full) upper case, where it changes the character

    @cached_property
    def invisible_class(self) -> str:
        return _character_class(self.invisible)

    @cached_property
    def space_class(self) -> str:
        return _character_class(self.spaces)

    @cached_property
    def python_cleaning(self) -> dict[int, str | None]:
        """str.translate's table: invisible characters deleted, spaces made plain."""
        return {**dict.fromkeys(map(ord, self.invisible)),
                **dict.fromkeys(map(ord, self.spaces), " ")}


@cache
def _tables() -> _Tables:
    """Built from Python's Unicode data once, when first needed (one pass over the assigned
    planes, about 0.3 s)."""
    tables = _Tables([], [], {}, {})
    for plane in SCANNED_PLANES:
        for point in plane:
            character = chr(point)
            category = unicodedata.category(character)
            if category == "Cn":
                continue
            if category == "Cf":
                tables.invisible.append(character)
            elif character.isspace() and character != " ":
                tables.spaces.append(character)
            if unicodedata.decomposition(character):
                compatible = unicodedata.normalize("NFKD", character)
                if compatible != unicodedata.normalize("NFD", character):
                    tables.compatibility[character] = compatible
            if (upper := character.upper()) != character:
                tables.upper[character] = upper
    return tables


def _character_class(characters: list[str]) -> str:
    """A regex class of `characters` as `\\x{...}` ranges: the syntax of both Rust's regex
    (polars) and RE2 (DuckDB)."""
    points = sorted(ord(c) for c in characters)
    ranges: list[tuple[int, int]] = []
    for point in points:
        if ranges and point == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], point)
        else:
            ranges.append((point, point))
    body = "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}"
                   for a, b in ranges)
    return f"[{body}]"


LOOKALIKE_TABLE = str.maketrans(LOOKALIKES)
SEPARATOR_TABLE = str.maketrans(dict.fromkeys(SEPARATORS))


# --- plain Python: the reference ----------------------------------------------------------

def unicode_cleaned(text: str) -> str:
    """NFKC, invisible characters removed, every space a plain space."""
    normal = unicodedata.normalize("NFKC", text)
    return normal.translate(_tables().python_cleaning)


def serial_key(text: str | None) -> str | None:
    """The comparison key of a serial or lot number; None when nothing is left.

    The clean stage also gives no key to an unknown marker (`n/a`); that is its rule, not
    this one's.
    """
    if text is None:
        return None
    upper = unicode_cleaned(text).strip(" ").upper().translate(LOOKALIKE_TABLE)
    unprefixed = re.sub(NO_DIGIT, r"\1", re.sub(PREFIX, "", upper))
    return unprefixed.translate(SEPARATOR_TABLE) or None


def record_id_key(text: str | None) -> str | None:
    """A record id as compared: Unicode-cleaned, look-alikes as Latin, trimmed, case kept."""
    if text is None:
        return None
    return unicode_cleaned(text).translate(LOOKALIKE_TABLE).strip(" ") or None


# --- polars: the clean stage ---------------------------------------------------------------

def key_expr(cleaned: pl.Expr) -> pl.Expr:
    """serial_key as a polars expression ("" where serial_key gives None), of text already
    `unicode_cleaned`: the clean stage cleans the few distinct values that are not plain
    ASCII in Python (cleaning every value in polars took a third of the key's time)."""
    upper = cleaned.str.strip_chars(" ").str.to_uppercase()
    latin = upper.str.replace_many(list(LOOKALIKES), list(LOOKALIKES.values()))
    unprefixed = latin.str.replace(PREFIX, "").str.replace(NO_DIGIT, "$1")
    return unprefixed.str.replace_all(f"[{re.escape(SEPARATORS)}]", "")


# --- SQL: the macros stored in the curated database ----------------------------------------

def key_character_rows() -> pl.DataFrame:
    """The per-character mappings the SQL macros apply: step `compatibility` (each character's
    compatibility decomposition, where it differs from the canonical one) and step `upper`
    (Python's upper case, where it changes the character)."""
    tables = _tables()
    rows = [("compatibility", c, r) for c, r in tables.compatibility.items()]
    rows += [("upper", c, r) for c, r in tables.upper.items()]
    return pl.DataFrame(rows, schema=["step", "character", "replacement"], orient="row")


KEY_CHARACTERS_COMMENT = (
    "Per-character mappings the key macros (normalised_key, normalised_record_id) apply, "
    "generated from Python's Unicode data so that SQL normalises as the build does: "
    "compatibility (a character's compatibility decomposition, which NFC then composes: "
    "together, NFKC) and upper (Python's upper case).")
KEY_CHARACTERS_COLUMNS = {
    "step": "compatibility or upper.",
    "character": "One character.",
    "replacement": "What the step replaces it with.",
}


def sql_constants() -> dict[str, str]:
    """The rule's tables as SQL string literals, for SQL that applies the rule set by set
    (pipeline/lookup/trace.sql): @INVISIBLE@ and @SPACES@ (regex classes), @LOOKALIKES@ and
    @LATIN@ (translate's two strings)."""
    tables = _tables()
    return {"@INVISIBLE@": sql_string(tables.invisible_class),
            "@SPACES@": sql_string(tables.space_class),
            "@LOOKALIKES@": sql_string("".join(LOOKALIKES)),
            "@LATIN@": sql_string("".join(LOOKALIKES.values()))}


def macro_sql(unknown_markers: tuple[str, ...]) -> str:
    """The CREATE MACRO statements of the key macros. `unknown_markers` (lower case) give no
    key, as in the clean stage."""
    tables = _tables()
    froms, tos = "".join(LOOKALIKES), "".join(LOOKALIKES.values())
    markers = ", ".join(sql_string(m) for m in unknown_markers)
    separators = sql_string(f"[{re.escape(SEPARATORS)}]")
    return f"""
CREATE OR REPLACE MACRO key_characters_mapped(text, step_name) AS (
    SELECT array_to_string(list_transform(regexp_extract_all(text, '(?s).'),
                                          lambda c: coalesce(mapping[c], c)), '')
    FROM (SELECT map_from_entries(list(struct_pack(key := character, value := replacement)))
                 AS mapping
          FROM key_characters WHERE step = step_name));

CREATE OR REPLACE MACRO unicode_cleaned(text) AS
    regexp_replace(regexp_replace(
        nfc_normalize(key_characters_mapped(text, 'compatibility')),
        {sql_string(tables.invisible_class)}, '', 'g'),
        {sql_string(tables.space_class)}, ' ', 'g');

CREATE OR REPLACE MACRO normalised_key(text) AS
    CASE WHEN lower(text) NOT IN ({markers}) THEN nullif(regexp_replace(
        regexp_replace(regexp_replace(
            translate(key_characters_mapped(trim(unicode_cleaned(text), ' '), 'upper'),
                      {sql_string(froms)}, {sql_string(tos)}),
            {sql_string(PREFIX)}, ''), {sql_string(NO_DIGIT)}, '\\1'),
        {separators}, '', 'g'), '') END;

CREATE OR REPLACE MACRO normalised_record_id(text) AS
    nullif(trim(translate(unicode_cleaned(text), {sql_string(froms)}, {sql_string(tos)}),
                ' '), '');

COMMENT ON MACRO normalised_key IS {sql_string(
    "The comparison key of a serial or lot number, as the build computes serial_key and "
    "lot_key: NFKC, invisible characters removed, spaces cleaned, upper case, Cyrillic and "
    "Greek look-alikes as Latin, a leading No/No./№/S/N removed, then spaces, hyphens, "
    "slashes and dots removed; NULL for an unknown marker (n/a) or nothing left.")};
COMMENT ON MACRO normalised_record_id IS {sql_string(
    "A record id as compared: NFKC, invisible characters removed, spaces cleaned, look-alike "
    "capitals as Latin, trimmed, case kept.")};
COMMENT ON MACRO unicode_cleaned IS {sql_string(
    "NFKC, invisible characters (Cf) removed, every kind of space a plain space.")};
COMMENT ON MACRO key_characters_mapped IS {sql_string(
    "Each character of text replaced as key_characters says for the step.")};
"""
