# ruff: noqa: RUF001  (look-alike and fullwidth characters are what these tests are about)
"""Serial, lot and record-id keys: one rule (pipeline/keys.py), three implementations that must
agree: plain Python (the reference), polars (the clean stage's record_key) and the SQL macros
the curated database stores for `trace`."""

from __future__ import annotations

import sys
import unicodedata

import duckdb
import polars as pl
import pytest

from pipeline import keys
from pipeline.stages.clean import UNKNOWN_MARKERS, record_key

TRICKY = [
    # prefixes
    "No 12-14-451", "No. 12-14-451", "no.12 14 451", "NO:55", "No55", "№ 12-14-451", "№55",
    "S/N 12-14-451", "s/n AB-123", "No", "№", "S/N", "NOR-55", "NOTE 5", "Nov-15",
    # spaces, hyphens, slashes, dots, and the Unicode dashes
    "12 14 451", "12/14/451", "12.14.451", " 12-14-451 ", "12\t14\n451", "12‐14–451",
    "12—14−451", "12\u00a014\u2009451", "12\u300014\u3000451",
    # look-alike letters: Cyrillic and Greek capitals, and lower-case Cyrillic
    "АВ 123", "ав 123", "ΑΒ 123", "ΕΚΜΗΟΡΤΧ-9", "ΙΖΝΥ 1", "СТ-445", "МН269444",
    # fullwidth forms (NFKC), invisible characters (Cf), BOM, soft hyphen
    "１２－１４－４５１", "ＡＢ１２３", "Ｎｏ．１２", "12\u200b14\u200c451", "\ufeff12-14-451",
    "12\u00ad14\u00ad451", "1\u200d2\u2060-14\u2062451", "\u200eAB123\u200f",
    # other compatibility forms, and case mappings that differ between libraries
    "①②", "Ⅻ-7", "ﬁ-12", "x²", "Straße 5", "ǰ1", "ΐ",
    # unknown markers and empties
    "n/a", "N/A", "unknown", "?", "-", "--", "", " ", "\u200b",
]


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    """An in-memory database with the key macros, as the build stores them."""
    with duckdb.connect() as connection:
        connection.register("rows", keys.key_character_rows())
        connection.execute("CREATE TABLE key_characters AS SELECT * FROM rows")
        connection.execute(keys.macro_sql(UNKNOWN_MARKERS))
        yield connection


def reference_key(text: str) -> str | None:
    """The rule in plain Python, with the clean stage's unknown markers."""
    return None if text.lower() in UNKNOWN_MARKERS else keys.serial_key(text)


def sql_values(con: duckdb.DuckDBPyConnection, macro: str, texts: list[str]) -> list:
    frame = pl.DataFrame({"text": texts, "position": range(len(texts))})
    con.register("texts", frame)
    return [value for (value,) in con.sql(
        f"SELECT {macro}(text) FROM texts ORDER BY position").fetchall()]


def clean_keys(texts: list[str]) -> list[str | None]:
    frame = pl.DataFrame({"serial_number": texts})
    return frame.select(record_key(frame, "serial_number"))["serial_number"].to_list()


def test_the_contract_examples_give_one_key() -> None:
    one_lot = ["12-14-451", "№ 12-14-451", "No. 12 14 451", "12/14/451", "１２－１４－４５１",
               "12\u200b-14\u00ad-451", "\ufeffNo 12.14.451", "S/N 12 14 451"]
    assert {keys.serial_key(t) for t in one_lot} == {"1214451"}
    assert {keys.serial_key(t) for t in ("АВ-123", "ΑΒ 123", "ab/123", "ＡＢ１２３")} == {"AB123"}
    # near misses: letters after No are the serial's, and other numbers are other keys
    assert keys.serial_key("NOR-55") == "NOR55" and keys.serial_key("NO-55") == "NO55"
    assert keys.serial_key("12-14-415") != keys.serial_key("12-14-451")
    assert keys.serial_key("№") is None and keys.serial_key("\u200b") is None


@pytest.mark.parametrize("text", TRICKY)
def test_python_polars_and_sql_keys_agree(con, text: str) -> None:
    expected = reference_key(text)
    assert clean_keys([text]) == [expected]
    assert sql_values(con, "normalised_key", [text]) == [expected]


def test_record_ids_keep_their_case_and_agree(con) -> None:
    texts = ["IQN-00459", " IQN-00459 ", "ΙQΝ-00459", "ＩＱＮ－００４５９", "\ufeffIQN\u200b-00459",
             "iqn-00459", "СЕ-001"]
    expected = [keys.record_id_key(t) for t in texts]
    assert expected[:5] == ["IQN-00459"] * 5 and expected[5] == "iqn-00459"
    assert expected[6] == "CE-001"
    assert sql_values(con, "normalised_record_id", texts) == expected


NEWER_UNICODE = {0x19B, 0x264, 0x1C8A, 0xA7CD, 0xA7CF, 0xA7D3, 0xA7D5, 0xA7DB, 0xA7F1}
"""Characters given an upper case or a compatibility mapping after Unicode 14 (Python 3.11's
data, which keys.py and the SQL tables use): polars' newer tables map them, Python does not."""
STABLE_BLOCKS = [range(0x20, 0x180), range(0x370, 0x530), range(0x2000, 0x2070),
                 range(0x2100, 0x2190), range(0x2460, 0x24FF), range(0x3000, 0x3040),
                 range(0xFB00, 0xFB07), range(0xFE00, 0xFE70), range(0xFF00, 0xFFF0)]
"""Latin, Greek, Cyrillic, punctuation, letter-like and enclosed forms, CJK spaces, ligatures,
variation selectors, small and fullwidth forms: what SQL is checked on, character by
character (the macro takes about 0.1 ms a value)."""


def test_polars_keys_agree_with_python_on_every_character_of_the_basic_plane() -> None:
    texts = [f"A{chr(c)}1" for c in range(0x20, 0x10000)
             if not 0xD800 <= c <= 0xDFFF and c not in NEWER_UNICODE]
    assert clean_keys(texts) == [reference_key(t) for t in texts]


def test_sql_keys_agree_with_python_on_every_character_of_the_common_blocks(con) -> None:
    texts = [f"A{chr(c)}1" for block in STABLE_BLOCKS for c in block]
    assert sql_values(con, "normalised_key", texts) == [reference_key(t) for t in texts]


def test_the_tables_cover_every_assigned_character() -> None:
    """keys.py builds its tables from SCANNED_PLANES only: every other code point must be
    unassigned, private use or a surrogate, or a mapping would be missing."""
    scanned = {c for plane in keys.SCANNED_PLANES for c in plane}
    outside = (chr(c) for c in range(sys.maxunicode + 1) if c not in scanned)
    assert {unicodedata.category(c) for c in outside} <= {"Cn", "Co", "Cs"}
