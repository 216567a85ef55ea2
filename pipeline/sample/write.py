"""Write the sample's records the way five teams' tools would: their own headers, delimiters,
encodings, date forms and spellings of countries, categories, calibres, years and serials."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import xlsxwriter

from pipeline.provenance import SAMPLE_FILES_SCHEMA, SYNTHETIC_LABEL
from pipeline.sample import plan
from pipeline.sample.archive import CP1252_TEAMS, LOOKALIKES, archive_records
from pipeline.sample.records import STUDY_TEAM, Record, site_coordinates
from pipeline.stages.discover import sha256_of

Cell = str | dt.date | dt.datetime


def _iso(day: dt.date, rng: random.Random) -> str:
    return day.isoformat()


def _day_first(day: dt.date, rng: random.Random) -> str:
    return day.strftime(rng.choice(("%d/%m/%Y", "%d/%m/%Y", "%d.%m.%Y")))


def _written_out(day: dt.date, rng: random.Random) -> str:
    form = rng.choice(("{d} {b} {Y}", "{b} {d}, {Y}", "{d} {B} {Y}", "{dd}-{m}-{Y}"))
    return form.format(d=day.day, dd=f"{day.day:02d}", m=f"{day.month:02d}", Y=day.year,
                       b=day.strftime("%b"), B=day.strftime("%B"))


def _dotted(day: dt.date, rng: random.Random) -> str:
    return day.strftime("%d.%m.%Y")


@dataclass(frozen=True)
class TeamFormat:
    extension: str
    delimiter: str
    encoding: str
    headers: dict[str, str]  # canonical column -> this tool's header
    date: Callable[[dt.date, random.Random], str] | None  # None: native spreadsheet dates
    headstamp_years: bool  # cartridges' years as the two digits of the headstamp


FORMATS = {
    "iraq-north": TeamFormat("csv", ",", "utf-8", {
        "record_id": "Item ID", "documented_on": "Date", "documented_in": "Country",
        "site": "Location", "category": "Type", "model": "Model", "calibre": "Calibre",
        "manufacturer": "Maker", "country_of_manufacture": "Origin",
        "year_of_manufacture": "YoM", "serial_number": "Serial No", "lot_number": "Lot",
        "quantity": "Qty", "recovered_from": "Recovered from", "updated_at": "Last modified",
        "notes": "Notes", "dataset": "Dataset", "latitude": "Lat", "longitude": "Long"},
        _iso, False),
    "iraq-south": TeamFormat("csv", ";", "utf-8-sig", {
        "record_id": "Record No", "documented_on": "Date documented",
        "documented_in": "Country documented", "site": "Site name",
        "category": "Item category", "model": "Designation", "calibre": "Caliber",
        "manufacturer": "Producer", "country_of_manufacture": "Country of origin",
        "year_of_manufacture": "Year of manufacture", "serial_number": "S/N",
        "lot_number": "Lot No", "quantity": "Quantity", "recovered_from": "Source",
        "notes": "Remarks", "dataset": "Dataset", "photo": "Photo ref", "latitude": "Latitude",
        "longitude": "Longitude"}, _day_first, True),
    "syria-east": TeamFormat("xlsx", "", "", {
        "record_id": "ID", "documented_on": "Documentation date", "documented_in": "Country",
        "site": "Place", "category": "Item type", "model": "Model designation",
        "calibre": "Cal", "manufacturer": "Factory", "country_of_manufacture": "Made in",
        "year_of_manufacture": "Manufacture year", "serial_number": "Serial",
        "lot_number": "Batch", "quantity": "Units", "recovered_from": "Recovered from",
        "updated_at": "Updated", "notes": "Comments", "dataset": "Dataset",
        "latitude": "Lat", "longitude": "Lon"}, None, False),
    "syria-north": TeamFormat("tsv", "\t", "cp1252", {
        "record_id": "Reference", "documented_on": "Date", "documented_in": "Country",
        "site": "Location", "category": "Type", "model": "Model", "calibre": "Caliber",
        "manufacturer": "Maker", "country_of_manufacture": "COM", "year_of_manufacture": "Year",
        "serial_number": "S/N", "lot_number": "Lot", "quantity": "Count", "notes": "Remarks",
        "dataset": "Dataset", "latitude": "Lat", "longitude": "Lng"}, _written_out, True),
    STUDY_TEAM: TeamFormat("txt", "|", "utf-8", {
        "record_id": "Ref", "documented_on": "Date", "documented_in": "Country",
        "site": "Site", "category": "Category", "calibre": "Calibre",
        "country_of_manufacture": "Country of manufacture", "year_of_manufacture": "YOM",
        "lot_number": "Lot", "quantity": "Number", "recovered_from": "Source",
        "notes": "Notes", "dataset": "Dataset"}, _dotted, True),
}

COUNTRY_SPELLINGS = {
    "CHN": ("China", "China", "PRC", "CHN", "People's Republic of China", "china", "CN"),
    "RUS": ("Russia", "Russian Federation", "RUS", "russia"),
    "USA": ("USA", "U.S.", "United States", "US", "United States of America"),
    "GBR": ("UK", "United Kingdom", "GBR"), "TUR": ("Turkey", "Türkiye", "TUR"),
    "BIH": ("Bosnia", "Bosnia and Herzegovina", "BiH"), "CZE": ("Czech Republic", "Czechia"),
    "PRK": ("North Korea", "DPRK"), "IRN": ("Iran", "IRN", "Iran "), "SRB": ("Serbia", "SRB"),
    "ROU": ("Romania", "ROU", "romania", "RO"), "BGR": ("Bulgaria", "BGR", "BG", "Bulgaria."),
    "DEU": ("Germany", "DEU", "Federal Republic of Germany"), "HUN": ("Hungary", "HUN"),
    "ARE": ("UAE", "United Arab Emirates"), "IRQ": ("Iraq", "IRQ", "iraq"),
    "SYR": ("Syria", "Syrian Arab Republic", "SYR", "syria "),
}
COUNTRY_NAMES = {"BLR": "Belarus", "SDN": "Sudan", "UKR": "Ukraine", "EGY": "Egypt",
                 "PAK": "Pakistan", "ALB": "Albania", "POL": "Poland", "BEL": "Belgium",
                 "IND": "India", "JPN": "Japan", "BRA": "Brazil", "NLD": "Netherlands",
                 "AUT": "Austria", "CHE": "Switzerland", "VNM": "Vietnam", "LBN": "Lebanon",
                 "MYS": "Malaysia"}
HISTORIC_SPELLINGS = {  # (present-day state, made before) -> how logs record the state then
    "RUS": (1992, ("USSR", "Soviet Union", "U.S.S.R.", "CCCP")),
    "CZE": (1993, ("Czechoslovakia", "CSSR")),
    "DEU": (1990, ("GDR", "East Germany", "German Democratic Republic")),
    "SRB": (1992, ("Yugoslavia", "SFRY", "FRY")),
}
UNKNOWN_SPELLINGS = ("", "", "", "unknown", "?", "n/a", "-")
PRODUCER_SPELLINGS = {  # as field teams write the group's own production
    plan.ISLAMIC_STATE: ("Islamic State", "IS-made", "Daesh", "ISIS", "ISIL", "IS production",
                         "islamic state", "IS made"),
    plan.IMPROVISED: ("improvised", "Improvised"),
}
CATEGORY_SPELLINGS = {
    "cartridge": ("cartridge", "round", "ammunition", "SAA", "Cartridge"),
    "guided missile": ("ATGW", "ATGM", "missile", "guided missile"),
    "mortar round": ("mortar", "mortar bomb", "mortar round"),
    "grenade": ("hand grenade", "grenade"),
}
CALIBRE_SPELLINGS = {
    "7.62x39mm": ("7.62x39mm", "7.62 x 39", "7,62×39 mm", "7.62x39 M43", "7.62X39"),
    "7.62x54mmR": ("7.62x54R", "7.62x54mmR", "7.62x54"),
    "12.7x108mm": ("12.7x108mm", "12.7 x 108"), "14.5x114mm": ("14.5x114mm", "14.5 x 114"),
    "5.45x39mm": ("5.45x39mm", "5.45 x 39"), "5.56x45mm": ("5.56x45mm", "5.56 NATO", "5.56 x 45"),
    "7.62x51mm": ("7.62x51mm", "7.62 NATO", "7.62 x 51"),
    "12.7x99mm": (".50 BMG", "12.7x99mm", "12.7 x 99"), "9x19mm": ("9x19mm", "9mm Parabellum"),
    "73mm": ("73mm", "73 mm"), "82mm": ("82mm", "82 mm"), "120mm": ("120mm", "120 mm"),
    "122mm": ("122mm", "122 mm"),
    "7.92x57mm": ("7.92x57mm", "8mm Mauser"),
}
MACHINE_GUNS = ("PKM", "DShKM")


class Speller:
    """How one team writes each value: chosen per row from the forms its tool produces."""

    def __init__(self, team: str, rng: random.Random) -> None:
        self.team, self.rng, self.format = team, rng, FORMATS[team]

    def pick(self, options: tuple[str, ...]) -> str:
        return self.rng.choice(options)

    def country(self, code: str | None, year: int | None = None,
                producer: str | None = None) -> str:
        if producer is not None:
            return self.pick(PRODUCER_SPELLINGS[producer])
        if code is None:
            return self.pick(UNKNOWN_SPELLINGS)
        if code in HISTORIC_SPELLINGS and year and year < HISTORIC_SPELLINGS[code][0] and (
                self.rng.random() < 0.6):
            return self.pick(HISTORIC_SPELLINGS[code][1])
        return self.pick(COUNTRY_SPELLINGS.get(code, (COUNTRY_NAMES.get(code, code),)))

    def category(self, record: Record) -> str:
        if record.category == "weapon":
            return self.pick(("machine gun", "weapon") if record.model in MACHINE_GUNS
                             else ("rifle", "rifle", "weapon", "assault rifle"))
        if record.category == "rocket" and (record.model or "").startswith(("PG-7", "OG-7")):
            return self.pick(("rocket", "RPG round"))
        return self.pick(CATEGORY_SPELLINGS.get(record.category, (record.category,)))

    def manufacturer(self, name: str | None) -> str:
        """Mostly as the company writes it; sometimes in capitals or with a doubled space."""
        if not name:
            return ""
        return self.pick((name, name, name, name.upper(), name.replace(" ", "  ")))

    def calibre(self, calibre: str | None) -> str:
        return self.pick(CALIBRE_SPELLINGS[calibre]) if calibre else ""

    def year(self, record: Record) -> str:
        if record.year is None:
            return self.pick(UNKNOWN_SPELLINGS)
        if self.format.headstamp_years and record.category == "cartridge" and (
                self.rng.random() < 0.5):
            return f"{record.year % 100:02d}"
        return str(record.year)

    def quantity(self, record: Record) -> str:
        if record.quantity == 1 and self.rng.random() < 0.5:
            return ""
        return f"{record.quantity:,}" if self.rng.random() < 0.7 else str(record.quantity)

    def key(self, text: str | None) -> str:
        """A serial or lot number in one of the forms the contract's normalisation reads."""
        if not text:
            return ""
        forms = [text, text, f"No. {text}", text.replace("-", " ")]
        if self.team not in CP1252_TEAMS:
            forms += [f"№ {text}", text.translate(LOOKALIKES)]
        return self.pick(tuple(forms))

    def date(self, day: dt.date) -> Cell:
        return day if self.format.date is None else self.format.date(day, self.rng)

    def updated_at(self, moment: dt.datetime | None) -> Cell:
        if moment is None:
            return ""
        return moment if self.format.date is None else moment.strftime("%Y-%m-%d %H:%M")


def row_cells(record: Record, speller: Speller) -> dict[str, Cell]:
    latitude, longitude = site_coordinates(record.site)
    cells: dict[str, Cell] = {
        "record_id": record.record_id, "documented_on": speller.date(record.documented_on),
        "documented_in": speller.country(record.documented_in_code()),
        "site": record.site, "category": speller.category(record), "model": record.model or "",
        "calibre": speller.calibre(record.calibre),
        "manufacturer": speller.manufacturer(record.manufacturer),
        "country_of_manufacture": speller.country(record.origin, record.year, record.producer),
        "year_of_manufacture": speller.year(record),
        "serial_number": speller.key(record.serial), "lot_number": speller.key(record.lot),
        "quantity": speller.quantity(record), "recovered_from": "IS forces",
        "updated_at": speller.updated_at(record.updated_at), "notes": record.notes or "",
        "dataset": SYNTHETIC_LABEL, "photo": "", "latitude": latitude, "longitude": longitude,
    }
    cells.update(record.raw_text)
    return cells


def file_of(record: Record) -> str:
    team_format = FORMATS[record.team]
    if record.team == STUDY_TEAM:
        return f"items/{STUDY_TEAM}/cartridges-jul-aug-2014.{team_format.extension}"
    year = record.export_year or record.documented_on.year
    return f"items/{record.team}/{year}-export.{team_format.extension}"


ROLE_ORDER = ("item", "stale_version", "identical_row", "double_entry", "re_documented",
              "invalid")


def rows_by_file(records: list[Record], seed: int) -> dict[str, list[dict[str, Cell]]]:
    """Each file's rows (cells keyed by canonical column), in the order a tool exports them."""
    grouped: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        grouped[file_of(record)].append(record)
    files = {}
    for path, members in sorted(grouped.items()):
        speller = Speller(members[0].team, random.Random(f"{seed}:{path}"))
        members.sort(key=lambda r: (r.documented_on, r.record_id, ROLE_ORDER.index(r.role)))
        rows: list[dict[str, Cell]] = []
        for record in members:
            # an identical row is the same export line twice, spelling included
            same = record.role == "identical_row" and rows
            rows.append(dict(rows[-1]) if same else row_cells(record, speller))
        files[path] = rows
    return files


def scaled(rows: list[dict[str, Cell]], copies: int) -> list[dict[str, Cell]]:
    """`copies` copies of the rows, as if more teams had documented more sites: ids, site names
    and serial numbers get a copy suffix so that no copy merges with another."""
    out = list(rows)
    for copy in range(2, copies + 1):
        for row in rows:
            new = dict(row)
            if row["record_id"]:
                new["record_id"] = f"{row['record_id']}-C{copy}"
            if row["site"]:
                new["site"] = f"{row['site']} / C{copy}"
            if row["serial_number"]:
                new["serial_number"] = f"{row['serial_number']}C{copy}"
            out.append(new)
    return out


def _text(value: Cell) -> str:
    return value.isoformat() if isinstance(value, dt.date) else value


def write_delimited(path: Path, team_format: TeamFormat, rows: list[dict[str, Cell]]) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=team_format.delimiter, lineterminator="\r\n"
                        if team_format.encoding == "cp1252" else "\n")
    writer.writerow(team_format.headers.values())
    for row in rows:
        writer.writerow(_text(row[column]) for column in team_format.headers)
    path.write_bytes(buffer.getvalue().encode(team_format.encoding))


XLSX_SHEET_ROWS = 1_000_000  # a worksheet holds 1,048,576 rows


def write_xlsx(path: Path, team_format: TeamFormat, rows: list[dict[str, Cell]]) -> None:
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    workbook.set_properties({"title": "SYNTHETIC item log", "created": dt.datetime(2017, 12, 1)})
    dates = workbook.add_format({"num_format": "yyyy-mm-dd"})
    times = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    readme = workbook.add_worksheet("Read me")
    readme.write(0, 0, SYNTHETIC_LABEL)
    readme.write(1, 0, "Items are on the other sheet(s).")
    for start in range(0, max(len(rows), 1), XLSX_SHEET_ROWS):
        suffix = f" {start // XLSX_SHEET_ROWS + 1}" if len(rows) > XLSX_SHEET_ROWS else ""
        sheet = workbook.add_worksheet(f"Items{suffix}")
        sheet.write_row(0, 0, list(team_format.headers.values()))
        for line, row in enumerate(rows[start:start + XLSX_SHEET_ROWS], start=1):
            for column, name in enumerate(team_format.headers):
                value = row[name]
                if isinstance(value, dt.datetime):
                    sheet.write_datetime(line, column, value, times)
                elif isinstance(value, dt.date):
                    sheet.write_datetime(line, column, value, dates)
                elif value:
                    sheet.write_string(line, column, value)
    workbook.close()


TRANSFER_HEADER = ("transfer_id", "exporter", "importer", "end_user", "shipped_on", "model",
                   "lot_number", "quantity", "retransfer_clause", "serial_number")


def transfer_rows() -> dict[str, list[tuple[str, ...]]]:
    """The two published cases, a transfer nothing was recovered from, and a commercial
    supply: a lot of detonators its maker sold to a distributor."""
    shipped_pg9 = plan.PG9_SHIPPED_ON.isoformat()
    shipped_missile = plan.MISSILE_SHIPPED_ON.isoformat()
    missiles = [("BG-US-2015-112", "Bulgaria", "United States", "US Army", shipped_missile,
                 "9M111", plan.MISSILE_LOT, "1", "yes", f"{n:04d}-15") for n in (445, 446, 447,
                                                                                  448)]
    return {
        "transfers/romania-2014-pg9.csv": [
            ("RO-US-2014-017", "Romania", "United States", "US military", shipped_pg9, "PG-9",
             plan.PG9_LOT, f"{plan.PG9_QUANTITY}", "yes", ""),
            ("RO-US-2014-018", "Romania", "United States", "US military", shipped_pg9, "OG-9",
             "12-14-460", "4000", "yes", ""),
        ],
        "transfers/bulgaria-2015-9m111.csv": missiles,
        "transfers/india-2015-detonators.csv": [
            ("IN-TR-2015-0093", "India", "Turkey", "Company ZD (distributor)",
             plan.COMPONENT_SHIPPED_ON.isoformat(), plan.COMPONENT_MODEL, plan.COMPONENT_LOT,
             f"{plan.COMPONENT_QUANTITY}", "no", ""),
        ],
    }


def write_sample(out: Path, seed: int = plan.DEFAULT_SEED, scale: int = 1) -> dict[str, int]:
    """Write the sample into `out` (created, must be empty); return rows written per file."""
    if scale < 1:
        raise ValueError(f"scale must be a whole number of at least 1, got {scale}")
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty: choose a new folder for the sample")
    written = {}
    for relative, rows in rows_by_file(archive_records(seed), seed).items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        team_format = FORMATS[relative.split("/")[1]]
        rows = scaled(rows, scale)
        if team_format.extension == "xlsx":
            write_xlsx(path, team_format, rows)
        else:
            write_delimited(path, team_format, rows)
        written[relative] = len(rows)
    for relative, rows in transfer_rows().items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle, lineterminator="\n").writerows([TRANSFER_HEADER, *rows])
        written[relative] = len(rows)
    (out / "SYNTHETIC.md").write_text(SYNTHETIC_NOTE.format(seed=seed, scale=scale))
    return written


def record_fingerprints(out: Path, seed: int, scale: int, table: Path) -> int:
    """Record the SHA-256 of every file of the sample in `out` (written with `seed` and
    `scale`) in `table` (sample_files.csv: sha256, path, seed, scale), replacing the rows
    of the same seed and scale and keeping the others; return the files recorded. The build
    knows a raw file for a sample file by it (pipeline/provenance.py)."""
    files = sorted(p for p in out.rglob("*") if p.is_file())
    fresh = pl.DataFrame([(sha256_of(p), p.relative_to(out).as_posix(), seed, scale)
                          for p in files], schema=SAMPLE_FILES_SCHEMA, orient="row")
    kept = pl.DataFrame(schema=SAMPLE_FILES_SCHEMA)
    if table.exists():
        try:
            kept = pl.read_csv(table, schema=SAMPLE_FILES_SCHEMA).filter(
                (pl.col("seed") != seed) | (pl.col("scale") != scale))
        except pl.exceptions.PolarsError as error:
            first_line = str(error).strip().split("\n", 1)[0]
            raise ValueError(f"{table} is not a table of sample fingerprints (columns "
                             f"{', '.join(SAMPLE_FILES_SCHEMA)}): {first_line}: choose "
                             f"another --fingerprints file") from None
    pl.concat([kept, fresh]).sort("seed", "scale", "path").write_csv(table)
    return fresh.height


SYNTHETIC_NOTE = """\
# Synthetic sample (armtrace sample --seed {seed} --scale {scale})

Every file in this folder is SYNTHETIC. No row is a real documented item.

The logs are generated by `armtrace sample` so that the curated figures reproduce figures
Conflict Armament Research published in *Weapons of the Islamic State* (December 2017) and
*Islamic State Ammunition in Iraq and Syria* (October 2014); see
`pipeline/sample/plan.py` for the calibration, figure by figure. The item-level field data
behind those reports is not public.

The logs are deliberately dirty, as real exports are: five teams' tools with their own
headers, delimiters (`,` `;` tab `|`), encodings (UTF-8, UTF-8 with BOM, Windows-1252) and an
XLSX workbook with a non-data sheet; every date form of the contract; countries as names,
codes, abbreviations and historic states; calibre and category spellings; two-digit headstamp
years; serial and lot numbers with prefixes and Cyrillic look-alike letters. On top of the
items they hold old versions of records, identical rows, re-documented weapons, double
entries and a few invalid rows, which the pipeline must take away again.

They also hold what an investigation asks about: items the group made itself (country of
manufacture written `Islamic State`, `IS-made`, `Daesh`, `ISIS`...) or that were improvised
by a maker no one named; lots of ammunition found at several sites and in both countries;
IED components from 51 invented companies (`Company AA` to `Company BY`) in 20 countries; and
a commercial transfer record (`transfers/india-2015-detonators.csv`, a lot of detonators sold
to an invented distributor) from which one detonator was recovered 31 days later.

The build knows these files for the sample by their SHA-256 (`armtrace sample --fingerprints`
records them; `data/reference/sample_files.csv` lists the shipped sample's) and by the label
each item row carries, and labels its report synthetic. Deleting this file changes nothing;
a raw folder that holds sample files beside other logs is refused.
"""
