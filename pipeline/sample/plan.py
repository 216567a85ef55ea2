"""The calibration: what the curated items of the synthetic sample must contain.

Every number here comes from CAR's published reports (data/raw/SYNTHETIC.md); the comment beside
each says which published figure it carries. The generator adds duplicates, old versions and
invalid rows on top, and the pipeline must remove exactly those to get back to this plan.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

FIELDWORK_START = dt.date(2014, 7, 14)  # "July 2014 to November 2017"
FIELDWORK_END = dt.date(2017, 11, 28)
SUBSTUDY_END = dt.date(2014, 8, 29)  # the October 2014 study: July-August 2014

DEFAULT_SEED = 2017
GROUPS = ("Iraq", "Syria")
GROUP_CODES = {"Iraq": "IRQ", "Syria": "SYR"}
WEAPONS = {"Iraq": 1270, "Syria": 562}  # weapons documented
AMMUNITION_UNITS = {"Iraq": 29168, "Syria": 11816}  # units of ammunition documented
SITES = {"Iraq": 84, "Syria": 27}  # documentation sites
IED_COMPONENTS = 712  # "more than 700 IED components ... 51 companies in 20 countries"

# Weapons by present-day country of manufacture, of 1,800 weapons of known origin: China 43.5%,
# Romania 12.1%, Russia 9.6%, ..., Iran 0.9%; eight more states at 0.56% each ("each below
# 0.9%"). The EU members among them make 586 / 1,800 = 32.6% ("about 30%").
WEAPONS_BY_ORIGIN: dict[str | None, int] = {
    "CHN": 783, "ROU": 218, "RUS": 173, "HUN": 130, "BGR": 95, "SRB": 72, "DEU": 65,
    "IRQ": 58, "POL": 40, "CZE": 38, "USA": 32, "IRN": 16,
    "BLR": 10, "SYR": 10, "EGY": 10, "PRK": 10, "TUR": 10, "PAK": 10, "SDN": 10, "UKR": 10,
    None: 28,  # unknown origin: reported, outside the shares
}
# "More than half of all weapons" were made by Russia and China in 1960-1989: 940 of 1,832.
CHINA_RUSSIA_1960_1989 = {"CHN": 780, "RUS": 160}

# Ammunition units by present-day country of manufacture, of 40,000 units of known origin:
# Russia 25.5%, China 25.4%, Serbia 1,211, Bosnia and Herzegovina 704, Albania 53; EU members
# 8,000 (20%, "about 20%").
AMMUNITION_BY_ORIGIN: dict[str | None, int] = {
    "RUS": 10200, "CHN": 10160,
    "BGR": 3000, "ROU": 2200, "HUN": 900, "CZE": 700, "POL": 500, "DEU": 400, "GBR": 290,
    "BEL": 10,
    "SRB": 1211, "BIH": 704, "ALB": 53,
    "USA": 3800, "IRN": 1700, "SDN": 1400, "UKR": 900, "IRQ": 600, "SYR": 500, "TUR": 400,
    "EGY": 364, "PAK": 8,
    None: 984,
}
ALBANIA_BY_GROUP = {"Iraq": 21, "Syria": 32}  # "Albania 53 units (21 in Iraq, 32 in Syria)"
NATO_SHARE_OF_AMMUNITION = 0.13  # Warsaw Pact 87% of ammunition of known calibre family


@dataclass(frozen=True)
class Cohort:
    """Records of one kind: `units` in all, split into records of the given sizes."""

    group: str | None  # None: spread over the sites of the 2014 study
    category: str
    model: str | None
    calibre: str | None
    origin: str | None
    years: tuple[int, int] | None  # inclusive range, None: unknown
    units: int
    sizes: tuple[int, ...] = (1,)
    lot: str | None = None
    producer: str | None = None  # a non-state producer (origin is then None)


# Anti-armour ammunition documented in Iraq, 1,000 units of known year. Made 2014 or later:
# 390 (39%, "almost 40%"); of those, EU 60 + 14 = 74 (19%, "nearly 20%"). Made 2010-2013: 210,
# EU 100 + 66 = 166; so since 2010, EU 240 / 600 = 40%. 50 more units have no year.
ROCKET_SIZES = (1, 2, 4, 6, 10, 12)
PG9_LOT = "12-14-451"  # the lot Romania sold to the US military in October 2014
ANTI_ARMOUR = (
    Cohort("Iraq", "rocket", "PG-7VL", None, "BGR", (2015, 2015), 59, ROCKET_SIZES),
    Cohort("Iraq", "rocket", "PG-9", "73mm", "ROU", (2014, 2014), 14, (2, 4), lot=PG9_LOT),
    Cohort("Iraq", "rocket", "PG-7VM", None, "IRN", (2014, 2016), 200, ROCKET_SIZES),
    Cohort("Iraq", "rocket", "PG-7VL", None, "SDN", (2015, 2015), 116, ROCKET_SIZES),
    Cohort("Iraq", "rocket", "PG-7VL", None, "BGR", (2011, 2013), 100, ROCKET_SIZES),
    Cohort("Iraq", "rocket", "PG-9", "73mm", "ROU", (2010, 2012), 66, ROCKET_SIZES),
    Cohort("Iraq", "rocket", "PG-7V", None, "CHN", (2012, 2012), 44, ROCKET_SIZES),
    Cohort("Iraq", "rocket", "PG-7V", None, "RUS", (1975, 1989), 200, ROCKET_SIZES),
    Cohort("Iraq", "rocket", "PG-7V", None, "CHN", (1990, 2005), 120, ROCKET_SIZES),
    Cohort("Iraq", "rocket", "PG-7V", None, "BGR", (1980, 1989), 80, ROCKET_SIZES),
    Cohort("Iraq", "rocket", "PG-7V", None, "RUS", None, 50, ROCKET_SIZES),
    Cohort("Syria", "rocket", "PG-7V", None, "RUS", (1980, 1989), 150, ROCKET_SIZES),
    Cohort("Syria", "guided missile", "9M113", None, "RUS", (1985, 1989), 10),
)
# The 9M111 missile exported by Bulgaria in December 2015 and recovered 59 days later: one
# more recent EU anti-armour unit in Iraq (the 60 of BGR above counts it).
MISSILE_SHIPPED_ON = dt.date(2015, 12, 11)
MISSILE_RECOVERED_ON = MISSILE_SHIPPED_ON + dt.timedelta(days=59)
MISSILE_SERIAL = "0447-15"
MISSILE_LOT = "07-15"
# Romania's PG-9 sale to the US military, October 2014 (9,252 rockets, no-retransfer clause).
PG9_SHIPPED_ON = dt.date(2014, 10, 6)
PG9_QUANTITY = 9252

# The group's own production (country of manufacture written `Islamic State`, `IS-made`,
# `Daesh`...): mortar rounds and rockets it made, carved out of the 984 units of unknown origin
# (like them, outside every origin share, so the published shares stay), one mortar lot found on
# many sites in both countries; and weapons improvised by a maker the logs do not name, 4 of
# the 32 weapons of unknown origin. Their bores are Warsaw Pact ones (82 mm, 122 mm): calibres
# of neither family would take the Warsaw Pact share of ammunition below the published 87%.
ISLAMIC_STATE = "Islamic State"
IMPROVISED = "Unnamed improvised producer"
IS_MORTAR_LOT = "IS-82-0415"
NON_STATE_AMMUNITION = (
    Cohort("Iraq", "mortar round", "IS 82mm mortar", "82mm", None, (2015, 2016), 200,
           (5, 10, 20), lot=IS_MORTAR_LOT, producer=ISLAMIC_STATE),
    Cohort("Syria", "mortar round", "IS 82mm mortar", "82mm", None, (2015, 2016), 100,
           (5, 10, 20), lot=IS_MORTAR_LOT, producer=ISLAMIC_STATE),
    Cohort("Iraq", "rocket", "IS 122mm rocket", "122mm", None, (2016, 2016), 60, (2, 4, 6),
           producer=ISLAMIC_STATE),
)
NON_STATE_WEAPONS = 4  # "improvised" launchers: of the 32 weapons of unknown origin
# One lot, several fronts: Russian hand grenades of one lot in both countries, and its near
# misses, the same lot number on another model and on grenades made elsewhere (other lots).
GRENADE_LOT = "12-83-074"
LOT_SPREAD = (
    Cohort("Iraq", "grenade", "RGD-5", None, "RUS", (1983, 1983), 60, (10, 20),
           lot=GRENADE_LOT),
    Cohort("Syria", "grenade", "RGD-5", None, "RUS", (1983, 1983), 40, (10, 20),
           lot=GRENADE_LOT),
    Cohort("Syria", "grenade", "F-1", None, "RUS", (1983, 1983), 40, (10, 20),
           lot=GRENADE_LOT),
    Cohort("Iraq", "grenade", "RGD-5", None, "BGR", (1983, 1983), 30, (10, 20),
           lot=GRENADE_LOT),
)

# Not anti-armour: a fragmentation rocket, the near miss of the anti-armour figure.
OTHER_AMMUNITION = (
    Cohort("Iraq", "rocket", "OG-7V", None, "BGR", (2015, 2015), 100, ROCKET_SIZES),
    Cohort("Iraq", "grenade", "RGD-5", None, "RUS", (1970, 1989), 400, (10, 20, 40)),
    Cohort("Syria", "grenade", "F-1", None, "RUS", (1965, 1985), 200, (10, 20)),
    Cohort("Iraq", "mortar round", None, "82mm", "SRB", (1985, 1991), 300, (10, 20, 30)),
    Cohort("Syria", "mortar round", None, "120mm", "IRN", (2008, 2013), 60, (5, 10)),
    Cohort("Syria", "cartridge", None, "7.92x57mm", "DEU", (1939, 1944), 40, (10, 20)),
)

# The October 2014 study: 1,730 cartridges at four locations, July-August 2014, from 21
# countries, made 1945-2014. 170 made 2010-2014, of which Bulgaria 50 and China 45 (more than
# half). Russia counts the USSR.
SUBSTUDY_SIZES = (2, 5, 8, 10, 15, 20)
SUBSTUDY = (
    Cohort(None, "cartridge", None, "7.62x54mmR", "RUS", (1945, 1945), 2, (2,)),
    Cohort(None, "cartridge", None, "7.62x39mm", "RUS", (1950, 1991), 420, SUBSTUDY_SIZES),
    Cohort(None, "cartridge", None, "7.62x54mmR", "RUS", (1992, 2009), 70, SUBSTUDY_SIZES),
    Cohort(None, "cartridge", None, "7.62x39mm", "CHN", (1965, 2009), 400, SUBSTUDY_SIZES),
    Cohort(None, "cartridge", None, "7.62x39mm", "CHN", (2011, 2014), 45, SUBSTUDY_SIZES),
    Cohort(None, "cartridge", None, "5.56x45mm", "USA", (1990, 2009), 283, SUBSTUDY_SIZES),
    Cohort(None, "cartridge", None, "7.62x51mm", "USA", (2010, 2012), 40, SUBSTUDY_SIZES),
    Cohort(None, "cartridge", None, "7.62x39mm", "ROU", (1975, 1989), 77, SUBSTUDY_SIZES),
    Cohort(None, "cartridge", None, "7.62x39mm", "IRN", (1990, 2008), 26, SUBSTUDY_SIZES),
    Cohort(None, "cartridge", None, "7.62x39mm", "SYR", (1985, 2000), 18, SUBSTUDY_SIZES),
    Cohort(None, "cartridge", None, "7.62x39mm", "BGR", (2010, 2013), 50, SUBSTUDY_SIZES),
    Cohort(None, "cartridge", None, "7.62x54mmR", "BGR", (1975, 1989), 10, SUBSTUDY_SIZES),
    Cohort(None, "cartridge", None, "7.62x39mm", "SRB", (1970, 1990), 40, SUBSTUDY_SIZES),
    Cohort(None, "cartridge", None, "7.62x39mm", "SDN", (2011, 2013), 35, SUBSTUDY_SIZES),
    Cohort(None, "cartridge", None, "7.62x39mm", "UKR", (1992, 2005), 30, SUBSTUDY_SIZES),
    Cohort(None, "cartridge", None, "7.62x39mm", "HUN", (1965, 1985), 25, SUBSTUDY_SIZES),
    Cohort(None, "cartridge", None, "7.62x39mm", "CZE", (1955, 1970), 25, SUBSTUDY_SIZES),
    Cohort(None, "cartridge", None, "7.62x39mm", "POL", (1965, 1985), 20, SUBSTUDY_SIZES),
    Cohort(None, "cartridge", None, "7.62x39mm", "DEU", (1965, 1985), 20, SUBSTUDY_SIZES),
    Cohort(None, "cartridge", None, "7.62x39mm", "EGY", (1980, 2000), 20, SUBSTUDY_SIZES),
    Cohort(None, "cartridge", None, "7.62x39mm", "IRQ", (1980, 1990), 20, SUBSTUDY_SIZES),
    Cohort(None, "cartridge", None, "7.62x39mm", "BIH", (1993, 2005), 15, SUBSTUDY_SIZES),
    Cohort(None, "cartridge", None, "7.62x51mm", "GBR", (1970, 1990), 15, SUBSTUDY_SIZES),
    Cohort(None, "cartridge", None, "7.62x51mm", "BEL", (1975, 1995), 10, SUBSTUDY_SIZES),
    Cohort(None, "cartridge", None, "7.62x51mm", "PAK", (1985, 2000), 8, SUBSTUDY_SIZES),
    Cohort(None, "cartridge", None, "7.62x51mm", "TUR", (1990, 2005), 6, SUBSTUDY_SIZES),
)
SUBSTUDY_SITES = {"Iraq": 2, "Syria": 2}

# What the rest of each country's ammunition is: cartridges of these calibres, made in these
# years (filled up to the country's total by records.py).
FILLER_CALIBRES: dict[str | None, tuple[str, ...]] = {
    "USA": ("5.56x45mm", "7.62x51mm", "12.7x99mm", "9x19mm"),
    "GBR": ("7.62x51mm", "5.56x45mm"), "BEL": ("7.62x51mm",), "TUR": ("5.56x45mm", "9x19mm"),
    "DEU": ("7.62x51mm", "9x19mm"), "PAK": ("7.62x51mm",),
    "RUS": ("7.62x39mm", "7.62x54mmR", "12.7x108mm", "5.45x39mm", "14.5x114mm"),
    "CHN": ("7.62x39mm", "7.62x54mmR", "12.7x108mm"),
}
DEFAULT_FILLER_CALIBRES = ("7.62x39mm", "7.62x54mmR", "12.7x108mm")
FILLER_YEARS = (1960, 2013)
FILLER_SIZES = (20, 30, 40, 60, 100, 120, 250, 440, 700, 1200)

# Weapon models by country: (model, calibre, first year, last year).
WEAPON_MODELS: dict[str | None, tuple[tuple[str, str, int, int], ...]] = {
    "CHN": (("Type 56", "7.62x39mm", 1960, 1989), ("Type 56-1", "7.62x39mm", 1965, 1989),
            ("Type 56-2", "7.62x39mm", 1980, 1989)),
    "RUS": (("AKM", "7.62x39mm", 1960, 1989), ("PKM", "7.62x54mmR", 1970, 1989),
            ("SVD", "7.62x54mmR", 1970, 1989), ("DShKM", "12.7x108mm", 1960, 1989)),
    "ROU": (("PM md. 63", "7.62x39mm", 1965, 1989),),
    "HUN": (("AMD-65", "7.62x39mm", 1965, 1980),),
    "BGR": (("AR-M1", "7.62x39mm", 1990, 2012), ("AKM", "7.62x39mm", 1975, 1989)),
    "SRB": (("M70", "7.62x39mm", 1970, 1999),),
    "DEU": (("MPi-KM", "7.62x39mm", 1965, 1989),),
    "IRQ": (("Tabuk", "7.62x39mm", 1980, 1989),),
    "POL": (("PMK", "7.62x39mm", 1960, 1980),),
    "CZE": (("vz. 58", "7.62x39mm", 1959, 1984),),
    "USA": (("M16A2", "5.56x45mm", 1990, 2005), ("M4", "5.56x45mm", 2000, 2010)),
    "IRN": (("KL-7.62", "7.62x39mm", 2000, 2012),),
}
DEFAULT_WEAPON_MODELS = (("AKM", "7.62x39mm", 1965, 1995), ("PKM", "7.62x54mmR", 1975, 2000))
GERMAN_NATO_WEAPONS = 23  # G3 rifles: with the 32 US rifles, NATO calibre is 55 / 1,832 = 3%
WEAPON_UNKNOWN_YEAR_EVERY = 20  # one weapon in 20 (outside China and Russia) has no year

IED_COUNTRIES = ("TUR", "IND", "CHN", "ROU", "JPN", "USA", "BRA", "NLD", "AUT", "CHE", "CZE",
                 "RUS", "BEL", "VNM", "IRN", "IRQ", "ARE", "LBN", "MYS", "SYR")
IED_CATEGORIES = ("detonator", "fuze", "ied component")  # as field teams write them
IED_SIZES = (1, 1, 1, 1, 2, 5, 10)  # an item of IED materiel may be a bag of several
IED_COMPANIES = 51  # company n is in IED_COUNTRIES[n % 20]
# IED materiel with no traced manufacturer: of unknown origin, made by the group itself
# (pressure plates, containers, home-made explosive precursors), and improvised by someone
# the logs do not name.
IED_UNTRACED = {None: 30, ISLAMIC_STATE: 60, IMPROVISED: 15}
# "Components reached IS as little as one month after lawful supply": a lot of detonators that
# a manufacturer sold to a distributor (a commercial transfer record), one of them recovered 31
# days later.
COMPONENT_MODEL = "ED-8"
COMPONENT_LOT = "ED-0115-07"
COMPONENT_COMPANY = 1  # Company AB, in India
COMPONENT_SHIPPED_ON = dt.date(2015, 2, 2)
COMPONENT_RECOVERED_ON = COMPONENT_SHIPPED_ON + dt.timedelta(days=31)
COMPONENT_QUANTITY = 5000
