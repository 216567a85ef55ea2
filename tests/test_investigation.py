# ruff: noqa: RUF001  (look-alike and fullwidth characters are what these tests are about)
"""The investigator's questions on a small raw folder written for them: non-state producers,
lots on several fronts, IED components by manufacturer, and `trace` across every table, with
the near misses of each definition. One build; every expectation below follows from the rows
as written here and the contracts, not from a run."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from pipeline.cli import main
from pipeline.lookup.trace import trace
from tests.conftest import build, write_log

IRAQ = {"documented_in": "Iraq"}
SYRIA = {"documented_in": "Syria"}


def row(record_id: str, date: str, site: str, category: str, **cells: str) -> dict[str, str]:
    return {"record_id": record_id, "documented_on": date, "site": site, "category": category,
            **cells}


TEAM_A_2016 = [
    # the group's own production, in the spellings field teams use
    row("N-1", "2016-03-01", "Mosul", "mortar round", model="IS 82mm mortar",
        country_of_manufacture="Islamic State", lot_number="IS-82-0415", quantity="20", **IRAQ),
    row("N-2", "2016-03-02", "Tal Afar", "mortar round", model="IS 82mm mortar",
        country_of_manufacture="ISIS", lot_number="IS 82 0415", quantity="10", **IRAQ),
    row("N-3", "2016-03-03", "Mosul", "ied component", country_of_manufacture="Daesh",
        quantity="3", **IRAQ),
    row("N-4", "2016-03-04", "Mosul", "precursor", country_of_manufacture="IS-made", **IRAQ),
    row("N-5", "2016-03-05", "Mosul", "switch", country_of_manufacture=" I.S. Production ",
        **IRAQ),
    row("N-6", "2016-03-06", "Mosul", "weapon", model="improvised launcher",
        country_of_manufacture="improvised", serial_number="IMP-1", **IRAQ),
    # rule 2 on a producer: N-8 is N-7 documented again (another spelling of the producer);
    # N-9 (another producer) and N-10 (unknown maker) are other weapons
    row("N-7", "2016-03-07", "Mosul", "weapon", model="IS sniper rifle",
        country_of_manufacture="isil", serial_number="IS-7", **IRAQ),
    row("N-8", "2016-05-07", "Hit", "weapon", model="IS sniper rifle",
        country_of_manufacture="Daesh", serial_number="No. IS 7", **IRAQ),
    row("N-9", "2016-03-09", "Mosul", "weapon", model="IS sniper rifle",
        country_of_manufacture="improvised", serial_number="IS7", **IRAQ),
    row("N-10", "2016-03-10", "Mosul", "weapon", model="IS sniper rifle",
        country_of_manufacture="", serial_number="IS 7", **IRAQ),
    # `IS` alone is not Islamic State; Iceland is a state
    row("N-11", "2016-03-11", "Mosul", "weapon", model="AKM", country_of_manufacture="IS",
        serial_number="5", **IRAQ),
    row("N-12", "2016-03-12", "Mosul", "weapon", model="AKM", country_of_manufacture="Iceland",
        serial_number="6", **IRAQ),
    # lots: one site only is no spread, however many records
    row("L-1", "2016-04-01", "Mosul", "grenade", model="RGD-5", country_of_manufacture="Russia",
        lot_number="L-7", quantity="10", **IRAQ),
    row("L-2", "2016-04-02", " mosul ", "grenade", model="RGD-5",
        country_of_manufacture="Russia", lot_number="L 7", quantity="10", **IRAQ),
    # a lot in two countries, its two spellings once each: the first in path order is shown
    row("L-3", "2016-04-03", "Mosul", "grenade", model="RGD-5", country_of_manufacture="Russia",
        lot_number="№ 9-1", quantity="10", **IRAQ),
    # the same lot key on another model, another origin, unknown origin: three other lots
    row("L-4", "2016-04-04", "Tal Afar", "grenade", model="F-1",
        country_of_manufacture="Russia", lot_number="9-1", quantity="5", **IRAQ),
    row("L-5", "2016-04-05", "Sinjar", "grenade", model="F-1", country_of_manufacture="USSR",
        lot_number="9-1", quantity="5", **IRAQ),
    row("L-6", "2016-04-06", "Sinjar", "grenade", model="RGD-5",
        country_of_manufacture="Bulgaria", lot_number="9-1", quantity="5", **IRAQ),
    row("L-7", "2016-04-07", "Tal Afar", "grenade", model="RGD-5",
        country_of_manufacture="Bulgaria", lot_number="9-1", quantity="5", **IRAQ),
    row("L-8", "2016-04-08", "Sinjar", "grenade", model="RGD-5", country_of_manufacture="",
        lot_number="9-1", quantity="5", **IRAQ),
    row("L-9", "2016-04-09", "Hit", "grenade", model="RGD-5", country_of_manufacture="n/a",
        lot_number="9-1", quantity="5", **IRAQ),
    # no model, or not ammunition: no lot at all
    row("L-10", "2016-04-10", "Sinjar", "cartridge", country_of_manufacture="Russia",
        lot_number="9-1", quantity="50", **IRAQ),
    row("L-11", "2016-04-11", "Hit", "cartridge", country_of_manufacture="Russia",
        lot_number="9-1", quantity="50", **IRAQ),
    row("L-12", "2016-04-12", "Sinjar", "weapon", model="RGD-5", country_of_manufacture="Russia",
        lot_number="9-1", serial_number="W-1", **IRAQ),
    row("L-13", "2016-04-13", "Hit", "weapon", model="RGD-5", country_of_manufacture="Russia",
        lot_number="9-1", serial_number="W-2", **IRAQ),
    # a lot whose later spelling is the more frequent one
    row("L-14", "2016-04-14", "Mosul", "grenade", model="RGD-5",
        country_of_manufacture="Russia", lot_number="5-5", quantity="10", **IRAQ),
    # IED components: one maker in three spellings (the most frequent shown), one in two
    # (a tie: the first in path and line order), a quantity of ten that is one item
    row("C-1", "2016-05-01", "Mosul", "detonator", manufacturer="Acme  Ltd",
        country_of_manufacture="Turkey", quantity="10", **IRAQ),
    row("C-2", "2016-05-02", "Mosul", "fuze", manufacturer="ACME LTD",
        country_of_manufacture="Turkey", **IRAQ),
    row("C-3", "2016-05-03", "Mosul", "switch", manufacturer="Borg GmbH",
        country_of_manufacture="Germany", **IRAQ),
    row("C-4", "2016-05-04", "Mosul", "cable", manufacturer="n/a",
        country_of_manufacture="China", **IRAQ),
    row("C-5", "2016-05-05", "Mosul", "electronics", **IRAQ),
    # a component of a lot its maker sold to a distributor 30 days earlier
    row("C-6", "2016-04-01", "Hit", "detonator", model="ED-8", lot_number="ED-1",
        manufacturer="Acme Ltd", country_of_manufacture="Turkey", **IRAQ),
    # one weapon, seen in every table (trace): kept here, then exported again in 2017
    row("T-1", "2016-03-10", "Mosul", "weapon", model="AKM", country_of_manufacture="Russia",
        serial_number="AK-901", notes="first export", **IRAQ),
]
TEAM_A_2017 = [
    row("T-1", "2016-03-10", "Mosul", "weapon", model="AKM", country_of_manufacture="Russia",
        serial_number="AK 901", notes="serial re-read", **IRAQ),
]
ODD_IDS = {"ＴＲ－５": "TR-5", "Т\u200b-6": "T-6", "ΤΡ-7": "TP-7"}
TEAM_B_2016 = [
    row("L-20", "2016-06-01", "Raqqa", "grenade", model="RGD-5",
        country_of_manufacture="Russian Federation", lot_number="9/1", quantity="10", **SYRIA),
    row("L-21", "2016-06-02", "Raqqa", "grenade", model="RGD-5", country_of_manufacture="Russia",
        lot_number="5.5", quantity="10", **SYRIA),
    row("L-22", "2016-06-03", "Tabqa", "grenade", model="RGD-5", country_of_manufacture="Russia",
        lot_number="5.5", quantity="10", **SYRIA),
    row("C-10", "2016-06-04", "Raqqa", "fuze", manufacturer="ACME LTD",
        country_of_manufacture="Turkey", **SYRIA),
    row("C-11", "2016-06-05", "Raqqa", "fuze", manufacturer="acme ltd",
        country_of_manufacture="Turkey", **SYRIA),
    row("C-12", "2016-06-06", "Raqqa", "switch", manufacturer="BORG  GMBH",
        country_of_manufacture="Germany", **SYRIA),
    # T-1 documented again by another team (Cyrillic letters, the historic state), and a
    # quarantined record of it (a date in the future) in fullwidth characters
    row("T-9", "2016-08-01", "Raqqa", "weapon", model="AKM", country_of_manufacture="USSR",
        serial_number="№ АК 901", **SYRIA),
    row("T-10", "2099-01-01", "Raqqa", "weapon", model="AKM", country_of_manufacture="Russia",
        serial_number="ＡＫ－９０１", **SYRIA),
    # record ids typed in fullwidth, with a Cyrillic letter and a zero-width space, in Greek
    *[row(record_id, "2016-06-10", "Raqqa", "weapon", model="AKM",
          country_of_manufacture="Russia", serial_number=f"R-{number}", **SYRIA)
      for number, record_id in enumerate(ODD_IDS)],
]
TRANSFERS = [
    {"transfer_id": "T-AKM", "exporter": "Russia", "importer": "Iraq",
     "end_user": "Iraqi army", "shipped_on": "2015-06-01", "model": "AKM",
     "lot_number": "AK-L1", "quantity": "1", "retransfer_clause": "yes",
     "serial_number": "AK-901"},
    {"transfer_id": "TR-ED", "exporter": "Turkey", "importer": "Turkey",
     "end_user": "Distributor X", "shipped_on": "2016-03-02", "model": "ED-8",
     "lot_number": "ED 1", "quantity": "1000", "retransfer_clause": "no", "serial_number": ""},
]
SPELLINGS_OF_AK_901 = ("AK-901", "AK 901", "№ АК 901", "ＡＫ－９０１", "s/n ak.901")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("investigation")
    raw = root / "raw"
    write_log(raw / "items" / "team-a" / "2016-export.csv", TEAM_A_2016)
    write_log(raw / "items" / "team-a" / "2017-export.csv", TEAM_A_2017)
    write_log(raw / "items" / "team-b" / "2016-export.csv", TEAM_B_2016)
    write_log(raw / "transfers" / "transfers.csv", TRANSFERS)
    return build(raw, root)


@pytest.fixture(scope="module")
def con(built: tuple[Path, Path]) -> duckdb.DuckDBPyConnection:
    with duckdb.connect(str(built[0]), read_only=True) as connection:
        yield connection


def rows(con: duckdb.DuckDBPyConnection, query: str) -> list[dict]:
    return con.sql(query).pl().to_dicts()


def item(con: duckdb.DuckDBPyConnection, record_id: str) -> dict:
    (found,) = rows(con, f"SELECT * FROM items WHERE record_id = '{record_id}'")
    return found


# --- non-state producers ---------------------------------------------------------------------

@pytest.mark.parametrize(("record_id", "producer"), [
    ("N-1", "Islamic State"), ("N-2", "Islamic State"), ("N-3", "Islamic State"),
    ("N-4", "Islamic State"), ("N-5", "Islamic State"), ("N-7", "Islamic State"),
    ("N-6", "Unnamed improvised producer"), ("N-9", "Unnamed improvised producer")])
def test_a_producer_is_kept_with_no_state_of_manufacture(con, record_id: str,
                                                         producer: str) -> None:
    found = item(con, record_id)
    assert (found["producer"], found["origin"], found["origin_code"]) == (producer, None, None)


def test_is_alone_is_not_islamic_state_and_iceland_is_a_state(con) -> None:
    assert con.sql("SELECT count(*) FROM items WHERE record_id = 'N-11' AND producer IS NOT NULL"
                   ).fetchall() == [(0,)]
    iceland = item(con, "N-12")
    assert (iceland["origin"], iceland["producer"]) == ("Iceland", None)


def test_is_alone_is_quarantined_as_ambiguous(con) -> None:
    assert rows(con, "SELECT reasons FROM quarantine WHERE record_id = 'N-11'") == [
        {"reasons": ["ambiguous_country"]}]


def test_a_re_documented_item_matches_on_the_same_producer_only(con) -> None:
    merged = rows(con, "SELECT rule, dropped_record_id, kept_record_id FROM dedup_decisions")
    assert merged == [{"rule": "re_documented_item", "dropped_record_id": "N-8",
                       "kept_record_id": "N-7"},
                      {"rule": "re_documented_item", "dropped_record_id": "T-9",
                       "kept_record_id": "T-1"}]
    for other in ("N-9", "N-10"):  # another producer; an unknown maker
        assert item(con, other)["serial_key"] == "IS7"


def test_producers_have_their_own_rows_outside_the_origin_shares(con) -> None:
    weapons = {r["country"]: r for r in rows(
        con, "SELECT * FROM fig_weapons_by_origin WHERE documented_in = 'Iraq'")}
    # N-7 (N-8 merged into it); N-6 and N-9; N-10; the states: N-12, T-1 and the two weapons
    # of L-12/L-13 (N-11, `IS`, is quarantined as ambiguous)
    assert {k: v["weapons"] for k, v in weapons.items()} == {
        "Islamic State (non-state)": 1, "Unnamed improvised producer (non-state)": 2,
        "Unknown": 1, "Iceland": 1, "Russia": 3}
    for name in ("Islamic State (non-state)", "Unnamed improvised producer (non-state)",
                 "Unknown"):
        assert (weapons[name]["share"], weapons[name]["ci_low"]) == (None, None)
    assert weapons["Russia"]["share"] == pytest.approx(3 / 4)  # known origin only
    # the states, then the producers (largest first), then Unknown
    assert list(weapons)[-3:] == ["Unnamed improvised producer (non-state)",
                                  "Islamic State (non-state)", "Unknown"]
    eu = rows(con, "SELECT * FROM fig_eu_share WHERE item_kind = 'weapons' "
                   "AND documented_in = 'Iraq'")
    assert eu[0]["known_origin_count"] == 4


def test_non_state_production_counts_and_shares(con) -> None:
    got = {(r["item_kind"], r["documented_in"], r["producer"]): r for r in rows(
        con, "SELECT * FROM fig_non_state_production")}
    assert set(got) == {(kind, group, producer) for group in ("Iraq", "All")
                        for kind, producer in (("weapons", "Islamic State"),
                                               ("weapons", "Unnamed improvised producer"),
                                               ("ammunition", "Islamic State"),
                                               ("ied_materiel", "Islamic State"))}
    weapons = got[("weapons", "Iraq", "Islamic State")]
    # Iraq's weapons: N-6, N-7, N-9, N-10, N-12, L-12, L-13, T-1 (eight, every origin)
    assert (weapons["count"], weapons["n"], weapons["effective_n"]) == (1, 8, 8)
    assert weapons["share"] == pytest.approx(1 / 8) and weapons["low_reliability"]
    ammunition = got[("ammunition", "All", "Islamic State")]
    # every ammunition record, N-1 and N-2 (the group's) first
    units = [20, 10, 10, 10, 10, 5, 5, 5, 5, 5, 5, 50, 50, 10, 10, 10, 10]
    made = [1, 1] + [0] * 15
    n, p = len(units), 30 / sum(units)
    assert (ammunition["count"], ammunition["n"]) == (30, n)
    assert ammunition["share"] == pytest.approx(p)
    # effective records: the smaller of Kish's and p(1 - p) over the linearised variance
    kish = sum(units) ** 2 / sum(u * u for u in units)
    variance = n / (n - 1) * sum((m * y - p * m) ** 2 for m, y in zip(units, made,
                                                                     strict=True)) / sum(units) ** 2
    assert ammunition["effective_n"] == pytest.approx(min(kish, p * (1 - p) / variance, n))
    ied = got[("ied_materiel", "All", "Islamic State")]
    # N-3 (three of them: one item), N-4, N-5 of the twelve items of IED materiel
    assert (ied["count"], ied["n"], ied["share"]) == (3, 12, 0.25)


# --- one lot, several fronts -----------------------------------------------------------------

def test_lot_spread_holds_lots_at_two_sites_or_more_and_nothing_else(con) -> None:
    lots = rows(con, "SELECT model, origin, lot_key, lot_number, records, units, sites, "
                     "countries, days_between FROM fig_lot_spread")
    assert lots == [
        # most sites first, then most units, then model, lot key and origin; the RGD-5s of
        # Bulgaria (L-6, L-7) and of unknown origin (L-8, L-9) are lots of their own, as are
        # the F-1s (L-4, L-5); L-1/L-2 are at one site; L-10..L-13 are no lots
        {"model": "RGD-5", "origin": "Russia", "lot_key": "55", "lot_number": "5.5",
         "records": 3, "units": 30, "sites": 3, "countries": 2, "days_between": 50},
        {"model": "IS 82mm mortar", "origin": "Islamic State (non-state)", "lot_key": "IS820415",
         "lot_number": "IS-82-0415", "records": 2, "units": 30, "sites": 2, "countries": 1,
         "days_between": 1},
        {"model": "RGD-5", "origin": "Russia", "lot_key": "91", "lot_number": "№ 9-1",
         "records": 2, "units": 20, "sites": 2, "countries": 2, "days_between": 59},
        {"model": "F-1", "origin": "Russia", "lot_key": "91", "lot_number": "9-1",
         "records": 2, "units": 10, "sites": 2, "countries": 1, "days_between": 1},
        {"model": "RGD-5", "origin": "Bulgaria", "lot_key": "91", "lot_number": "9-1",
         "records": 2, "units": 10, "sites": 2, "countries": 1, "days_between": 1},
        {"model": "RGD-5", "origin": "Unknown", "lot_key": "91", "lot_number": "9-1",
         "records": 2, "units": 10, "sites": 2, "countries": 1, "days_between": 1},
    ]


# --- IED components --------------------------------------------------------------------------

def test_ied_components_by_manufacturer_and_origin(con) -> None:
    got = {(r["documented_in"], r["origin"], r["manufacturer"]): r["items"]
           for r in rows(con, "SELECT * FROM fig_ied_components")}
    assert got == {
        ("Iraq", "Türkiye", "ACME LTD"): 3, ("Iraq", "Germany", "Borg GmbH"): 1,
        ("Iraq", "China", None): 1, ("Iraq", "Unknown", None): 1,
        ("Iraq", "Islamic State (non-state)", None): 3,
        ("Syria", "Türkiye", "ACME LTD"): 2, ("Syria", "Germany", "Borg GmbH"): 1,
        ("All", "Türkiye", "ACME LTD"): 5, ("All", "Germany", "Borg GmbH"): 2,
        ("All", "China", None): 1, ("All", "Unknown", None): 1,
        ("All", "Islamic State (non-state)", None): 3}
    summary = rows(con, "SELECT documented_in, ied_items FROM fig_documentation_summary")
    assert summary == [{"documented_in": "Iraq", "ied_items": 9},
                       {"documented_in": "Syria", "ied_items": 3},
                       {"documented_in": "All", "ied_items": 12}]


def test_a_commercial_supply_is_a_diversion_chain(con) -> None:
    chain = rows(con, "SELECT * FROM fig_diversion_chains WHERE record_id = 'C-6'")
    assert [(c["transfer_id"], c["end_user"], c["days_to_recovery"], c["retransfer_clause"])
            for c in chain] == [("TR-ED", "Distributor X", 30, "no")]


def test_the_report_tells_the_investigation(built: tuple[Path, Path]) -> None:
    html = (built[1] / "index.html").read_text()
    for section in ("own-production", "lot-spread", "ied-components"):
        assert f'id="{section}"' in html
    assert "7 components traced to 2 manufacturers in 2 countries" in html
    assert "Islamic State made 3 items of IED materiel" in html
    assert ("Lot IS-82-0415 of IS 82mm mortar (made by Islamic State, a non-state producer): "
            "30 units of ammunition in 2 records at 2 sites in Iraq") in html
    assert "Lot 5.5 of RGD-5 (made in Russia): 30 units of ammunition in 3 records at 3 sites "\
           "in Iraq and Syria" in html
    assert "ED-8 of lot ED 1, made by ACME LTD, supplied by Türkiye" in html
    assert "Components reached the group as little as 30 days after their lawful supply" in html
    charts = built[1] / "charts"
    for figure in ("non_state_production", "lot_spread", "ied_components"):
        assert (charts / f"{figure}.svg").read_text().lstrip().startswith("<svg")


# --- trace -----------------------------------------------------------------------------------

def sightings(found: list[dict]) -> set[tuple]:
    return {(f["sighting"], f["team"], f["source_file"], f["source_line"]) for f in found}


@pytest.mark.parametrize("spelling", SPELLINGS_OF_AK_901)
def test_trace_finds_every_sighting_whatever_the_spelling(con, spelling: str) -> None:
    found = trace(con, spelling).to_dicts()
    assert sightings(found) == {
        ("transfer", None, "transfers/transfers.csv", 2),
        ("item", "team-a", "items/team-a/2017-export.csv", 2),
        ("superseded version", "team-a", "items/team-a/2016-export.csv", 34),
        ("merged record", "team-b", "items/team-b/2016-export.csv", 8),
        ("quarantined row", "team-b", "items/team-b/2016-export.csv", 9)}
    assert {f["match"] for f in found} == {"exact"}
    by_kind = {f["sighting"]: f for f in found}
    assert by_kind["item"]["days_from_shipment"] == 283  # 2015-06-01 to 2016-03-10
    assert by_kind["merged record"]["days_from_shipment"] == 427
    assert (by_kind["merged record"]["site"], by_kind["merged record"]["origin"]) == (
        "Raqqa", "Russia")
    assert "future_date" in by_kind["quarantined row"]["detail"]
    assert "ＡＫ－９０１" in by_kind["quarantined row"]["cells"]
    assert by_kind["transfer"]["origin"] == "Russia"


def test_trace_of_a_lot_and_of_a_record_id(con) -> None:
    lot = trace(con, "ed.1").to_dicts()
    assert [(f["sighting"], f["record_id"], f["matched_on"], f["days_from_shipment"])
            for f in lot] == [("transfer", "TR-ED", "lot", None), ("item", "C-6", "lot", 30)]
    exact = trace(con, "T-1").to_dicts()
    assert {(f["sighting"], f["match"]) for f in exact} == {
        ("item", "exact"), ("superseded version", "exact")}
    widened = trace(con, "T-1", partial=True).to_dicts()
    assert {f["record_id"] for f in widened if f["match"] == "partial"} == {"T-10"}


@pytest.mark.parametrize(("written", "typed"), ODD_IDS.items())
def test_trace_finds_a_record_id_whatever_its_characters(con, written: str, typed: str) -> None:
    for text in (typed, written, f" {typed.lower()} "):
        found = trace(con, text).to_dicts()
        exact = [f for f in found if f["match"] == "exact"]
        if text == f" {typed.lower()} ":  # record ids keep their case: only partly the same
            assert exact == []
            continue
        assert [(f["record_id"], f["matched_on"]) for f in exact] == [(written, "record_id")]


def test_trace_falls_back_to_partial_matches_when_nothing_is_exact(con) -> None:
    found = trace(con, "82-04").to_dicts()
    assert {(f["record_id"], f["match"], f["matched_on"]) for f in found} == {
        ("N-1", "partial", "lot"), ("N-2", "partial", "lot")}


def test_trace_command_gives_the_sql_answer_and_its_exit_status(
        built: tuple[Path, Path], con, capsys: pytest.CaptureFixture[str]) -> None:
    curated = str(built[0].parent)
    for text in ("№ АК 901", "IS 82 0415", "T-1"):
        assert main(["trace", text, "--curated", curated, "--format", "json"]) == 0
        printed = json.loads(capsys.readouterr().out)
        expected = json.loads(trace(con, text).write_json())
        assert printed == expected and printed
    assert main(["trace", "ZZ-404", "--curated", curated]) == 1
    assert "0 sightings" in capsys.readouterr().err
    assert main(["trace", "1", "--curated", curated, "--partial", "--max-rows", "2",
                 "--format", "csv"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 3 and "more than --max-rows 2" in captured.err
    assert main(["trace", "9" * 1_001, "--curated", curated]) == 2
    assert "1,001 characters long" in capsys.readouterr().err
    assert main(["trace", "AK-901", "--curated", str(built[0].parent / "nowhere")]) == 2


# --- trace on the shipped sample: every spelling each team used ------------------------------

@pytest.mark.parametrize("lot_key", ["1214451", "IS820415"])
def test_trace_finds_a_lot_of_the_sample_in_every_spelling_its_teams_used(
        sample_build: tuple[Path, Path], lot_key: str) -> None:
    with duckdb.connect(str(sample_build[0]), read_only=True) as sample:
        spellings = sample.sql("""
            SELECT DISTINCT lot_number FROM items WHERE lot_key = ?
            UNION SELECT DISTINCT lot_number FROM transfers WHERE lot_key = ?
        """, params=[lot_key, lot_key]).fetchall()
        wanted = set(sample.sql("""
            SELECT source_file, source_line FROM items WHERE lot_key = ?
            UNION ALL SELECT source_file, source_line FROM transfers WHERE lot_key = ?
        """, params=[lot_key, lot_key]).fetchall())
        teams = {f.split("/")[1] for f, _ in wanted if f.startswith("items/")}
        assert len(spellings) >= 3 and len(teams) >= 2
        for (spelling,) in spellings:
            found = trace(sample, spelling)
            assert set(found.filter(found["sighting"].is_in(["item", "transfer"])).select(
                "source_file", "source_line").rows()) == wanted, spelling
            assert set(found["match"]) == {"exact"}
