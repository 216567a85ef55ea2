"""Clean stage: every value rule of the contract, and the near miss that must not trigger it.

Rows are written as a small CSV (or XLSX) under tmp_path and go through discover, read and
normalise_rows, so they arrive exactly as the read stage produces them.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from pipeline.columns import ITEMS, REQUIRED_NAMES
from pipeline.parts import ROWS_PER_PART
from pipeline.paths import REPO_ROOT
from pipeline.reference import Reference
from pipeline.stages.clean import conflicting_ids, normalise_each_file, normalise_rows
from pipeline.stages.discover import discover_raw_files
from pipeline.stages.item_logs import normalise_logs
from pipeline.stages.read import read_dataset, read_files
from tests.conftest import no_corrections, write_log

TODAY = dt.date(2026, 1, 1)
BASE = {"record_id": "R-1", "documented_on": "2016-11-03", "documented_in": "Iraq",
        "site": "Mosul", "category": "cartridge"}  # record_id, ... unless given

Normalise = Callable[..., pl.DataFrame]


@pytest.fixture
def normalise(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
              reference: Reference) -> Normalise:
    """normalise(*rows, today=..., files=...): each row is BASE updated by the given dict.
    Rows go file by file (normalise_logs), as in a build."""

    def run(*rows: dict[str, str], today: dt.date = TODAY,
            files: dict[str, list[dict[str, str]]] | None = None) -> pl.DataFrame:
        for name, file_rows in (files or {"log.csv": list(rows)}).items():
            write_log(tmp_path / "items" / name,
                      [{**BASE, "record_id": f"R-{i}", **row}
                       for i, row in enumerate(file_rows, start=1)])
        parts = tmp_path_factory.mktemp("parts") / "normalised"
        normalised, _, _ = normalise_logs(tmp_path, discover_raw_files(tmp_path),
                                          no_corrections(tmp_path), reference, today, parts)
        return normalised.scan().collect()

    return run


def each_file_as_read(raw: Path) -> Iterator[pl.DataFrame]:
    return (rows for rows, _ in read_files(raw, discover_raw_files(raw), ITEMS))


def one(frame: pl.DataFrame) -> dict:
    assert frame.height == 1
    return frame.row(0, named=True)


# --- dates -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "2016-11-03", "03/11/2016", "03.11.2016", "03-11-2016", "3/11/2016", "3 Nov 2016",
    "3 November 2016", "Nov 3, 2016", "November 3, 2016", "3  Nov  2016",
])
def test_every_contract_date_form_is_the_same_day(normalise: Normalise, text: str) -> None:
    row = one(normalise({"documented_on": text}))
    assert row["documented_on_parsed"].date() == dt.date(2016, 11, 3)  # day first, not 11 March
    assert row["reasons"] == []


def test_native_spreadsheet_date_is_the_same_day(tmp_path: Path, reference: Reference) -> None:
    path = tmp_path / "items" / "book.xlsx"
    path.parent.mkdir(parents=True)
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet("Items")
    sheet.write_row(0, 0, list(BASE))
    sheet.write_row(1, 0, list(BASE.values()))
    date_format = book.add_format({"num_format": "d mmm yy"})
    sheet.write_datetime(1, 1, dt.datetime(2016, 11, 3), date_format)
    book.close()
    parsed, _ = read_dataset(tmp_path, discover_raw_files(tmp_path))

    row = one(normalise_rows(parsed, reference, TODAY))

    assert row["documented_on_parsed"].date() == dt.date(2016, 11, 3)
    assert row["reasons"] == []


@pytest.mark.parametrize("text", ["31/02/2016", "2016-02-30", "2016-13-01", "32.01.2016",
                                  "next Tuesday", "Nov 2016"])
def test_unparseable_date_is_quarantined(normalise: Normalise, text: str) -> None:
    row = one(normalise({"documented_on": text}))
    assert row["documented_on_parsed"] is None
    assert row["reasons"] == ["unparseable_date"]


@pytest.mark.parametrize(("text", "future"), [
    ("2016-11-04", True),
    ("04/11/2016", True),   # 4 November (day first), so after today
    ("2099-01-01", True),
    ("2016-11-03", False),  # today itself is not the future
    ("03/11/2016", False),
    ("2016-11-02", False),
    ("02/12/2015", False),
])
def test_future_documentation_date_is_quarantined(normalise: Normalise, text: str,
                                                  future: bool) -> None:
    row = one(normalise({"documented_on": text}, today=dt.date(2016, 11, 3)))
    assert row["reasons"] == (["future_date"] if future else [])


def test_unparseable_updated_at_is_quarantined_but_a_date_time_is_not(
        normalise: Normalise) -> None:
    frame = normalise({"updated_at": "2017-01-02T10:30:00"}, {"updated_at": "02/01/2017"},
                      {"updated_at": "last week"})
    assert frame["updated_at_parsed"].to_list()[:2] == [dt.datetime(2017, 1, 2, 10, 30),
                                                       dt.datetime(2017, 1, 2)]
    assert frame["reasons"].to_list() == [[], [], ["unparseable_date"]]


# --- countries -------------------------------------------------------------------------------

COUNTRIES = [
    # current states: names, official names, codes, aliases
    ("Iraq", "IRQ"), ("Republic of Iraq", "IRQ"), ("IQ", "IRQ"), ("irq", "IRQ"),
    ("Turkey", "TUR"), ("Türkiye", "TUR"), ("Turkiye", "TUR"), ("TR", "TUR"),
    ("Iran", "IRN"), ("Russia", "RUS"), ("Russian Federation", "RUS"), ("Syria", "SYR"),
    ("Syrian Arab Republic", "SYR"), ("Czechia", "CZE"), ("Czech Republic", "CZE"),
    ("North Korea", "PRK"), ("DPRK", "PRK"), ("Bosnia", "BIH"),
    ("Bosnia and Herzegovina", "BIH"), ("USA", "USA"), ("U.S.", "USA"), ("US", "USA"),
    ("United States", "USA"), ("UK", "GBR"), ("United Kingdom", "GBR"), ("PRC", "CHN"),
    ("China", "CHN"), ("UAE", "ARE"), ("KSA", "SAU"), ("Bulgaria", "BGR"), ("BGR", "BGR"),
    # casing, stray spaces and punctuation
    ("  CHINA ", "CHN"), ("china.", "CHN"), ("(Serbia)", "SRB"), ("u.s.a.", "USA"),
    ("bulgaria;", "BGR"), ("Czech  Republic", "CZE"), ("u.k", "GBR"),
]


@pytest.mark.parametrize(("text", "code"), COUNTRIES)
def test_current_country_spellings(normalise: Normalise, text: str, code: str) -> None:
    row = one(normalise({"documented_in": text, "country_of_manufacture": text}))
    assert row["documented_in_code"] == code
    assert row["documented_in_present_code"] == code
    assert row["origin_state_code"] == code
    assert row["origin_code"] == code
    assert row["reasons"] == []


@pytest.mark.parametrize(("text", "recorded", "present", "present_name"), [
    ("USSR", "SUN", "RUS", "Russia"), ("U.S.S.R.", "SUN", "RUS", "Russia"),
    ("Soviet Union", "SUN", "RUS", "Russia"), ("soviet union", "SUN", "RUS", "Russia"),
    ("Czechoslovakia", "CSK", "CZE", "Czech Republic"),
    ("GDR", "DDR", "DEU", "Germany"), ("East Germany", "DDR", "DEU", "Germany"),
    ("German Democratic Republic", "DDR", "DEU", "Germany"),
    ("Yugoslavia", "YUG", "SRB", "Serbia"), ("SFRY", "YUG", "SRB", "Serbia"),
    ("FRY", "YUG", "SRB", "Serbia"),
    # near misses: the present-day states map to themselves, not to a historic state
    ("Russia", "RUS", "RUS", "Russia"), ("Germany", "DEU", "DEU", "Germany"),
    ("Serbia", "SRB", "SRB", "Serbia"), ("Czech Republic", "CZE", "CZE", "Czech Republic"),
])
def test_historic_state_is_recorded_and_mapped_to_its_successor(
        normalise: Normalise, text: str, recorded: str, present: str, present_name: str) -> None:
    row = one(normalise({"country_of_manufacture": text}))
    assert row["origin_state_code"] == recorded
    assert row["origin_code"] == present
    assert row["origin"] == present_name
    assert row["reasons"] == []


@pytest.mark.parametrize("text", ["", "n/a", "N/A", "unknown", "Unknown", "?", "-"])
def test_blank_or_unknown_origin_is_unknown_not_namibia(normalise: Normalise, text: str) -> None:
    row = one(normalise({"country_of_manufacture": text}))
    assert row["origin_state_code"] is None
    assert row["origin_code"] is None
    assert row["reasons"] == []


@pytest.mark.parametrize("text", ["n/a", "N/A"])
def test_unknown_marker_as_documentation_country_is_not_namibia(normalise: Normalise,
                                                                text: str) -> None:
    row = one(normalise({"documented_in": text}))
    assert row["documented_in_code"] != "NAM"
    assert row["reasons"] != []


@pytest.mark.parametrize("text", ["Namibia", "NAM"])
def test_namibia_spelled_out_is_still_namibia(normalise: Normalise, text: str) -> None:
    row = one(normalise({"country_of_manufacture": text}))
    assert row["origin_code"] == "NAM"
    assert row["reasons"] == []


@pytest.mark.parametrize(("column", "text"), [
    ("documented_in", "Narnia"), ("documented_in", "Mosul"),
    ("country_of_manufacture", "Narnia"), ("country_of_manufacture", "Eastern Bloc"),
])
def test_unknown_country_is_quarantined(normalise: Normalise, column: str, text: str) -> None:
    row = one(normalise({column: text}))
    assert row["reasons"] == ["unknown_country"]
    assert column in row["problems"][0]


# --- calibres --------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "calibre", "family"), [
    ("7.62x39mm", "7.62x39mm", "warsaw_pact"), ("7.62 x 39", "7.62x39mm", "warsaw_pact"),
    ("7,62×39 mm", "7.62x39mm", "warsaw_pact"), ("7.62x39 M43", "7.62x39mm", "warsaw_pact"),
    ("7.62 X 39MM", "7.62x39mm", "warsaw_pact"), ("7.62x54R", "7.62x54mmR", "warsaw_pact"),
    ("5.45x39", "5.45x39mm", "warsaw_pact"), ("9x18", "9x18mm", "warsaw_pact"),
    ("7.62x25", "7.62x25mm", "warsaw_pact"), ("12.7 x 108", "12.7x108mm", "warsaw_pact"),
    ("14.5x114mm", "14.5x114mm", "warsaw_pact"), ("73mm", "73mm", "warsaw_pact"),
    ("82 mm", "82mm", "warsaw_pact"),
    ("5.56x45", "5.56x45mm", "nato"), ("7.62x51mm", "7.62x51mm", "nato"),
    ("9x19", "9x19mm", "nato"), ("12.7x99", "12.7x99mm", "nato"),
    (".50 BMG", "12.7x99mm", "nato"),
    # parseable but not in the table: recognised, family other
    ("6.5x55", "6.5x55mm", "other"),
])
def test_calibre_is_normalised_with_its_family(normalise: Normalise, text: str, calibre: str,
                                               family: str) -> None:
    row = one(normalise({"calibre": text}))
    assert row["calibre_designation"] == calibre
    assert row["calibre_family"] == family
    assert row["reasons"] == []


@pytest.mark.parametrize("text", ["flare", "large", "see notes"])
def test_unrecognised_calibre_is_unknown_but_not_quarantined(normalise: Normalise,
                                                            text: str) -> None:
    row = one(normalise({"calibre": text}))
    assert row["calibre_designation"] is None
    assert row["calibre_family"] == "unknown"
    assert row["calibre"] == text  # the recorded text is kept
    assert row["reasons"] == []


# --- categories and models -------------------------------------------------------------------

@pytest.mark.parametrize(("text", "category", "kind"), [
    ("weapon", "weapon", "weapons"), ("rifle", "weapon", "weapons"),
    ("machine gun", "weapon", "weapons"), ("pistol", "weapon", "weapons"),
    ("launcher", "weapon", "weapons"), ("Rifles", "weapon", "weapons"),
    ("  RIFLE ", "weapon", "weapons"),
    ("cartridge", "cartridge", "ammunition"), ("round", "cartridge", "ammunition"),
    ("ammunition", "cartridge", "ammunition"), ("SAA", "cartridge", "ammunition"),
    ("rocket", "rocket", "ammunition"), ("RPG round", "rocket", "ammunition"),
    ("guided missile", "guided missile", "ammunition"),
    ("ATGW", "guided missile", "ammunition"), ("ATGM", "guided missile", "ammunition"),
    ("missile", "guided missile", "ammunition"),
    ("mortar round", "mortar round", "ammunition"), ("mortar", "mortar round", "ammunition"),
    ("mortar bomb", "mortar round", "ammunition"),
    ("grenade", "grenade", "ammunition"), ("hand grenade", "grenade", "ammunition"),
    ("Hand  Grenades", "grenade", "ammunition"),
    ("ied component", "ied component", "ied_materiel"),
    ("detonator", "ied component", "ied_materiel"), ("fuze", "ied component", "ied_materiel"),
    ("precursor", "precursor", "ied_materiel"), ("chemical", "precursor", "ied_materiel"),
])
def test_category_synonyms_and_item_kind(normalise: Normalise, text: str, category: str,
                                         kind: str) -> None:
    row = one(normalise({"category": text}))
    assert row["category_normalised"] == category
    assert row["item_kind"] == kind
    assert row["reasons"] == []


@pytest.mark.parametrize("text", ["banana", "vehicle", "misc", "rifle scope"])
def test_unknown_category_is_quarantined(normalise: Normalise, text: str) -> None:
    row = one(normalise({"category": text}))
    assert row["category_normalised"] is None
    assert row["reasons"] == ["unknown_category"]


@pytest.mark.parametrize(("model", "anti_armour"), [
    ("PG-7VL", True), ("pg 7vl", True), ("PG-7V", True), ("PG-7VM", True), ("PG-7VR", True),
    ("PG-9", True), ("PG-9V", True), ("PG-9VNT", True), ("PG-15V", True), ("M79 Osa", True),
    ("RPG-18", True), ("RPG-22", True), ("RPG-26", True), ("M72", True),
    ("9M14", True), ("9M111", True), ("9М111", True), ("Fagot", True), ("9M113", True),
    ("9M133", True), ("TOW", True), ("BGM-71", True), ("MILAN", True), ("HOT", True),
    # fragmentation / high explosive, launchers, unknown or blank: not anti-armour
    ("OG-7V", False), ("OG-9", False), ("107mm HE rocket", False),
    ("122mm HE rocket", False), ("RPG-7", False), ("AKM", False), ("XYZ-99", False),
    ("", False),
])
def test_anti_armour_is_decided_by_model(normalise: Normalise, model: str,
                                         anti_armour: bool) -> None:
    row = one(normalise({"category": "rocket", "model": model}))
    assert row["anti_armour"] is anti_armour


# --- years -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("year", "documented", "value"), [
    ("84", "2016-11-03", 1984), ("14", "2016-11-03", 2014), ("16", "2016-11-03", 2016),
    ("17", "2016-11-03", 1917), ("00", "2016-11-03", 2000), ("99", "2000-01-01", 1999),
    ("84", "1983-06-01", 1884),
    ("1984", "2016-11-03", 1984), ("1850", "2016-11-03", 1850), ("2016", "2016-11-03", 2016),
    ("2016", "3 Nov 2016", 2016),
])
def test_year_of_manufacture_is_accepted(normalise: Normalise, year: str, documented: str,
                                         value: int) -> None:
    row = one(normalise({"documented_on": documented, "year_of_manufacture": year}))
    assert row["year_value"] == value
    assert row["reasons"] == []


@pytest.mark.parametrize("year", ["", "unknown", "Unknown", "n/a", "N/A", "?", "-"])
def test_unknown_year_markers_mean_unknown(normalise: Normalise, year: str) -> None:
    row = one(normalise({"year_of_manufacture": year}))
    assert row["year_value"] is None
    assert row["reasons"] == []


@pytest.mark.parametrize(("year", "documented"), [
    ("1849", "2016-11-03"), ("1700", "2016-11-03"), ("2017", "2016-11-03"),
    ("2016", "2015-12-31"),
])
def test_year_out_of_range_is_quarantined(normalise: Normalise, year: str,
                                          documented: str) -> None:
    row = one(normalise({"documented_on": documented, "year_of_manufacture": year}))
    assert row["reasons"] == ["year_out_of_range"]


@pytest.mark.parametrize("year", ["abc", "19.84", "198"])
def test_year_that_is_not_a_year_is_not_silently_unknown(normalise: Normalise,
                                                         year: str) -> None:
    row = one(normalise({"year_of_manufacture": year}))
    assert row["year_value"] is None
    assert row["reasons"] != []


# --- quantities ------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "value"), [
    ("1,200", 1200), ("1200", 1200), ("1,200,000", 1200000), ("7", 7), ("", 1), ("1", 1),
])
def test_quantity_is_read(normalise: Normalise, text: str, value: int) -> None:
    row = one(normalise({"quantity": text}))
    assert row["quantity_value"] == value
    assert row["reasons"] == []


@pytest.mark.parametrize("text", ["0", "-3", "2.5", "abc", "12,00", "1,2000"])
def test_quantity_that_is_not_a_positive_integer_is_quarantined(normalise: Normalise,
                                                                text: str) -> None:
    row = one(normalise({"quantity": text}))
    assert row["reasons"] == ["invalid_quantity"]


@pytest.mark.parametrize(("category", "quantity", "quarantined"), [
    ("rifle", "2", True), ("pistol", "1,200", True),
    ("rifle", "1", False), ("rifle", "", False),
    ("cartridge", "2", False), ("ATGM", "2", False), ("RPG round", "12", False),
])
def test_weapon_quantity_above_one_is_quarantined(normalise: Normalise, category: str,
                                                  quantity: str, quarantined: bool) -> None:
    row = one(normalise({"category": category, "quantity": quantity}))
    assert row["reasons"] == (["weapon_quantity"] if quarantined else [])


# --- serial and lot keys ---------------------------------------------------------------------

SAME_SERIAL = ["No. 1001", "No.1001", "no 1001", "NO: 1001", "No1001", "S/N 1001", "s/n: 1001",
               "S/N-1001", "№1001", "№ 1001", "1001", " 1001 ", "10-01", "10 01", "10/01",
               "10.01"]


@pytest.mark.parametrize("text", SAME_SERIAL)
@pytest.mark.parametrize("column", ["serial_number", "lot_number"])
def test_serial_and_lot_forms_share_one_key(normalise: Normalise, column: str,
                                            text: str) -> None:
    row = one(normalise({column: text}))
    key = "serial_key" if column == "serial_number" else "lot_key"
    assert row[key] == "1001"
    assert row[column] == text.strip()  # the recorded text is kept beside the key


@pytest.mark.parametrize(("text", "key"), [
    ("АВ 123", "AB123"),          # Cyrillic A and Ve
    ("ав-123", "AB123"),          # lower-case Cyrillic
    ("AB123", "AB123"), ("ab 123", "AB123"),
    ("АВЕКМНОРСТХУ", "ABEKMHOPCTXY"),
    # the leading "No" strip must not eat letters that belong to the serial
    ("NOR-55", "NOR55"), ("Nov-12", "NOV12"), ("NOVA 7", "NOVA7"), ("SNOW1", "SNOW1"),
    ("N1001", "N1001"),
])
def test_serial_key_reads_lookalikes_and_keeps_real_letters(normalise: Normalise, text: str,
                                                            key: str) -> None:
    row = one(normalise({"serial_number": text}))
    assert row["serial_key"] == key


# --- required fields, several problems, duplicates --------------------------------------------

@pytest.mark.parametrize("column", REQUIRED_NAMES)
def test_blank_required_field_is_quarantined(normalise: Normalise, column: str) -> None:
    row = one(normalise({column: ""}))
    assert row["reasons"] == ["missing_required_field"]
    assert column in row["problems"][0]


OPTIONAL = {"model": "M43", "calibre": "7.62x39mm", "manufacturer": "Factory 10",
            "country_of_manufacture": "China", "year_of_manufacture": "1984",
            "serial_number": "1001", "lot_number": "L-1", "quantity": "3", "notes": "n"}


@pytest.mark.parametrize("column", OPTIONAL)
def test_blank_optional_field_is_no_problem(normalise: Normalise, column: str) -> None:
    assert one(normalise({**OPTIONAL, column: ""}))["reasons"] == []


def test_row_with_several_problems_lists_every_reason(normalise: Normalise) -> None:
    row = one(normalise({"documented_on": "31/02/2016", "documented_in": "Narnia", "site": "",
                         "category": "banana", "year_of_manufacture": "1700",
                         "quantity": "0"}))
    assert set(row["reasons"]) == {"missing_required_field", "unparseable_date",
                                   "unknown_country", "unknown_category", "year_out_of_range",
                                   "invalid_quantity"}
    assert len(row["problems"]) == 6


def test_weapon_row_with_several_problems_lists_every_reason(normalise: Normalise) -> None:
    row = one(normalise({"category": "rifle", "quantity": "2", "documented_on": "2016-11-03",
                         "country_of_manufacture": "Atlantis", "year_of_manufacture": "2017"}))
    assert set(row["reasons"]) == {"weapon_quantity", "unknown_country", "year_out_of_range"}


def test_malformed_row_reason_reaches_clean(normalise: Normalise, tmp_path: Path,
                                            reference: Reference) -> None:
    path = tmp_path / "items" / "log.csv"
    path.parent.mkdir(parents=True)
    path.write_text("id,date,country,site,type\nA,2016-11-03,Iraq,Mosul,rifle,surplus\n"
                    "B,2016-11-03,Iraq,Mosul,rifle\n")
    parsed, _ = read_dataset(tmp_path, discover_raw_files(tmp_path))

    frame = normalise_rows(parsed, reference, TODAY)

    assert frame["reasons"].to_list() == [["malformed_row"], []]


def test_file_missing_a_column_still_reports_other_blank_required_fields(
        tmp_path: Path, reference: Reference) -> None:
    path = tmp_path / "items" / "log.csv"
    path.parent.mkdir(parents=True)
    path.write_text("id,date,country,type\nA,2016-11-03,Iraq,\n")  # no site column, blank type
    parsed, _ = read_dataset(tmp_path, discover_raw_files(tmp_path))

    row = one(normalise_rows(parsed, reference, TODAY))

    assert set(row["reasons"]) == {"missing_required_column", "missing_required_field"}


def test_file_missing_a_required_column_quarantines_with_that_reason_only(
        tmp_path: Path, reference: Reference) -> None:
    path = tmp_path / "items" / "log.csv"
    path.parent.mkdir(parents=True)
    path.write_text("id,date,country,type\nA,2016-11-03,Iraq,rifle\nB,2016-11-04,Iraq,rifle\n")
    parsed, _ = read_dataset(tmp_path, discover_raw_files(tmp_path))

    frame = normalise_rows(parsed, reference, TODAY)

    assert frame["reasons"].to_list() == [["missing_required_column"]] * 2


def test_same_id_twice_in_one_file_with_different_content_quarantines_both(
        normalise: Normalise) -> None:
    frame = normalise({"record_id": "X", "quantity": "5"}, {"record_id": "Y"},
                      {"record_id": "X", "quantity": "6"})
    assert frame["reasons"].to_list() == [["duplicate_record_id"], [], ["duplicate_record_id"]]
    assert "2, 4" in frame["problems"][0][0]  # both lines are named


def test_same_id_twice_in_one_file_with_identical_content_is_not_quarantined(
        normalise: Normalise) -> None:
    frame = normalise({"record_id": "X", "quantity": "5"}, {"record_id": "X", "quantity": "5"})
    assert frame["reasons"].to_list() == [[], []]


def test_same_id_in_two_files_with_different_content_is_not_a_duplicate(
        normalise: Normalise) -> None:
    frame = normalise(files={"a.csv": [{"record_id": "X", "quantity": "5"}],
                             "b.csv": [{"record_id": "X", "quantity": "6"}]})
    assert frame["reasons"].to_list() == [[], []]


@pytest.mark.parametrize("rows_per_part", [1, 2, ROWS_PER_PART])
def test_file_by_file_gives_what_all_rows_at_once_give(
        tmp_path: Path, reference: Reference, rows_per_part: int) -> None:
    """normalise_each_file must agree with normalise_rows, rule for rule, over several files:
    a conflicting id within a file (flagged, also when its rows fall in different slices),
    the same id across files (not flagged), an unreadable file, a file with no rows of its
    own kind."""
    write_log(tmp_path / "items" / "a.csv", [{**BASE, "record_id": "X", "quantity": "5"},
                                             {**BASE, "record_id": "X", "quantity": "6"},
                                             {**BASE, "record_id": "Y", "documented_on": "x"}])
    write_log(tmp_path / "items" / "b.csv", [{**BASE, "record_id": "Y"},
                                             {**BASE, "record_id": "Z", "category": "banana"}])
    (tmp_path / "items" / "c.csv").write_bytes(b"")
    parsed, _ = read_dataset(tmp_path, discover_raw_files(tmp_path))
    parts = tmp_path.parent / f"{tmp_path.name}-parts"

    by_file = normalise_each_file(each_file_as_read(tmp_path), reference, TODAY,
                                  parts / "normalised", rows_per_part).scan().collect()

    assert by_file.equals(normalise_rows(parsed, reference, TODAY))
    assert by_file["reasons"].to_list() == [["duplicate_record_id"], ["duplicate_record_id"],
                                            ["unparseable_date"], [], ["unknown_category"],
                                            ["unreadable_file"]]


def test_no_files_give_no_rows_with_every_column(tmp_path: Path, reference: Reference) -> None:
    (tmp_path / "items").mkdir()
    normalised, report, applied = normalise_logs(tmp_path, discover_raw_files(tmp_path),
                                                 no_corrections(tmp_path), reference, TODAY,
                                                 tmp_path / "n")
    frame = normalised.scan().collect()
    assert frame.height == 0 and report.height == 0 and applied.height == 0
    empty = normalise_rows(read_dataset(tmp_path, discover_raw_files(tmp_path))[0], reference,
                           TODAY)
    assert frame.schema == empty.schema


def test_rows_keep_their_order_and_count(normalise: Normalise) -> None:
    frame = normalise({"record_id": "A", "quantity": "0"}, {"record_id": "B"},
                      {"record_id": "C", "category": "banana"})
    assert frame["record_id"].to_list() == ["A", "B", "C"]
    assert frame["row_number"].to_list() == [0, 1, 2]


def test_cells_hash_is_equal_for_equal_cells_only(normalise: Normalise) -> None:
    """resolve compares the cells of two rows only when their cells_hash is equal: equal
    cells hash alike, and cells that differ only in a column the contract does not name do
    not."""
    frame = normalise({"record_id": "X", "Remarks": "crate 4"},
                      {"record_id": "X", "Remarks": "crate 4"},
                      {"record_id": "X", "Remarks": "crate 5"})
    first, again, other = frame["cells_hash"].to_list()
    assert first == again != other
    assert frame["cells"].n_unique() == 2


def test_conflicting_ids_of_a_log_as_read(tmp_path: Path) -> None:
    """On this shipped log's rows as the read stage holds them (not read back from Parquet),
    polars 2.1 panicked formatting the duplicate_record_id messages; conflicting_ids must
    give them (it rechunks first)."""
    log = tmp_path / "items" / "iraq-south" / "2016-export.csv"
    log.parent.mkdir(parents=True)
    shutil.copyfile(REPO_ROOT / "data" / "raw" / "items" / "iraq-south" / "2016-export.csv", log)
    (rows, _), = read_files(tmp_path, discover_raw_files(tmp_path), ITEMS)
    conflicts = conflicting_ids(rows.lazy())
    assert conflicts.height == 2
    assert conflicts["message"].str.starts_with(
        "duplicate_record_id: record_id 'IRA-DUP-1' appears on lines 74, 75").all()


def test_site_key_is_trimmed_case_folded_with_runs_of_spaces_as_one(normalise: Normalise
                                                                    ) -> None:
    """The site key documentation_summary.sites and documentation_sites count by."""
    frame = normalise({"site": "  Tal   Afar "}, {"site": "tal afar"}, {"site": "Tal-Afar"})
    assert frame["site_key"].to_list() == ["tal afar", "tal afar", "tal-afar"]
