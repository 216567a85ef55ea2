"""Vocabulary as data: header aliases, country spellings, unknown models and calibres.

A new team's logs either build correctly or say exactly what to add to which reference
file; nothing is taught by editing code. The country test set (tests/data/
country_spellings.csv) holds spellings from public datasets with the state each names.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipeline.cli import main
from pipeline.columns import ITEMS, TRANSFERS, HeaderAliasError, accepted_headers_page
from pipeline.paths import REPO_ROOT
from pipeline.reference import Reference
from pipeline.stages.discover import discover_raw_files
from pipeline.stages.item_logs import normalise_logs
from pipeline.stages.read import read_dataset
from tests.conftest import TODAY, no_corrections, write_log

SPELLINGS = Path(__file__).parent / "data" / "country_spellings.csv"
BASE = {"record_id": "R-1", "documented_on": "2016-11-03", "documented_in": "Iraq",
        "site": "Mosul", "category": "cartridge"}


def teachable_reference(tmp_path: Path) -> Path:
    folder = tmp_path / "reference"
    shutil.copytree(REPO_ROOT / "data" / "reference", folder)
    return folder


def add_line(path: Path, *cells: str) -> None:
    with path.open("a", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerow(cells)


def normalised(raw: Path, reference: Reference, tmp_path: Path) -> tuple[pl.DataFrame,
                                                                         pl.DataFrame]:
    parts, reads, _ = normalise_logs(raw, discover_raw_files(raw), no_corrections(raw),
                                     reference, dt.date(2026, 1, 1), tmp_path / "parts")
    return parts.scan().collect(), reads


# --- countries ---------------------------------------------------------------------------

def test_country_spellings_of_public_datasets_are_read_and_none_wrong(
        reference: Reference) -> None:
    present = dict(reference.countries.select("code", "present_code").rows())
    rows = list(csv.DictReader(SPELLINGS.open(encoding="utf-8")))
    assert len(rows) >= 300 and len({r["source"] for r in rows}) >= 6
    wrong, missed, states = [], [], 0
    for row in rows:
        found, expected = reference.country(row["spelling"]), row["expected"]
        if expected in ("region", "unknown", "ambiguous"):
            if found.code is not None:
                wrong.append((row["spelling"], found.code))
            if expected == "region":
                assert found.region, row
            if expected == "ambiguous":
                assert found.ambiguous, row
            continue
        states += 1
        if found.code is None:
            missed.append(row["spelling"])
        elif present.get(found.code, found.code) != present.get(expected, expected):
            wrong.append((row["spelling"], found.code))
    assert wrong == []
    assert 1 - len(missed) / states >= 0.97, missed


@pytest.mark.parametrize(("spelling", "candidates"), [
    ("Congo", ("COG", "COD")), ("CONGO ", ("COG", "COD")), ("Korea", ("KOR", "PRK")),
    ("IS", ("ISL", "Islamic State (an armed group)")), ("i.s.", ("ISL",)),
    ("Virgin Islands", ("VGB", "VIR")),
])
def test_an_ambiguous_spelling_names_its_candidates(reference: Reference, spelling: str,
                                                    candidates: tuple[str, ...]) -> None:
    found = reference.country(spelling)
    assert found.code is None
    assert set(candidates) <= set(found.candidates)


@pytest.mark.parametrize(("spelling", "code"), [
    # near misses of the ambiguous ones: each names one state
    ("Congo, Rep.", "COG"), ("Congo, Dem. Rep.", "COD"), ("DR Congo", "COD"),
    ("Korea, Rep.", "KOR"), ("Korea, Dem. People's Rep.", "PRK"), ("ISL", "ISL"),
    ("Iceland", "ISL"), ("Virgin Islands (UK)", "VGB"), ("Guam (US)", "GUM"),
    ("Hong Kong SAR, China", "HKG"), ("Taiwan, China", "TWN"), ("Republic of China", "TWN"),
    ("Former USSR", "SUN"), ("Germany, East", "DDR"), ("Serbia & Montenegro", "SCG"),
    ("Federal Republic of Yugoslavia", "YUG"), ("Zaire", "COD"), ("East Timor", "TLS"),
    ("Myanmar (Burma)", "MMR"), ("Kosovo", "XKX"), ("Palestine", "PSE"),
    ("St. Lucia", "LCA"), ("Gambia, The", "GMB"), ("The Bahamas", "BHS"),
    ("Germany (GDR)", "DDR"), ("Holland (Netherlands)", "NLD"), ("Trinidad & Tobago", "TTO"),
])
def test_real_world_forms_name_one_state(reference: Reference, spelling: str,
                                         code: str) -> None:
    assert reference.country_code(spelling) == code


@pytest.mark.parametrize("spelling", [
    "Middle East", "EU", "Africa", "World", "Sub-Saharan Africa", "OECD", "Euro area",
    "Latin America & Caribbean", "High income", "NATO**", "South Asia",
])
def test_a_region_is_never_a_country(reference: Reference, spelling: str) -> None:
    found = reference.country(spelling)
    assert (found.code, found.region) == (None, True)


@pytest.mark.parametrize("spelling", [
    "Hezbollah (Lebanon)", "Islamic State of Iraq", "Iraqi Kurdistan", "Islamic State",
    "Australia and New Zealand", "New Guinea", "Libya GNC", "Darfur rebels (Sudan)*",
    "Sudan & South Sudan", "Lebanon (Hezbollah)",
])
def test_a_name_that_only_contains_a_state_is_not_that_state(reference: Reference,
                                                             spelling: str) -> None:
    assert reference.country_code(spelling) is None


def test_country_problems_in_rows_and_an_alias_resolves_ambiguity(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    write_log(raw / "items" / "log.csv", [
        {**BASE, "record_id": "R-1", "country_of_manufacture": "Congo"},
        {**BASE, "record_id": "R-2", "country_of_manufacture": "Middle East"},
        {**BASE, "record_id": "R-3", "country_of_manufacture": "Korea, Rep."},
        {**BASE, "record_id": "R-4", "documented_in": "IS"},
    ])
    folder = teachable_reference(tmp_path)
    rows, _ = normalised(raw, Reference.load(folder), tmp_path / "before")
    problems = dict(zip(rows["record_id"], rows["problems"], strict=True))
    assert rows["reasons"].to_list() == [["ambiguous_country"], ["unknown_country"], [],
                                         ["ambiguous_country"]]
    assert "'Congo' could be Congo (COG) or Congo, The Democratic Republic of the (COD)" in (
        problems["R-1"][0])
    assert "country_aliases.csv" in problems["R-1"][0]
    assert "is a region or group of countries, not a country" in problems["R-2"][0]
    assert "Iceland (ISL) or Islamic State (an armed group)" in problems["R-4"][0]

    add_line(folder / "country_aliases.csv", "Congo", "COD", "team-b writes Congo for the DRC")
    rows, _ = normalised(raw, Reference.load(folder), tmp_path / "after")
    assert rows.filter(pl.col("record_id") == "R-1")["origin_code"].to_list() == ["COD"]


# --- headers ---------------------------------------------------------------------------

def read_one(tmp_path: Path, header: list[str], row: list[str],
             contract=ITEMS) -> dict:
    path = tmp_path / contract.dataset / "log.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, row])
    _, reads = read_dataset(tmp_path, discover_raw_files(tmp_path), contract)
    return reads.row(0, named=True)


REQUIRED = list(BASE)
VALUES = list(BASE.values())


@pytest.mark.parametrize(("header", "column"), [
    ("Country of Origin (COO)", "country_of_manufacture"),
    ("Headstamp year", "year_of_manufacture"),
    ("Serail no", "serial_number"),  # a misspelt alias
    ("Herkunft (origin)", "country_of_manufacture"),
    ("Weapon serial", "serial_number"),
])
def test_unmatched_header_resembling_an_empty_column_warns_with_the_line(
        tmp_path: Path, header: str, column: str) -> None:
    report = read_one(tmp_path, [*REQUIRED, header], [*VALUES, "x"])
    assert report["status"] == "ok"
    assert report["unmatched_headers"] == [header]
    [warning] = report["header_warnings"]
    line = next(csv.reader(re.findall(r"`(items,[^`]*)`", warning)))
    assert line == ["items", column, header]
    assert f"leaves {column} empty" in warning and "header_aliases.csv" in warning


@pytest.mark.parametrize("header", ["Photo number", "Investigator", "Weather", "Box ID",
                                    "Photo reference", "Date received"])
def test_unrelated_header_is_listed_but_gets_no_warning(tmp_path: Path, header: str) -> None:
    report = read_one(tmp_path, [*REQUIRED, header], [*VALUES, "x"])
    assert (report["unmatched_headers"], report["header_warnings"]) == ([header], [])


def test_no_warning_when_the_column_it_resembles_is_filled(tmp_path: Path) -> None:
    report = read_one(tmp_path, [*REQUIRED, "origin", "Country of Origin (COO)"],
                      [*VALUES, "China", "China"])
    assert report["header_warnings"] == []
    blank = read_one(tmp_path / "blank", [*REQUIRED, "origin", "Country of Origin (COO)"],
                     [*VALUES, "", "China"])
    assert len(blank["header_warnings"]) == 1  # the origin column is there, but empty


def test_two_headers_for_one_column_make_the_file_unreadable_naming_both(
        tmp_path: Path) -> None:
    report = read_one(tmp_path, [*REQUIRED, "origin", "made in"], [*VALUES, "China", "USSR"])
    assert report["status"] == "unreadable"
    assert "'origin' and 'made in' both name country_of_manufacture" in report["problem"]
    assert "`items,country_of_manufacture,origin`" in report["problem"]


def test_missing_required_column_says_which_alias_line_to_add(tmp_path: Path) -> None:
    header = ["record_id", "Date of documentation", "documented_in", "site", "category"]
    report = read_one(tmp_path, header, VALUES)
    assert report["status"] == "missing_columns"
    assert "`items,documented_on,Date of documentation`" in report["problem"]
    # the raw log is evidence: the message never asks to add or rename its columns
    assert "rename" not in report["problem"] and "add the column" not in report["problem"]


def test_transfer_headers_resemble_too(tmp_path: Path) -> None:
    header = ["transfer_id", "exporter", "importer", "end_user", "shipped_on", "model",
              "lot_number", "quantity", "retransfer_clause", "Serial numbers"]
    report = read_one(tmp_path, header, ["T-1", "Bulgaria", "USA", "army", "2015-01-01",
                                         "PG-7VL", "L-1", "10", "yes", "1|2"], TRANSFERS)
    assert report["header_warnings"] and "`transfers,serial_number,Serial numbers`" in (
        report["header_warnings"][0])


@pytest.mark.parametrize(("line", "message"), [
    (("items", "colour", "Color"), "'colour' is not a column of items"),
    (("things", "model", "Type"), "dataset 'things' is not one of items, transfers"),
    (("items", "model", "Lot"), "'Lot' is already a header for lot_number"),
    (("items", "model", "()"), "the alias is empty"),
])
def test_a_wrong_alias_line_fails_the_build_naming_it(tmp_path: Path,
                                                      line: tuple[str, ...],
                                                      message: str) -> None:
    folder = teachable_reference(tmp_path)
    add_line(folder / "header_aliases.csv", *line)
    lines = (folder / "header_aliases.csv").read_text().count("\n")
    with pytest.raises(HeaderAliasError, match=f"line {lines}: .*{message}"):
        Reference.load(folder)


def test_accepted_headers_page_in_docs_is_current(reference: Reference) -> None:
    generated = accepted_headers_page(reference.contract(d) for d in ("items", "transfers"))
    committed = (REPO_ROOT / "docs" / "accepted-headers.md").read_text(encoding="utf-8")
    assert committed == generated, ("docs/accepted-headers.md is stale: run `armtrace headers "
                                    "--out docs/accepted-headers.md`")
    for column in ITEMS.columns:
        for header in ITEMS.accepted_headers(column.name):
            assert f"`{header}`" in committed


# --- a new team, tried as a new user would ---------------------------------------------

NEW_TEAM = [
    {"Item ID": "N-1", "Date": "2016-11-03", "Country": "Iraq", "Location": "Mosul",
     "Type": "RPG round", "Model": "PG-7VL", "Country of Origin (COO)": "Bulgaria",
     "Headstamp year": "2015", "Qty": "4", "Calibre": "", "Photo ref": "P1"},
    {"Item ID": "N-2", "Date": "2016-11-03", "Country": "Iraq", "Location": "Mosul",
     "Type": "RPG round", "Model": "PG-7VK", "Country of Origin (COO)": "Congo",
     "Headstamp year": "2014", "Qty": "3", "Calibre": "", "Photo ref": "P2"},
    {"Item ID": "N-3", "Date": "2016-11-04", "Country": "Iraq", "Location": "Mosul",
     "Type": "cartridge", "Model": "", "Country of Origin (COO)": "Korea, Rep.",
     "Headstamp year": "84", "Qty": "100", "Calibre": "5,8 mm DBP", "Photo ref": "P3"},
]


def test_a_new_teams_logs_say_what_to_add_then_build_once_taught(tmp_path: Path,
                                                                 capsys) -> None:
    raw, folder = tmp_path / "raw", teachable_reference(tmp_path)
    write_log(raw / "items" / "new-team" / "export.csv", NEW_TEAM)
    curated, reports = tmp_path / "curated", tmp_path / "reports"
    assert main(["build", "--raw", str(raw), "--reference", str(folder), "--curated",
                 str(curated), "--reports", str(reports), "--today", TODAY]) == 0
    out = capsys.readouterr().out
    origin_line = "`items,country_of_manufacture,Country of Origin (COO)`"
    year_line = "`items,year_of_manufacture,Headstamp year`"
    for text in (origin_line, year_line, "'Photo ref'", "'PG-7VK' (rocket)",
                 "3 units", "'5,8 mm DBP'"):
        assert text in out
    with duckdb.connect(str(curated / "armtrace.duckdb"), read_only=True) as con:
        [(unmatched, warnings)] = con.sql("SELECT unmatched_headers, header_warnings "
                                          "FROM source_files").fetchall()
        [(aliases,)] = con.sql("SELECT count(*) FROM ref_header_aliases").fetchall()
    assert unmatched == ["Country of Origin (COO)", "Headstamp year", "Photo ref"]
    assert len(warnings) == 2 and aliases > 100
    html = (reports / "index.html").read_text(encoding="utf-8")
    assert "items,country_of_manufacture,Country of Origin (COO)" in html
    assert "Of the\n7 rocket and guided-missile units documented" in html
    assert "3 have a model it does not classify" in html
    manifest = json.loads((reports / "build-manifest.json").read_text())
    assert "reference/header_aliases.csv" in manifest["components"]

    # taught: the lines the build gave, and the team's model and spelling; no code edited
    add_line(folder / "header_aliases.csv", "items", "country_of_manufacture",
             "Country of Origin (COO)")
    add_line(folder / "header_aliases.csv", "items", "year_of_manufacture", "Headstamp year")
    add_line(folder / "country_aliases.csv", "Congo", "COD", "new-team means the DRC")
    add_line(folder / "models.csv", "PG-7VK", "rocket", "true", "", "RPG-7 HEAT rocket")
    add_line(folder / "calibres.csv", "5.8x42mm", "other", "5,8 mm DBP", "Chinese DBP87")
    rows, reads = normalised(raw, Reference.load(folder), tmp_path)
    assert reads.row(0, named=True)["header_warnings"] == []
    assert rows["reasons"].to_list() == [[], [], []]
    assert rows["origin_code"].to_list() == ["BGR", "COD", "KOR"]
    assert rows["year_value"].to_list() == [2015, 2014, 1984]
    assert rows["anti_armour"].to_list() == [True, True, False]
    assert rows["calibre_designation"].to_list()[2] == "5.8x42mm"
