"""Place the planned items in teams, sites and days, give them ids, then add what a real
archive of item logs holds besides: old versions, identical rows, re-documented weapons,
double entries, near misses that must stay apart, and invalid rows."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter, defaultdict

from pipeline.paths import Paths
from pipeline.reference import Reference
from pipeline.sample import plan
from pipeline.sample.records import (
    MISSILE_SITE,
    STUDY_SITES,
    STUDY_TEAM,
    TEAMS,
    TOWNS,
    Record,
    ammunition_records,
    ied_records,
    weapon_records,
)

REGULAR_START = plan.SUBSTUDY_END + dt.timedelta(days=3)
TEAMS_WITH_UPDATED_AT = ("iraq-north", "syria-east")
CP1252_TEAMS = ("syria-north",)
ID_FORMATS = {"iraq-north": "IQN-{:05d}", "iraq-south": "IQS{:05d}",
              "syria-east": "SE-{:05d}", "syria-north": "SYN/{:05d}",
              STUDY_TEAM: "CAR14-{:04d}"}
LOOKALIKES = str.maketrans("ABEKMHOPCTXY", "АВЕКМНОРСТХУ")  # Latin -> Cyrillic
SERIAL_LETTERS = "ABEKMHOPCTX"


def site_names(group: str) -> list[str]:
    """The regular sites of a group (the 2014 study's sites come on top)."""
    count = plan.SITES[group] - len(STUDY_SITES[group])
    towns = TOWNS[group]
    names = [f"{towns[n % len(towns)]}, site {n // len(towns) + 1}" for n in range(count)]
    if group == "Iraq":
        names[-1] = MISSILE_SITE
    return names


def team_of_site(group: str, index: int) -> str:
    return TEAMS[group][index % 2]


def _random_day(rng: random.Random, first: dt.date, last: dt.date) -> dt.date:
    return first + dt.timedelta(days=rng.randint(0, (last - first).days))


def place(rng: random.Random, records: list[Record]) -> None:
    """Give each record a site, team and documentation day; every site is used."""
    for group in plan.GROUPS:
        names = site_names(group)
        for record in records:  # the missile's site is fixed in advance
            if record.site in names:
                record.team = team_of_site(group, names.index(record.site))
        sites = [n for n in names if n != MISSILE_SITE]
        regular = [r for r in records if r.documented_in == group and r.team != STUDY_TEAM
                   and not r.site]
        rng.shuffle(regular)
        for n, record in enumerate(regular):
            index = n if n < len(sites) else rng.randrange(len(sites))
            record.site, record.team = sites[index], team_of_site(group, index)
    for record in records:
        if record.documented_on != plan.FIELDWORK_START:  # fixed in advance (the missile)
            continue
        if record.team == STUDY_TEAM:
            record.documented_on = _random_day(rng, plan.FIELDWORK_START, plan.SUBSTUDY_END)
            continue
        first = max(REGULAR_START, dt.date(record.year or 1900, 1, 1))
        if record.lot == plan.PG9_LOT:  # recovered after the lot was shipped
            first = max(first, plan.PG9_SHIPPED_ON + dt.timedelta(days=90))
        record.documented_on = _random_day(rng, first, plan.FIELDWORK_END)
    study = [r for r in records if r.team == STUDY_TEAM]
    min(study, key=lambda r: r.documented_on).documented_on = plan.FIELDWORK_START
    regular = [r for r in records if r.team != STUDY_TEAM]
    max(regular, key=lambda r: r.documented_on).documented_on = plan.FIELDWORK_END


def give_serial_letters(rng: random.Random, records: list[Record]) -> None:
    """A third of the weapons carry two letters before the digits (readable in Cyrillic)."""
    for record in records:
        if record.category == "weapon" and record.serial and rng.random() < 1 / 3:
            record.serial = rng.choice(SERIAL_LETTERS) + rng.choice(SERIAL_LETTERS) + record.serial


def assign_ids(records: list[Record]) -> None:
    """Number records without an id per team, in date order, after those already numbered."""
    counters: dict[str, int] = defaultdict(int)
    for record in records:
        counters[record.team] += bool(record.record_id)
    for record in sorted(records, key=lambda r: (r.team, r.documented_on)):
        if record.record_id:
            continue
        counters[record.team] += 1
        record.record_id = ID_FORMATS[record.team].format(counters[record.team])


def plan_records(seed: int) -> list[Record]:
    """Exactly the curated items the plan calls for, placed and numbered."""
    calibres = Reference.load(Paths.resolve().reference_dir).tables["calibres"]
    family_of = dict(calibres.select("calibre", "family").rows())
    rng = random.Random(seed)
    records = weapon_records(rng) + ammunition_records(rng, family_of) + ied_records(rng)
    place(rng, records)
    give_serial_letters(rng, records)
    add_near_misses(rng, records)
    keep_records_distinct(records)
    assign_ids(records)
    return records


# --- what the pipeline must keep apart ---------------------------------------------------

def add_near_misses(rng: random.Random, records: list[Record]) -> None:
    """Items that look alike but are different items: they must all stay in `items`."""
    weapons = [r for r in records if r.category == "weapon" and r.origin]
    for _ in range(5):  # same serial, another model
        first, second = rng.sample(weapons, 2)
        if first.model != second.model:
            second.serial = first.serial
    for _ in range(3):  # same serial and model, another country of manufacture
        first = rng.choice(weapons)
        others = [w for w in weapons if w.model == first.model and w.origin != first.origin]
        if others:
            rng.choice(others).serial = first.serial
    records_at = Counter(r.site for r in records)
    fillers = [r for r in records if r.category == "cartridge" and r.model is None
               and r.origin and r.calibre and r.team != STUDY_TEAM and r.year]
    for n in range(4):  # same site, day, lot and everything else but the quantity
        twins: list[Record] = []
        while not twins:  # some draws have no twin in their group: draw again
            first = rng.choice(fillers)
            twins = [r for r in fillers if r is not first and r.origin == first.origin
                     and r.calibre == first.calibre and r.quantity != first.quantity
                     and r.documented_in == first.documented_in and records_at[r.site] > 1]
        second = rng.choice(twins)
        records_at[second.site] -= 1  # every site keeps at least one record
        first.lot = second.lot = f"{first.year % 100:02d}-{n + 31}"
        second.site, second.team, second.documented_on, second.year = (
            first.site, first.team, first.documented_on, first.year)


def double_entry_key(record: Record) -> tuple[object, ...]:
    return (record.documented_in, record.site.lower(), record.documented_on, record.category,
            record.model, record.calibre, record.origin, record.producer, record.year,
            record.lot, record.quantity)


def keep_records_distinct(records: list[Record]) -> None:
    """Random draws can give two planned records everything in common, which the pipeline
    would rightly merge as a double entry: move the later one to the next or previous day."""
    seen: set[tuple[object, ...]] = set()
    for record in records:
        step = 1
        while double_entry_key(record) in seen:
            last = plan.SUBSTUDY_END if record.team == STUDY_TEAM else plan.FIELDWORK_END
            step = -1 if record.documented_on + dt.timedelta(days=step) > last else step
            record.documented_on += dt.timedelta(days=step)
        seen.add(double_entry_key(record))


# --- what the pipeline must take away ----------------------------------------------------

def _regular(records: list[Record], **where: object) -> list[Record]:
    return [r for r in records if r.team != STUDY_TEAM and r.role == "item"
            and all(getattr(r, k) == v for k, v in where.items())]


def _at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, 15))


def old_versions(rng: random.Random, records: list[Record]) -> list[Record]:
    """Records exported again, corrected, in the next year's export. Where the team's tool
    writes `updated_at`, some go the other way: the later export carries a
    stale copy with an older edit time, and the earlier export's version must win."""
    stale: list[Record] = []
    candidates = [r for r in _regular(records) if r.documented_on.year < 2017]
    for n, record in enumerate(rng.sample(candidates, 24)):
        wrong = record.copy(role="stale_version")
        if record.category == "weapon":
            wrong.year = None
            wrong.notes = "year not yet read"
        else:
            wrong.quantity = record.quantity + 10
        with_times = record.team in TEAMS_WITH_UPDATED_AT
        if with_times and n % 6 == 0:  # stale copy in the later export, older edit time
            record.updated_at = _at(record.documented_on + dt.timedelta(days=40), 9)
            wrong.updated_at = _at(record.documented_on + dt.timedelta(days=2), 17)
            wrong.export_year = record.documented_on.year + 1
        else:
            if with_times:
                wrong.updated_at = _at(record.documented_on, 17)
                record.updated_at = _at(record.documented_on + dt.timedelta(days=30), 11)
            record.export_year = record.documented_on.year + 1
        stale.append(wrong)
    return stale


def identical_rows(rng: random.Random, records: list[Record]) -> list[Record]:
    return [r.copy(role="identical_row") for r in rng.sample(_regular(records), 8)]


def redocumented_weapons(rng: random.Random, records: list[Record]) -> list[Record]:
    """The same weapon documented again later, by serial (in another spelling), same model
    and the same present-day origin (sometimes recorded as its historic state)."""
    weapons = [r for r in _regular(records, category="weapon") if r.origin and r.serial]
    again = []
    for record in rng.sample(weapons, 15):
        later = min(record.documented_on + dt.timedelta(days=rng.randint(20, 200)),
                    plan.FIELDWORK_END)
        copy = record.copy(role="re_documented", record_id="", documented_on=later,
                           updated_at=None, export_year=None, notes="seen again")
        spellings = [f"No. {record.serial}", f"S/N {record.serial}", f"{record.serial} "]
        if record.team not in CP1252_TEAMS:  # Windows-1252 has no Cyrillic
            spellings.append(record.serial.translate(LOOKALIKES))
        copy.raw_text["serial_number"] = rng.choice(spellings)  # as written, not re-spelled
        again.append(copy)
    return again


def double_entries(rng: random.Random, records: list[Record]) -> list[Record]:
    """The same record entered twice under two ids (the site typed in another case)."""
    ammunition = [r for r in _regular(records, category="cartridge") if r.quantity > 1]
    return [r.copy(role="double_entry", record_id="", site=r.site.upper(), updated_at=None)
            for r in rng.sample(ammunition, 10)]


INVALID = (  # (field, raw text, what is wrong)
    ("documented_on", "2061-03-14", "documentation date in the future"),
    ("documented_on", "31/09/2016", "no 31 September"),
    ("site", "", "site missing"),
    ("category", "vehicle part", "not a contract category"),
    ("country_of_manufacture", "Chna", "unknown country"),
    ("documented_in", "Irak-Syria border", "unknown country"),
    ("year_of_manufacture", "2019", "made after it was documented"),
    ("year_of_manufacture", "1790", "year before 1850"),
    ("quantity", "several", "quantity not a number"),
    ("quantity", "0", "quantity not positive"),
    ("record_id", "", "record id missing"),
)


def invalid_rows(rng: random.Random, records: list[Record]) -> list[Record]:
    """Rows that break the contract, each in one way (and one that breaks two)."""
    rows = []
    for field, text, why in INVALID:
        base = rng.choice(_regular(records))
        if field == "year_of_manufacture" and text == "2019":
            base = rng.choice([r for r in _regular(records) if r.documented_on.year == 2016])
        rows.append(base.copy(role="invalid", record_id="", defect=f"{field}={text!r}: {why}",
                              notes=why))
        rows[-1].raw_text[field] = text
    weapon = rng.choice(_regular(records, category="weapon"))
    rows.append(weapon.copy(role="invalid", record_id="", notes="quantity above 1 for a weapon",
                            defect="quantity=3 for a weapon"))
    rows[-1].raw_text["quantity"] = "3"
    rows.append(weapon.copy(role="invalid", record_id="", notes="two problems",
                            defect="category 'armoured vehicle' and documented in 2071"))
    rows[-1].raw_text.update({"category": "armoured vehicle", "documented_on": "2071-05-02"})
    # in a delimited log: tests/test_clean.py reads this log's rows as the read stage holds them
    clash = rng.choice(_regular(records, category="cartridge", team="iraq-south"))
    for quantity in (clash.quantity + 1, clash.quantity + 2):  # one id, two contents
        rows.append(clash.copy(role="invalid", record_id="clash", quantity=quantity,
                               defect="same record_id twice in one file, different content",
                               notes="conflicting duplicate id"))
    return rows


def archive_records(seed: int) -> list[Record]:
    """The planned items plus every row the pipeline must remove, ids assigned."""
    rng = random.Random(seed + 1)
    records = plan_records(seed)
    extra = (old_versions(rng, records) + identical_rows(rng, records)
             + redocumented_weapons(rng, records) + double_entries(rng, records)
             + invalid_rows(rng, records))
    assign_ids(records + extra)
    clash_ids = [r for r in extra if r.record_id == "clash"]
    for record in clash_ids:
        record.record_id = f"{clash_ids[0].team[:3].upper()}-DUP-1"
    return records + extra
