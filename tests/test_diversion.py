"""Diversion chains: recovered items matched to documented transfers (issue 6).

One small raw folder holds every case (lot spellings, serials, no match, before shipment,
ambiguity, bad transfer rows); the shipped sample must show the two published cases.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipeline.columns import TRANSFERS
from pipeline.stages.discover import discover_raw_files
from pipeline.stages.read import read_dataset
from pipeline.stages.transfers import normalise_transfers
from tests.conftest import SHIPPED_SAMPLE, build, write_log

ITEM = {"documented_in": "Iraq", "site": "Mosul", "quantity": "1"}
ITEMS = [
    # lot spelt three ways: all the lot of PG9 (shipped 2014-10-06)
    {"record_id": "R-1", "documented_on": "2016-01-10", "category": "rocket", "model": "PG-9",
     "lot_number": "№ 12-14-451", "quantity": "2"},
    {"record_id": "R-2", "documented_on": "2016-01-11", "category": "rocket", "model": "PG-9",
     "lot_number": "12 14 451"},
    {"record_id": "R-3", "documented_on": "2016-01-12", "category": "rocket", "model": "PG-9",
     "lot_number": "12/14/451"},
    # near misses: another lot; another model of the same lot; documented before the shipment
    {"record_id": "R-4", "documented_on": "2016-01-13", "category": "rocket", "model": "PG-9",
     "lot_number": "12-14-452"},
    {"record_id": "R-5", "documented_on": "2016-01-14", "category": "rocket", "model": "OG-9",
     "lot_number": "12-14-451"},
    {"record_id": "R-6", "documented_on": "2014-01-01", "category": "rocket", "model": "PG-9",
     "lot_number": "12-14-451"},
    # serials: listed (with a prefix), not listed, none; all of the transfer's lot
    {"record_id": "M-1", "documented_on": "2016-02-08", "category": "ATGW", "model": "9M111",
     "serial_number": "№ 0447-15", "lot_number": "07-15"},
    {"record_id": "M-2", "documented_on": "2016-02-09", "category": "ATGW", "model": "9M111",
     "serial_number": "0999-15", "lot_number": "07-15"},
    {"record_id": "M-3", "documented_on": "2016-02-10", "category": "ATGW", "model": "9M111",
     "lot_number": "07-15"},
    # one lot in two transfers: ambiguous after both shipments, one match between them
    {"record_id": "A-1", "documented_on": "2016-03-01", "category": "ATGW", "model": "9M113",
     "lot_number": "L-77"},
    {"record_id": "A-2", "documented_on": "2015-03-01", "category": "ATGW", "model": "9M113",
     "lot_number": "L-77"},
    # its serial is listed by one transfer, its lot by another: the serial match wins
    {"record_id": "S-1", "documented_on": "2016-05-01", "category": "ATGW", "model": "9M14",
     "serial_number": "777", "lot_number": "Z-1"},
]
TRANSFER = {"quantity": "1", "retransfer_clause": "yes"}
TRANSFERS_OK = [
    {"transfer_id": "PG9", "exporter": "Romania", "importer": "USA",
     "end_user": "US military & <allies>", "shipped_on": "06/10/2014", "model": "PG-9",
     "lot_number": "12-14-451", "quantity": "9,252", "retransfer_clause": "Yes"},
    *[{"transfer_id": "ATGM", "exporter": "Bulgaria", "importer": "United States",
       "end_user": "US Army", "shipped_on": "2015-12-11", "model": "9M111",
       "lot_number": "07-15", "serial_number": serial} for serial in ("0445-15", "0447-15", "")],
    {"transfer_id": "T-A", "exporter": "Serbia", "importer": "Saudi Arabia",
     "end_user": "Land forces", "shipped_on": "2015-01-01", "model": "9M113",
     "lot_number": "L77", "quantity": "10", "retransfer_clause": "no"},
    {"transfer_id": "T-B", "exporter": "USSR", "importer": "Syria", "end_user": "Army",
     "shipped_on": "2015-06-01", "model": "9M113", "lot_number": "L-77", "quantity": "5"},
    *[{"transfer_id": transfer_id, "exporter": "Bulgaria", "importer": "Iraq",
       "end_user": "Army", "shipped_on": "2015-01-01", "model": "9M14", "lot_number": "Z-1",
       "serial_number": serial} for transfer_id, serial in (("SER", "777"), ("LOT", ""))],
]
BAD = {"exporter": "Romania", "importer": "USA", "end_user": "Army", "shipped_on": "2015-01-01",
       "model": "PG-9", "lot_number": "99"}
TRANSFERS_BAD = [
    {"transfer_id": "X-1", **BAD, "shipped_on": "31/02/2015"},
    {"transfer_id": "X-2", **BAD, "exporter": "Narnia"},
    {"transfer_id": "X-3", **BAD, "end_user": ""},
    {"transfer_id": "X-4", **BAD, "retransfer_clause": "maybe"},
    {"transfer_id": "X-5", **BAD, "shipped_on": "2099-01-01"},
    {"transfer_id": "X-6", **BAD},
    {"transfer_id": "X-6", **BAD, "shipped_on": "2015-01-02"},
]
EXPECTED_REASONS = {"X-1": ["unparseable_date"], "X-2": ["unknown_country"],
                    "X-3": ["missing_required_field"], "X-4": ["invalid_retransfer_clause"],
                    "X-5": ["future_date"], "X-6": ["conflicting_transfer"]}


def _raw_folder(raw: Path) -> Path:
    write_log(raw / "items" / "team" / "log.csv", [{**ITEM, **row} for row in ITEMS])
    write_log(raw / "transfers" / "good.csv", [{**TRANSFER, **row} for row in TRANSFERS_OK])
    write_log(raw / "transfers" / "bad.csv", [{**TRANSFER, **row} for row in TRANSFERS_BAD])
    return raw


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("diversion")
    return build(_raw_folder(root / "raw"), root)


@pytest.fixture(scope="module")
def chains(built: tuple[Path, Path]) -> dict[str, dict]:
    with duckdb.connect(str(built[0]), read_only=True) as con:
        rows = con.sql("SELECT * FROM fig_diversion_chains").pl().to_dicts()
    return {r["record_id"]: r for r in rows}


@pytest.fixture(scope="module")
def issues(built: tuple[Path, Path]) -> dict[str, dict]:
    with duckdb.connect(str(built[0]), read_only=True) as con:
        rows = con.sql("SELECT * FROM diversion_issues").pl().to_dicts()
    return {r["record_id"]: r for r in rows}


def test_lot_spellings_match_one_lot_and_a_near_miss_does_not(chains: dict[str, dict]) -> None:
    for record in ("R-1", "R-2", "R-3"):
        assert chains[record]["transfer_id"] == "PG9"
        assert chains[record]["lot_number"] == "12-14-451"
    assert "R-4" not in chains


def test_a_different_model_of_the_same_lot_does_not_match(chains, issues) -> None:
    assert "R-5" not in chains and "R-5" not in issues


def test_an_item_documented_before_the_shipment_is_reported_not_published(chains,
                                                                           issues) -> None:
    assert "R-6" not in chains
    assert issues["R-6"]["issue"] == "documented_before_shipment"
    assert issues["R-6"]["transfer_ids"] == "PG9"


def test_chain_columns_and_day_count(chains: dict[str, dict]) -> None:
    chain = chains["R-1"]
    assert chain["shipped_on"] == dt.date(2014, 10, 6)
    assert chain["documented_on"] == dt.date(2016, 1, 10)
    assert chain["days_to_recovery"] == (dt.date(2016, 1, 10) - dt.date(2014, 10, 6)).days
    assert (chain["exporter"], chain["importer"], chain["end_user"]) == (
        "Romania", "United States", "US military & <allies>")
    assert (chain["model"], chain["documented_in"], chain["retransfer_clause"]) == (
        "PG-9", "Iraq", "yes")


def test_a_listed_serial_matches_and_an_unlisted_one_does_not(chains, issues) -> None:
    assert chains["M-1"]["transfer_id"] == "ATGM"
    assert chains["M-1"]["days_to_recovery"] == 59
    # the transfer lists serials: an item of its lot is not matched by lot alone
    for record in ("M-2", "M-3"):
        assert record not in chains and record not in issues


def test_a_serial_match_wins_over_a_lot_match(chains, issues) -> None:
    assert chains["S-1"]["transfer_id"] == "SER"
    assert "S-1" not in issues


def test_an_item_matching_two_transfers_is_ambiguous_not_published(chains, issues) -> None:
    assert "A-1" not in chains
    assert issues["A-1"]["issue"] == "ambiguous"
    assert issues["A-1"]["transfer_ids"] == "T-A, T-B"
    # between the two shipments only the first can be its source
    assert chains["A-2"]["transfer_id"] == "T-A"
    assert chains["A-2"]["retransfer_clause"] == "no"
    assert chains["A-2"]["exporter"] == "Serbia"


def test_figure_is_sorted_by_shipment_then_recovery(built: tuple[Path, Path]) -> None:
    with duckdb.connect(str(built[0]), read_only=True) as con:
        rows = con.sql("SELECT shipped_on, transfer_id, documented_on, record_id "
                       "FROM fig_diversion_chains").fetchall()
    assert rows == sorted(rows)
    assert [r[3] for r in rows] == ["R-1", "R-2", "R-3", "S-1", "A-2", "M-1"]


def test_bad_transfer_rows_are_quarantined_with_reasons(built: tuple[Path, Path]) -> None:
    with duckdb.connect(str(built[0]), read_only=True) as con:
        quarantined = con.sql("SELECT record_id, reasons, source_file, source_line, dataset "
                              "FROM quarantine WHERE dataset = 'transfers'").fetchall()
        transfer_ids = {r[0] for r in con.sql("SELECT transfer_id FROM transfers").fetchall()}
    assert {r[0]: r[1] for r in quarantined} == EXPECTED_REASONS
    assert {r[2] for r in quarantined} == {"transfers/bad.csv"}
    assert sorted(r[3] for r in quarantined) == list(range(2, 2 + len(TRANSFERS_BAD)))
    assert transfer_ids == {"PG9", "ATGM", "T-A", "T-B", "SER", "LOT"}


def test_every_row_is_in_exactly_one_place(built: tuple[Path, Path]) -> None:
    with duckdb.connect(str(built[0]), read_only=True) as con:
        def count(query: str) -> int:
            return con.sql(query).fetchall()[0][0]

        rows_in = count("SELECT sum(rows_read) FROM source_files")
        placed = count("""SELECT (SELECT count(*) FROM items) + (SELECT count(*) FROM transfers)
                          + (SELECT count(*) FROM quarantine)
                          + (SELECT count(*) FROM record_versions)
                          + (SELECT count(*) FROM dedup_decisions)""")
        numbers = count("""SELECT count(DISTINCT row_number) FROM (
            SELECT row_number FROM items UNION ALL SELECT row_number FROM transfers
            UNION ALL SELECT row_number FROM quarantine)""")
        transfer_files = con.sql("SELECT path, status, rows_read FROM source_files "
                                 "WHERE dataset = 'transfers' ORDER BY path").fetchall()
    assert rows_in == len(ITEMS) + len(TRANSFERS_OK) + len(TRANSFERS_BAD) == placed == numbers
    assert transfer_files == [("transfers/bad.csv", "ok", len(TRANSFERS_BAD)),
                              ("transfers/good.csv", "ok", len(TRANSFERS_OK))]


def test_report_tells_each_chain_escaped(built: tuple[Path, Path]) -> None:
    html = (built[1] / "index.html").read_text()
    assert ("PG-9 of lot 12-14-451 (transfer PG9), shipped by Romania to the United States "
            "(end user: US military &amp; &lt;allies&gt;) on 6 October 2014 under a "
            "no-retransfer clause: 3 records (4 units) were recovered in Iraq between "
            "10 January 2016 and 12 January 2016, 461 to 463 days later.") in html
    assert "<allies>" not in html
    assert ("9M111 of lot 07-15 (transfer ATGM), shipped by Bulgaria to the United States "
            "(end user: US Army) on 11 December 2015 under a no-retransfer clause, was "
            "recovered in Iraq at Mosul on 8 February 2016, 59 days later (record M-1, serial "
            "№ 0447-15, 1 unit).") in html
    assert "with no retransfer clause" in html  # T-A, for A-2
    assert "documented_before_shipment" in html and "ambiguous" in html
    assert (built[1] / "charts" / "diversion_chains.svg").read_text().startswith("<svg")
    statistics = json.loads((built[1] / "statistics.json").read_text())
    assert len(statistics["figures"]["diversion_chains"]) == 6


def test_transfer_headers_match_by_alias(tmp_path: Path, reference) -> None:
    path = tmp_path / "transfers" / "licences.csv"
    path.parent.mkdir()
    path.write_text("Licence No;Exporting country;Recipient;End user;Shipment date;Designation;"
                    "Batch;Qty;Retransfer;S/N\n"
                    "L-1;RO;U.S.;Army;6 Oct 2014;PG9;No. 5;3;NO;\n", encoding="utf-8")
    rows, reads = read_dataset(tmp_path, discover_raw_files(tmp_path), TRANSFERS)
    frame = normalise_transfers(rows, reference, dt.date(2026, 1, 1), first_row_number=10)
    row = frame.row(0, named=True)
    assert reads["status"].to_list() == ["ok"]
    assert (row["row_number"], row["transfer_id"], row["exporter_name"], row["importer_name"],
            row["shipped_on_parsed"], row["model_key"], row["lot_key"], row["quantity_value"],
            row["retransfer_value"], row["reasons"]) == (
        10, "L-1", "Romania", "United States", dt.datetime(2014, 10, 6), "PG9", "5", 3, False,
        [])


def test_a_transfer_file_without_a_required_column_is_quarantined(tmp_path: Path,
                                                                  reference) -> None:
    write_log(tmp_path / "transfers" / "t.csv", [{"transfer_id": "T", "exporter": "Romania",
                                                  "importer": "USA", "shipped_on": "2015-01-01",
                                                  "model": "PG-9", "lot_number": "1",
                                                  "quantity": "1", "retransfer_clause": "yes"}])
    rows, reads = read_dataset(tmp_path, discover_raw_files(tmp_path), TRANSFERS)
    frame = normalise_transfers(rows, reference, dt.date(2026, 1, 1), first_row_number=0)
    assert reads["status"].to_list() == ["missing_columns"]
    assert frame["reasons"].to_list() == [["missing_required_column"]]


def test_no_transfer_records_give_an_empty_figure(dirty_build: Path) -> None:
    with duckdb.connect(str(dirty_build / "armtrace.duckdb"), read_only=True) as con:
        assert con.sql("SELECT count(*) FROM transfers").fetchall() == [(0,)]
        assert con.sql("SELECT count(*) FROM fig_diversion_chains").fetchall() == [(0,)]


# --- the shipped sample: the two published cases ----------------------------------------------

def _sample_transfers() -> list[dict[str, str]]:
    rows = []
    for path in sorted((SHIPPED_SAMPLE / "transfers").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            rows += list(csv.DictReader(handle))
    return rows


def _lot(text: str | None) -> str:
    """The lot as the contract compares it, for the spellings the sample writes (`No. `, `№ `,
    spaces and hyphens)."""
    upper = (text or "").upper().removeprefix("№").removeprefix("NO.")
    return "".join(c for c in upper if c.isalnum())


def test_sample_pg9_lot_chains(sample_build: tuple[Path, Path]) -> None:
    (pg9,) = [t for t in _sample_transfers() if t["model"] == "PG-9"]
    shipped = dt.date.fromisoformat(pg9["shipped_on"])
    with duckdb.connect(str(sample_build[0]), read_only=True) as con:
        items = con.sql("SELECT record_id, model, lot_number, documented_on FROM items").pl()
        chains = con.sql("SELECT * FROM fig_diversion_chains WHERE model = 'PG-9'").pl()
    lot = pl.col("lot_number").map_elements(_lot, return_dtype=pl.String)
    expected = items.filter((pl.col("model") == "PG-9") & (lot == _lot(pg9["lot_number"]))
                            & (pl.col("documented_on") >= shipped))
    assert expected.height >= 1
    assert sorted(chains["record_id"]) == sorted(expected["record_id"])
    assert set(chains["transfer_id"]) == {pg9["transfer_id"]}
    assert set(chains["shipped_on"]) == {dt.date(2014, 10, 6)}
    for chain in chains.iter_rows(named=True):
        assert chain["days_to_recovery"] == (chain["documented_on"] - shipped).days
        assert (chain["exporter"], chain["importer"], chain["retransfer_clause"]) == (
            "Romania", "United States", "yes")


def test_sample_missile_captured_59_days_after_export(sample_build: tuple[Path, Path]) -> None:
    listed = {t["serial_number"] for t in _sample_transfers() if t["model"] == "9M111"}
    with duckdb.connect(str(sample_build[0]), read_only=True) as con:
        chains = con.sql("SELECT * FROM fig_diversion_chains WHERE model = '9M111'").pl()
        serials = con.sql("SELECT serial_number FROM items WHERE record_id IN "
                          "(SELECT record_id FROM fig_diversion_chains WHERE model = '9M111')"
                          ).fetchall()
    (chain,) = chains.to_dicts()
    assert (chain["shipped_on"], chain["documented_on"], chain["days_to_recovery"]) == (
        dt.date(2015, 12, 11), dt.date(2016, 2, 8), 59)
    assert (chain["exporter"], chain["end_user"]) == ("Bulgaria", "US Army")
    assert _lot(serials[0][0]) in {_lot(s) for s in listed}
    html = (sample_build[1] / "index.html").read_text()
    assert "on 8 February 2016, 59 days later" in html


def test_input_fingerprint_accounts_for_every_row_of_every_file(built: tuple[Path, Path]) -> None:
    files = json.loads((built[1] / "statistics.json").read_text())["input"]["files"]
    transfer_files = [f for f in files if f["path"].startswith("transfers/")]
    assert [f["transfers"] for f in transfer_files] == [0, len(TRANSFERS_OK)]
    for f in files:
        assert f["rows_in"] == (f["items"] + f["superseded"] + f["merged"] + f["quarantined"]
                                + f["transfers"]), f["path"]
