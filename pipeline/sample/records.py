"""From the plan to records: the weapons, ammunition and IED components it calls for.

Each function turns part of the plan into `Record`s with kind, model, calibre, origin, year
and quantity; archive.py then places them (team, site, day, id) and adds the rows the
pipeline must take away again. Everything is drawn from one seeded random.Random, so a seed
gives the same records every time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from pipeline.sample import plan
from pipeline.sample.plan import Cohort

TEAMS = {"Iraq": ("iraq-north", "iraq-south"), "Syria": ("syria-east", "syria-north")}
STUDY_TEAM = "car-2014-study"
TOWNS = {
    "Iraq": ("Mosul", "Tal Afar", "Sinjar", "Tikrit", "Baiji", "Ramadi", "Fallujah", "Hit",
             "Qayyarah", "Sharqat", "Bashiqa", "Hamdaniya", "Hawija", "Rutba"),
    "Syria": ("Raqqa", "Kobane", "Tal Abyad", "Manbij", "Tabqa", "Hasakah", "Shaddadi"),
}
# Where each town is (decimal degrees, rounded): a regular site is placed near its town
# (site_coordinates). The 2014 study's team records no coordinates.
TOWN_COORDINATES = {
    "Mosul": (36.34, 43.13), "Tal Afar": (36.38, 42.45), "Sinjar": (36.32, 41.87),
    "Tikrit": (34.60, 43.68), "Baiji": (34.93, 43.49), "Ramadi": (33.42, 43.30),
    "Fallujah": (33.35, 43.78), "Hit": (33.64, 42.83), "Qayyarah": (35.80, 43.29),
    "Sharqat": (35.51, 43.23), "Bashiqa": (36.45, 43.35), "Hamdaniya": (36.27, 43.38),
    "Hawija": (35.33, 43.77), "Rutba": (33.04, 40.28), "Raqqa": (35.95, 39.01),
    "Kobane": (36.89, 38.35), "Tal Abyad": (36.70, 38.95), "Manbij": (36.53, 37.95),
    "Tabqa": (35.84, 38.55), "Hasakah": (36.50, 40.75), "Shaddadi": (36.06, 40.73),
}
STUDY_SITES = {"Iraq": ("Amerli, checkpoint", "Jalawla, front line"),
               "Syria": ("Kobane, eastern front", "Tal Hamis, village")}
MISSILE_SITE = "Ramadi, federal police depot"


@dataclass
class Record:
    team: str
    documented_in: str
    category: str
    model: str | None
    calibre: str | None
    origin: str | None  # ISO alpha-3 of the present-day state
    year: int | None
    quantity: int
    serial: str | None = None
    lot: str | None = None
    manufacturer: str | None = None
    producer: str | None = None  # a non-state producer (origin is then None)
    site: str = ""
    documented_on: dt.date = plan.FIELDWORK_START
    record_id: str = ""
    updated_at: dt.datetime | None = None
    notes: str | None = None
    role: str = "item"  # item, stale_version, identical_row, re_documented, double_entry,
    #                     invalid: what the pipeline must do with it
    defect: str | None = None  # for invalid rows: the field and value that break the contract
    export_year: int | None = None  # the export file it goes in (default: its documented year)
    raw_text: dict[str, str] = field(default_factory=dict)  # cells written as given (invalid rows)

    def documented_in_code(self) -> str:
        return plan.GROUP_CODES[self.documented_in]

    def copy(self, **changes: object) -> Record:
        return dataclasses.replace(self, raw_text=dict(self.raw_text), **changes)


def apportion(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Split `total` in proportion to `weights`, by largest remainder (exact, deterministic)."""
    whole = sum(weights.values())
    raw = {key: total * weight / whole for key, weight in weights.items()}
    shares = {key: int(value) for key, value in raw.items()}
    by_remainder = sorted(raw, key=lambda key: (shares[key] - raw[key], key))
    for key in by_remainder[: total - sum(shares.values())]:
        shares[key] += 1
    return shares


def split_units(rng: random.Random, units: int, sizes: tuple[int, ...]) -> list[int]:
    quantities = []
    while units > 0:
        quantities.append(min(units, rng.choice(sizes)))
        units -= quantities[-1]
    return quantities


def _years(rng: random.Random, years: tuple[int, int] | None) -> int | None:
    return rng.randint(*years) if years else None


def cohort_records(rng: random.Random, cohort: Cohort, group: str) -> list[Record]:
    return [Record("", group, cohort.category, cohort.model, cohort.calibre, cohort.origin,
                   _years(rng, cohort.years), quantity, lot=cohort.lot, producer=cohort.producer)
            for quantity in split_units(rng, cohort.units, cohort.sizes)]


# --- weapons ---------------------------------------------------------------------------

def _weapon_specs(origin: str | None, count: int) -> list[tuple[str, str, tuple[int, int] | None]]:
    """(model, calibre, years) for each weapon of one origin, honouring the plan's constraints
    on Chinese and Russian weapons of 1960-1989 and on NATO-calibre German rifles."""
    models = plan.WEAPON_MODELS.get(origin, plan.DEFAULT_WEAPON_MODELS)
    specs: list[tuple[str, str, tuple[int, int] | None]] = []
    if origin in plan.CHINA_RUSSIA_1960_1989:
        in_period = plan.CHINA_RUSSIA_1960_1989[origin]
        early = ("AK-47", "7.62x39mm", (1950, 1959)) if origin == "RUS" else (
            "Type 56", "7.62x39mm", (1990, 1995))
        specs += [early] * (count - in_period)
        count = in_period
    if origin == "DEU":
        specs += [("G3", "7.62x51mm", (1970, 1985))] * plan.GERMAN_NATO_WEAPONS
        count -= plan.GERMAN_NATO_WEAPONS
    for n in range(count):
        model, calibre, first, last = models[n % len(models)]
        unknown = (origin not in plan.CHINA_RUSSIA_1960_1989
                   and n % plan.WEAPON_UNKNOWN_YEAR_EVERY == 7)
        specs.append((model, calibre, None if unknown else (first, last)))
    return specs


def weapon_records(rng: random.Random) -> list[Record]:
    records = []
    for origin, count in plan.WEAPONS_BY_ORIGIN.items():
        for model, calibre, years in _weapon_specs(origin, count):
            records.append(Record("", "", "weapon", model, calibre, origin, _years(rng, years), 1))
    records += [Record("", "", "weapon", "improvised launcher", None, None,
                       _years(rng, (2015, 2016)), 1, producer=plan.IMPROVISED)
                for _ in range(plan.NON_STATE_WEAPONS)]
    rng.shuffle(records)
    for record, group in zip(records, _groups_for(len(records), plan.WEAPONS), strict=True):
        record.documented_in = group
    for number, record in enumerate(rng.sample(records, len(records)), start=1):
        record.serial = f"{number * 7919 % 900000 + 100000}"  # distinct six-digit serials
    return records


def _groups_for(count: int, totals: dict[str, int]) -> list[str]:
    assert sum(totals.values()) == count, (totals, count)
    return [group for group, total in totals.items() for _ in range(total)]


# --- ammunition ------------------------------------------------------------------------

def _fixed_ammunition(rng: random.Random) -> list[Record]:
    records = [r for cohort in (*plan.ANTI_ARMOUR, *plan.OTHER_AMMUNITION,
                                *plan.NON_STATE_AMMUNITION, *plan.LOT_SPREAD)
               for r in cohort_records(rng, cohort, cohort.group or "")]
    missile = Record("", "Iraq", "guided missile", "9M111", None, "BGR", 2015, 1,
                     serial=plan.MISSILE_SERIAL, lot=plan.MISSILE_LOT, site=MISSILE_SITE,
                     documented_on=plan.MISSILE_RECOVERED_ON, notes="recovered by Iraqi "
                     "federal police from IS forces")
    records.append(missile)
    for group, units in plan.ALBANIA_BY_GROUP.items():
        records += cohort_records(rng, Cohort(group, "cartridge", None, "7.62x39mm", "ALB",
                                              (1970, 1990), units, (3, 5, 8)), group)
    return records


def _study_records(rng: random.Random) -> list[Record]:
    sites = [(group, site) for group, names in STUDY_SITES.items() for site in names]
    records = []
    for cohort in plan.SUBSTUDY:
        for record in cohort_records(rng, cohort, ""):
            record.documented_in, record.site = rng.choice(sites)
            record.team = STUDY_TEAM
            records.append(record)
    return records


def _filler(rng: random.Random, group: str, origin: str | None, units: int,
            blank_calibre_units: int) -> list[Record]:
    """Cartridges of `origin` up to `units`; `blank_calibre_units` of them (all, when the
    origin is unknown too) have no legible calibre."""
    calibres = plan.FILLER_CALIBRES.get(origin, plan.DEFAULT_FILLER_CALIBRES)
    blank = units if origin is None else blank_calibre_units
    records = []
    for count, legible in ((blank, False), (units - blank, True)):
        for quantity in split_units(rng, count, plan.FILLER_SIZES):
            records.append(Record("", group, "cartridge", None,
                                  rng.choice(calibres) if legible else None, origin,
                                  _years(rng, plan.FILLER_YEARS), quantity))
    return records


def _units(records: Iterable[Record]) -> dict[tuple[str, str | None], int]:
    totals: dict[tuple[str, str | None], int] = defaultdict(int)
    for record in records:
        totals[(record.documented_in, record.origin)] += record.quantity
    return totals


def _calibre_units(records: Iterable[Record], family_of: dict[str, str]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for record in records:
        totals[family_of.get(record.calibre or "", "unknown")] += record.quantity
    return totals


def ammunition_records(rng: random.Random, family_of: dict[str, str]) -> list[Record]:
    """Fixed cohorts, then cartridges filling each (group, origin) up to the plan's totals."""
    fixed = _fixed_ammunition(rng) + _study_records(rng)
    fixed_units = _units(fixed)
    needs = {group: plan.AMMUNITION_UNITS[group] - sum(
        units for (g, _), units in fixed_units.items() if g == group) for group in plan.GROUPS}
    fillers: dict[tuple[str, str | None], int] = {}
    for origin, total in plan.AMMUNITION_BY_ORIGIN.items():
        if origin == "ALB":
            continue
        left = total - sum(units for (_, o), units in fixed_units.items() if o == origin)
        assert left >= 0, f"plan: fixed cohorts exceed {origin}'s total"
        split = apportion(left, {g: needs[g] for g in plan.GROUPS})
        fillers.update({(group, origin): units for group, units in split.items()})
    # Largest-remainder rounding per origin can leave a group a few units off: Russia evens it.
    for group in plan.GROUPS:
        gap = needs[group] - sum(u for (g, _), u in fillers.items() if g == group)
        fillers[(group, "RUS")] += gap
        fillers[(plan.GROUPS[1] if group == plan.GROUPS[0] else plan.GROUPS[0], "RUS")] -= gap
    blank = _blank_calibre_units(fixed, fillers, family_of)
    records = list(fixed)
    for (group, origin), units in sorted(fillers.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")
                                         ):
        records += _filler(rng, group, origin, units, blank.get((group, origin), 0))
    return records


def _blank_calibre_units(fixed: list[Record], fillers: dict[tuple[str, str | None], int],
                         family_of: dict[str, str]) -> dict[tuple[str, str | None], int]:
    """How many filler units of Russian and Chinese cartridges carry no legible calibre, so
    that NATO calibres make the plan's share of ammunition of known family."""
    families = _calibre_units(fixed, family_of)
    nato = families["nato"] + sum(
        units for (_, origin), units in fillers.items()
        if origin in plan.FILLER_CALIBRES and family_of[plan.FILLER_CALIBRES[origin][0]] == "nato")
    warsaw_pact = families["warsaw_pact"] + sum(
        units for (_, origin), units in fillers.items()
        if origin is not None and family_of[
            plan.FILLER_CALIBRES.get(origin, plan.DEFAULT_FILLER_CALIBRES)[0]] == "warsaw_pact")
    other = families["other"]
    wanted = round(nato / plan.NATO_SHARE_OF_AMMUNITION) - nato - other
    surplus = warsaw_pact - wanted
    assert surplus >= 0, "plan: too few Warsaw Pact units to reach the NATO share"
    keys = [(g, o) for g in plan.GROUPS for o in ("RUS", "CHN")]
    return apportion(surplus, {key: fillers[key] for key in keys})


# --- IED components --------------------------------------------------------------------

def ied_records(rng: random.Random) -> list[Record]:
    """Components traced to the plan's companies (each in one country), one of them from a
    lot whose commercial sale a transfer record documents; then IED materiel with no traced
    manufacturer. Counted in items (rows), whatever their quantity."""
    companies = [f"Company {chr(65 + n // 26)}{chr(65 + n % 26)}"
                 for n in range(plan.IED_COMPANIES)]
    records = []
    for n in range(plan.IED_COMPONENTS):
        company = n % plan.IED_COMPANIES
        records.append(Record("", "Syria" if n % 3 == 2 else "Iraq",
                              rng.choice(plan.IED_CATEGORIES), None, None,
                              plan.IED_COUNTRIES[company % len(plan.IED_COUNTRIES)],
                              rng.randint(2012, 2016), rng.choice(plan.IED_SIZES),
                              manufacturer=companies[company]))
    records[plan.COMPONENT_COMPANY] = records[plan.COMPONENT_COMPANY].copy(  # the lot's maker
        documented_in="Iraq", category="detonator", model=plan.COMPONENT_MODEL,
        lot=plan.COMPONENT_LOT, year=plan.COMPONENT_SHIPPED_ON.year, quantity=1,
        documented_on=plan.COMPONENT_RECOVERED_ON)
    for producer, count in plan.IED_UNTRACED.items():
        for n in range(count):
            records.append(Record("", "Syria" if n % 3 == 2 else "Iraq",
                                  rng.choice(("ied component", "precursor")), None, None, None,
                                  rng.randint(2015, 2016), rng.choice(plan.IED_SIZES),
                                  producer=producer))
    return records


def site_coordinates(site: str) -> tuple[str, str]:
    """(latitude, longitude) of a regular site as a team writes them: its town's position,
    moved 0.01 degrees north-east per site number so that sites of one town are distinct
    points; ("", "") for a site of no known town."""
    town, _, rest = site.partition(", ")
    if town not in TOWN_COORDINATES:
        return "", ""
    number = int(rest.removeprefix("site ")) if rest.startswith("site ") else 0
    latitude, longitude = TOWN_COORDINATES[town]
    return f"{latitude + 0.01 * number:.4f}", f"{longitude + 0.01 * number:.4f}"
