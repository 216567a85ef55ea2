"""Resolve stage: versions, re-documented items and double entries, and their near misses.

Rows are written as small CSVs under tmp_path and go through discover, read, normalise_rows and
resolve_decisions, so every merge key is built the way the pipeline builds it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from pipeline.reference import Reference
from pipeline.stages.clean import normalise_rows
from pipeline.stages.discover import discover_raw_files
from pipeline.stages.read import read_dataset
from pipeline.stages.resolve import _decide, resolve_decisions
from tests.conftest import write_log

TODAY = dt.date(2026, 1, 1)
BASE = {"record_id": "R-1", "documented_on": "2016-11-03", "documented_in": "Iraq",
        "site": "Mosul", "category": "cartridge"}

Resolve = Callable[[dict[str, list[dict[str, str]]]], pl.DataFrame]


@pytest.fixture
def resolve(tmp_path: Path, reference: Reference) -> Resolve:
    """resolve({path under items/: [row, ...]}): each row is BASE updated by the given dict."""

    def run(files: dict[str, list[dict[str, str]]]) -> pl.DataFrame:
        for name, rows in files.items():
            write_log(tmp_path / "items" / name, [{**BASE, **row} for row in rows])
        parsed, _ = read_dataset(tmp_path, discover_raw_files(tmp_path))
        normalised = normalise_rows(parsed, reference, TODAY)
        decisions = resolve_decisions(normalised.lazy())
        # One decision per row, in the rows' order (what curated_tables' positional join
        # needs): the dispositions partition the rows, nothing is lost or counted twice.
        assert decisions["row_number"].equals(normalised["row_number"])
        # The rules run only on rows whose keys hash like another's: the same decisions as
        # running them on every row.
        assert decisions.equals(_decide(normalised.lazy()))
        return normalised.hstack(decisions.drop("row_number").get_columns())

    return run


def rows_of(frame: pl.DataFrame, **where: str) -> list[dict]:
    return frame.filter(**where).sort("row_number").to_dicts()


def row_of(frame: pl.DataFrame, **where: str) -> dict:
    (row,) = rows_of(frame, **where)
    return row


def items(frame: pl.DataFrame) -> list[str]:
    return frame.filter(disposition="item").sort("row_number")["record_id"].to_list()


# --- 1. versions -----------------------------------------------------------------------------

@pytest.mark.parametrize(("earlier", "later"), [
    ("a.csv", "b.csv"),
    ("team-a/2016/log.csv", "team-a/2017/log.csv"),
    ("team-a/2016-01-export.csv", "team-a/2016-06-export.csv"),
    ("team-a/2016/z.csv", "team-a/2017/a.csv"),  # path order, not file name order
])
def test_later_file_in_path_order_supersedes_without_updated_at(
        resolve: Resolve, earlier: str, later: str) -> None:
    # Written later-first, so that path order (not writing order) has to decide.
    frame = resolve({later: [{"record_id": "X", "quantity": "6"}],
                     earlier: [{"record_id": "X", "quantity": "5"}]})

    old = row_of(frame, source_file=f"items/{earlier}")
    new = row_of(frame, source_file=f"items/{later}")
    assert new["disposition"] == "item"
    assert new["quantity_value"] == 6
    assert old["disposition"] == "superseded"
    assert old["resolved_to_row"] == new["row_number"]


@pytest.mark.parametrize(("updated_a", "updated_b", "winner"), [
    ("2017-03-01", "2017-01-01", "a"),                     # later edit in the earlier file
    ("2017-01-01T09:30:00", "2017-01-01T09:00:00", "a"),   # time of day decides
    ("02/03/2017", "2017-01-01", "a"),                     # any contract date form
    ("2017-01-01", "2017-03-01", "b"),                     # near miss: later file is newer
    ("2017-01-01", "2017-01-01", "b"),                     # tie: path order decides
])
def test_later_updated_at_wins_even_from_an_earlier_file(
        resolve: Resolve, updated_a: str, updated_b: str, winner: str) -> None:
    frame = resolve({"a.csv": [{"record_id": "X", "quantity": "5", "updated_at": updated_a}],
                     "b.csv": [{"record_id": "X", "quantity": "6", "updated_at": updated_b}]})

    kept = row_of(frame, source_file=f"items/{winner}.csv")
    lost = row_of(frame, source_file=f"items/{'b' if winner == 'a' else 'a'}.csv")
    assert kept["disposition"] == "item"
    assert lost["disposition"] == "superseded"
    assert lost["resolved_to_row"] == kept["row_number"]


def test_three_versions_resolve_to_the_newest(resolve: Resolve) -> None:
    frame = resolve({f"{month}.csv": [{"record_id": "X", "quantity": str(quantity)}]
                     for month, quantity in (("01", 1), ("03", 3), ("02", 2))})

    newest = row_of(frame, source_file="items/03.csv")
    assert newest["disposition"] == "item"
    assert newest["quantity_value"] == 3
    for month in ("01", "02"):
        old = row_of(frame, source_file=f"items/{month}.csv")
        assert (old["disposition"], old["resolved_to_row"]) == ("superseded",
                                                                newest["row_number"])


def test_other_record_ids_are_not_versions(resolve: Resolve) -> None:
    frame = resolve({"a.csv": [{"record_id": "X", "quantity": "5"}],
                     "b.csv": [{"record_id": "Y", "quantity": "6"}]})
    assert items(frame) == ["X", "Y"]


def test_identical_duplicate_in_one_file_is_one_record(resolve: Resolve) -> None:
    frame = resolve({"a.csv": [{"record_id": "X", "quantity": "5"},
                               {"record_id": "Y", "quantity": "9"},
                               {"record_id": "X", "quantity": "5"}]})

    first, repeat = rows_of(frame, record_id="X")
    assert first["disposition"] == "item"
    assert (repeat["disposition"], repeat["rule"]) == ("merged", "identical_row")
    assert repeat["resolved_to_row"] == first["row_number"]
    assert items(frame) == ["X", "Y"]


def test_conflicting_duplicate_in_one_file_is_quarantined_not_resolved(
        resolve: Resolve) -> None:
    frame = resolve({"a.csv": [{"record_id": "X", "quantity": "5"},
                               {"record_id": "X", "quantity": "6"}]})
    assert frame["disposition"].to_list() == ["quarantined", "quarantined"]


def test_invalid_rows_are_quarantined_and_never_merged(resolve: Resolve) -> None:
    frame = resolve({"a.csv": [{"record_id": "A", "quantity": "0"},
                               {"record_id": "B", "quantity": "0"},
                               {"record_id": "C", "quantity": "4"}]})
    assert frame["disposition"].to_list() == ["quarantined", "quarantined", "item"]
    assert frame["resolved_to_row"].to_list() == [None, None, None]


# --- 2. re-documented items ------------------------------------------------------------------

RIFLE = {"category": "rifle", "model": "AKM", "calibre": "7.62x39mm", "serial_number": "1001",
         "country_of_manufacture": "Russia", "quantity": "1"}
# The first row is documented later and elsewhere, so only the serial rule can join the two.
LATE = {"record_id": "LATE", "documented_on": "2016-12-01", "site": "Raqqa",
        "documented_in": "Syria"}
EARLY = {"record_id": "EARLY", "documented_on": "2016-06-01", "site": "Mosul",
         "documented_in": "Iraq"}


@pytest.mark.parametrize(("late", "early"), [
    ({}, {}),
    ({"country_of_manufacture": "USSR"}, {"country_of_manufacture": "Russia"}),
    ({"country_of_manufacture": "Soviet Union"}, {"country_of_manufacture": "RUS"}),
    ({"serial_number": "No. 1001"}, {"serial_number": "S/N 1001"}),
    ({"serial_number": "№1001"}, {"serial_number": "10-01"}),
    ({"serial_number": "АВ 123"}, {"serial_number": "AB123"}),  # Cyrillic A, Ve
    ({"model": "akm"}, {"model": "AKM"}),
    ({"model": "AK"}, {"model": "AK-47"}),  # an alias of the same model
    ({"model": "Type 81"}, {"model": "TYPE-81"}),  # not in the table: compared folded
    ({"category": "ATGM", "model": "9М111", "calibre": ""},  # Cyrillic Em
     {"category": "guided missile", "model": "9M111", "calibre": ""}),
])
def test_re_documented_item_is_merged_keeping_the_earliest(resolve: Resolve, late: dict,
                                                            early: dict) -> None:
    frame = resolve({"a.csv": [{**RIFLE, **LATE, **late}, {**RIFLE, **EARLY, **early}]})

    kept, dropped = row_of(frame, record_id="EARLY"), row_of(frame, record_id="LATE")
    assert kept["disposition"] == "item"
    assert (dropped["disposition"], dropped["rule"]) == ("merged", "re_documented_item")
    assert dropped["resolved_to_row"] == kept["row_number"]


def test_re_documented_item_across_files_keeps_the_earliest(resolve: Resolve) -> None:
    frame = resolve({"a.csv": [{**RIFLE, **LATE}], "b.csv": [{**RIFLE, **EARLY}]})

    kept, dropped = row_of(frame, record_id="EARLY"), row_of(frame, record_id="LATE")
    assert kept["source_file"] == "items/b.csv"
    assert kept["disposition"] == "item"
    assert dropped["resolved_to_row"] == kept["row_number"]


@pytest.mark.parametrize(("late", "early"), [
    ({"model": "AKM"}, {"model": "Type 56-1"}),                              # another model
    ({"country_of_manufacture": "China"}, {"country_of_manufacture": "Russia"}),  # another origin
    ({"country_of_manufacture": ""}, {"country_of_manufacture": ""}),        # origin unknown
    ({"country_of_manufacture": "unknown"}, {"country_of_manufacture": "n/a"}),
    ({"country_of_manufacture": ""}, {"country_of_manufacture": "Russia"}),
    ({"serial_number": "1001"}, {"serial_number": "1002"}),                  # another serial
    ({"serial_number": "NOR-55"}, {"serial_number": "55"}),
    ({"serial_number": ""}, {"serial_number": ""}),                          # no serial at all
    ({"model": ""}, {"model": ""}),                                          # no model at all
    # not a serial-numbered category: cartridges with the same serial-like text
    ({"category": "cartridge", "quantity": "20"}, {"category": "cartridge", "quantity": "20"}),
    ({"category": "RPG round", "model": "PG-7VL", "quantity": "1"},
     {"category": "RPG round", "model": "PG-7VL", "quantity": "1"}),
])
def test_not_the_same_item(resolve: Resolve, late: dict, early: dict) -> None:
    frame = resolve({"a.csv": [{**RIFLE, **LATE, **late}, {**RIFLE, **EARLY, **early}]})
    assert frame["disposition"].to_list() == ["item", "item"]


@pytest.mark.parametrize("serial", ["", "-", "No.", "S/N", "№"])
def test_weapons_with_an_empty_serial_key_are_not_one_item(resolve: Resolve,
                                                          serial: str) -> None:
    frame = resolve({"a.csv": [{**RIFLE, **LATE, "serial_number": serial},
                               {**RIFLE, **EARLY, "serial_number": serial}]})
    assert frame["disposition"].to_list() == ["item", "item"]


@pytest.mark.parametrize("serial", ["n/a", "unknown", "?", "none"])
def test_weapons_with_an_unknown_serial_are_not_one_item(resolve: Resolve,
                                                         serial: str) -> None:
    frame = resolve({"a.csv": [{**RIFLE, **LATE, "serial_number": serial},
                               {**RIFLE, **EARLY, "serial_number": serial}]})
    assert frame["disposition"].to_list() == ["item", "item"]


# --- 3. double entries -----------------------------------------------------------------------

ENTRY = {"documented_on": "2016-01-11", "documented_in": "Iraq", "site": "Tal Afar",
         "category": "mortar round", "model": "", "calibre": "82mm",
         "country_of_manufacture": "Serbia", "year_of_manufacture": "2011", "lot_number": "L-7",
         "quantity": "30"}


@pytest.mark.parametrize(("column", "first", "second"), [
    ("site", "Tal Afar", "Tal Afar"),
    ("site", "Tal Afar", "TAL AFAR"),
    ("site", "Tal Afar", "tal  afar"),
    ("site", "Tal Afar", " Tal Afar "),
    ("documented_on", "2016-01-11", "11/01/2016"),
    ("documented_on", "2016-01-11", "11 Jan 2016"),
    ("documented_in", "Iraq", "IRQ"),
    ("category", "mortar", "mortar bomb"),
    ("calibre", "82mm", "82 mm"),
    ("model", "AK", "AK-47"),
    ("country_of_manufacture", "Serbia", "serbia"),
    ("country_of_manufacture", "Yugoslavia", "Serbia"),  # same present-day country
    ("year_of_manufacture", "2011", "11"),
    ("lot_number", "L-7", "l 7"),
    ("lot_number", "No. 7", "7"),
    ("quantity", "1,200", "1200"),
])
def test_double_entry_is_merged(resolve: Resolve, column: str, first: str,
                                second: str) -> None:
    frame = resolve({"a.csv": [{**ENTRY, "record_id": "A", column: first},
                               {**ENTRY, "record_id": "B", column: second}]})

    kept, dropped = row_of(frame, record_id="A"), row_of(frame, record_id="B")
    assert kept["disposition"] == "item"
    assert (dropped["disposition"], dropped["rule"]) == ("merged", "double_entry")
    assert dropped["resolved_to_row"] == kept["row_number"]


def test_double_entry_across_files_is_merged(resolve: Resolve) -> None:
    frame = resolve({"a.csv": [{**ENTRY, "record_id": "A"}],
                     "b.csv": [{**ENTRY, "record_id": "B", "site": "tal afar"}]})
    assert items(frame) == ["A"]
    assert row_of(frame, record_id="B")["rule"] == "double_entry"


@pytest.mark.parametrize(("column", "first", "second"), [
    ("quantity", "30", "31"),
    ("lot_number", "L-7", "L-8"),
    ("lot_number", "L-7", ""),
    ("site", "Tal Afar", "Mosul"),
    ("documented_on", "2016-01-11", "2016-01-12"),
    ("documented_in", "Iraq", "Syria"),
    ("category", "mortar round", "rocket"),
    ("calibre", "82mm", "120mm"),
    ("model", "", "M43"),
    ("country_of_manufacture", "Serbia", "Bulgaria"),
    ("country_of_manufacture", "Serbia", ""),
    ("year_of_manufacture", "2011", "2012"),
    ("serial_number", "1", "2"),
])
def test_different_records_are_not_double_entries(resolve: Resolve, column: str, first: str,
                                                  second: str) -> None:
    frame = resolve({"a.csv": [{**ENTRY, "record_id": "A", column: first},
                               {**ENTRY, "record_id": "B", column: second}]})
    assert items(frame) == ["A", "B"]
    assert frame["rule"].to_list() == [None, None]


def test_double_entry_of_three_keeps_the_first(resolve: Resolve) -> None:
    frame = resolve({"a.csv": [{**ENTRY, "record_id": "C"}, {**ENTRY, "record_id": "A"},
                               {**ENTRY, "record_id": "B"}]})

    assert items(frame) == ["C"]
    kept = row_of(frame, record_id="C")["row_number"]
    assert [row["resolved_to_row"] for row in rows_of(frame, disposition="merged")] == [kept,
                                                                                       kept]
