"""One build of the dirty multi-team fixture, checked table by table."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.conftest import ROWS_IN


@pytest.fixture(scope="module")
def con(dirty_build: Path) -> duckdb.DuckDBPyConnection:
    with duckdb.connect(str(dirty_build / "armtrace.duckdb"), read_only=True) as connection:
        yield connection


def scalar(con: duckdb.DuckDBPyConnection, sql: str) -> object:
    (value,), *_ = con.sql(sql).fetchall()
    return value


def test_every_input_row_is_in_exactly_one_place(con: duckdb.DuckDBPyConnection) -> None:
    places = {
        "items": "SELECT row_number FROM items",
        "record_versions": "SELECT row_number FROM record_versions",
        "dedup_decisions": "SELECT dropped_row FROM dedup_decisions",
        "quarantine": "SELECT row_number FROM quarantine",
    }
    seen: list[int] = []
    for sql in places.values():
        seen += [row[0] for row in con.sql(sql).fetchall()]
    assert sorted(seen) == list(range(ROWS_IN))
    assert scalar(con, "SELECT sum(rows_read) FROM source_files") == ROWS_IN


def test_item_unit_and_site_counts_are_exact(con: duckdb.DuckDBPyConnection) -> None:
    assert scalar(con, "SELECT count(*) FROM items") == 15
    assert scalar(con, "SELECT count(*) FROM items WHERE item_kind = 'weapons'") == 5
    assert scalar(con, "SELECT sum(quantity) FROM items WHERE item_kind = 'ammunition'") == (
        12 + 30 + 30 + 31 + 1250 + 75 + 1 + 9 + 1 + 100)
    sites = con.sql("SELECT documented_in, count(DISTINCT site_key) FROM items GROUP BY ALL "
                    "ORDER BY 1").fetchall()
    assert sites == [("Iraq", 2), ("Syria", 2)]


def test_every_merge_is_explained(con: duckdb.DuckDBPyConnection) -> None:
    merges = con.sql("SELECT rule, dropped_record_id, kept_record_id, dropped_file, kept_file "
                     "FROM dedup_decisions ORDER BY dropped_row").fetchall()
    assert merges == [
        ("double_entry", "A-005", "A-004", "items/team-a/2016-01-export.csv",
         "items/team-a/2016-01-export.csv"),
        ("identical_row", "A-007", "A-007", "items/team-a/2016-01-export.csv",
         "items/team-a/2016-01-export.csv"),
        ("re_documented_item", "A-101", "A-001", "items/team-a/2016-06-export.csv",
         "items/team-a/2016-01-export.csv"),
    ]


def test_later_export_supersedes_earlier_version(con: duckdb.DuckDBPyConnection) -> None:
    assert con.sql("SELECT record_id, source_file FROM record_versions").fetchall() == [
        ("A-002", "items/team-a/2016-01-export.csv")]
    assert scalar(con, "SELECT quantity FROM items WHERE record_id = 'A-002'") == 1250


def test_every_quarantined_row_is_explained(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.sql("SELECT coalesce(record_id, source_file), reasons, source_line FROM quarantine "
                   "ORDER BY row_number").fetchall()
    assert [(who, reasons) for who, reasons, _ in rows] == [
        ("A-009", ["future_date"]),
        ("A-010", ["unparseable_date"]),
        ("A-011", ["unknown_category"]),
        ("A-012", ["weapon_quantity"]),
        ("A-013", ["year_out_of_range"]),
        ("A-104", ["duplicate_record_id"]),
        ("A-104", ["duplicate_record_id"]),
        ("items/team-b/2016/photo.csv", ["unreadable_file"]),
        ("B-011", ["unknown_country"]),
    ]
    assert [line for *_, line in rows] == [10, 11, 12, 13, 14, 6, 7, None, 3]
    problems = scalar(con, "SELECT problems FROM quarantine WHERE record_id = 'A-010'")
    assert "documented_on '31/02/2016'" in problems[0]
    assert scalar(con, "SELECT cells->>'Type' FROM quarantine WHERE record_id = 'A-011'") == (
        "banana")


def test_values_are_normalised_across_formats(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.sql("""
        SELECT record_id, documented_on::VARCHAR, origin, origin_state, year_of_manufacture,
               serial_key, calibre, calibre_family, anti_armour, quantity
        FROM items WHERE record_id LIKE 'B-%' ORDER BY record_id""").fetchall()
    assert rows == [
        ("B-001", "2016-11-03", "Türkiye", "Türkiye", 2013, None, None, "unknown", False, 75),
        ("B-002", "2016-11-04", "Germany", "East Germany", 1970, "AB123", "9x18mm",
         "warsaw_pact", False, 1),
        ("B-003", "2016-11-04", None, None, None, None, None, "unknown", False, 1),
        ("B-004", "2016-11-04", "Romania", "Romania", 2014, None, "73mm", "warsaw_pact", True, 9),
        ("B-010", "2016-11-05", "Bulgaria", "Bulgaria", 2015, "55", None, "unknown", True, 1),
        ("B-020", "2017-02-01", "United States", "United States", 2010, None, "5.56x45mm", "nato",
         False, 100),
        ("B-021", "2017-02-02", "United States", "United States", 1990, "9", "5.56x45mm", "nato",
         False, 1),
    ]


def test_source_files_report_each_file(con: duckdb.DuckDBPyConnection) -> None:
    files = con.sql("SELECT path, encoding, delimiter, status, sheets_skipped, blank_rows "
                    "FROM source_files ORDER BY path").fetchall()
    assert files == [
        ("README.md", None, None, "not_read", None, None),
        ("items/team-a/2016-01-export.csv", "utf-8", ",", "ok", [], 0),
        ("items/team-a/2016-06-export.csv", "utf-8-sig", ";", "ok", [], 0),
        ("items/team-b/2016/log.txt", "windows-1252", "\t", "ok", [], 0),
        ("items/team-b/2016/photo.csv", None, None, "unreadable", [], 0),
        ("items/team-b/2016/pipes.csv", "utf-8", "|", "ok", [], 0),
        ("items/team-b/2016/workbook.xlsx", None, None, "ok",
         ["Legend (first row is not a header)"], 1),
    ]
    sha = scalar(con, "SELECT sha256 FROM source_files WHERE path = 'README.md'")
    assert len(sha) == 64


def test_every_table_and_column_has_a_comment(con: duckdb.DuckDBPyConnection) -> None:
    tables = con.sql("SELECT table_name FROM duckdb_tables() WHERE NOT internal "
                     "AND coalesce(comment, '') = ''").fetchall()
    columns = con.sql("SELECT table_name, column_name FROM duckdb_columns() WHERE NOT internal "
                      "AND coalesce(comment, '') = ''").fetchall()
    assert tables == [] and columns == []
    names = {r[0] for r in con.sql("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert {"items", "quarantine", "record_versions", "dedup_decisions", "ref_countries",
            "ref_historic_states", "ref_eu_membership", "ref_calibres", "ref_models"} <= names
