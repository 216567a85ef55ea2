"""Reference data: the editable CSVs under data/reference plus ISO 3166 from pycountry.

pycountry supplies every current country (codes, official and common names) and the historic
states; the CSVs only add what it lacks: aliases, successors, display names, EU membership,
calibres, categories and model designations. Lookups are built once per build and applied to
the distinct values of a column, never row by row.
"""

from __future__ import annotations

import importlib.util
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from pathlib import Path

import polars as pl
import pycountry

from pipeline.columns import (
    CONTRACTS,
    HEADER_ALIASES_COLUMNS,
    HEADER_ALIASES_FILE,
    Contract,
    HeaderAliasError,
)
from pipeline.countries import CountryMatch, CountryMatcher, country_key

REFERENCE_FILES: dict[str, str] = {
    "country_aliases": "country_aliases.csv",
    "ambiguous_countries": "ambiguous_countries.csv",
    "country_regions": "country_regions.csv",
    "extra_states": "extra_states.csv",
    "historic_states": "historic_states.csv",
    "country_display_names": "country_display_names.csv",
    "eu_membership": "eu_membership.csv",
    "categories": "categories.csv",
    "category_synonyms": "category_synonyms.csv",
    "calibres": "calibres.csv",
    "models": "models.csv",
    "header_aliases": HEADER_ALIASES_FILE,
    "non_state_producers": "non_state_producers.csv",
}

REFERENCE_TYPES: dict[str, dict[str, type[pl.DataType]]] = {
    "eu_membership": {"joined_on": pl.Date, "left_on": pl.Date},
    "categories": {"serial_numbered": pl.Boolean},
    "models": {"anti_armour": pl.Boolean},
}

# Cyrillic capitals that field teams (or their keyboards) type for the Latin letters they resemble.
CYRILLIC_LOOKALIKES = dict(zip("АВЕКМНОРСТХУ", "ABEKMHOPCTXY", strict=True))


def converter_countries() -> pl.DataFrame:
    """country_converter's table of countries (names, curated regular expressions, ISO
    codes, UN membership), read from the file the package ships, so it works offline. Its
    own loader is not used: under pandas 3 it reads empty ISO2 cells as missing and fails."""
    spec = importlib.util.find_spec("country_converter")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("country_converter is not installed: run `make setup`")
    table = Path(spec.submodule_search_locations[0]) / "country_data.tsv"
    return pl.read_csv(table, separator="\t", infer_schema=False,
                       columns=["name_short", "name_official", "regex", "ISO3", "UNmember"])


def designation_key(text: str) -> str:
    """Fold a model designation: upper case, Cyrillic look-alikes as Latin, separators gone."""
    upper = text.upper().translate(str.maketrans(CYRILLIC_LOOKALIKES))
    return re.sub(r"[^0-9A-Z]+", "", unicodedata.normalize("NFKD", upper))


def category_key(text: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.casefold()).split())


def _calibre_fold(text: str) -> str:
    folded = text.casefold().replace(",", ".").replace("×", "x").replace("х", "x")
    return re.sub(r"\s+", "", folded.replace("*", "x"))


_CARTRIDGE = re.compile(r"^(\d+(?:\.\d+)?)x(\d+(?:\.\d+)?)(?:mm)?(sr|r|b)?")
_BORE = re.compile(r"^(\d+(?:\.\d+)?)mm$")


def _number(text: str) -> str:
    return format(Decimal(text).normalize(), "f")


@dataclass(frozen=True)
class Reference:
    """All reference tables, as loaded from one folder."""

    tables: dict[str, pl.DataFrame]

    @classmethod
    def load(cls, folder: Path) -> Reference:
        tables = {
            name: pl.read_csv(folder / file, infer_schema=False,
                              schema_overrides=REFERENCE_TYPES.get(name))
            for name, file in REFERENCE_FILES.items()
        }
        reference = cls(tables)
        for dataset in CONTRACTS:  # a wrong alias file fails the build here, by its line
            reference.contract(dataset)
        return reference

    def contract(self, dataset: str) -> Contract:
        """The dataset's contract with this folder's header aliases (header_aliases.csv)."""
        aliases = self.tables["header_aliases"]
        missing = [c for c in HEADER_ALIASES_COLUMNS if c not in aliases.columns]
        if missing:
            raise HeaderAliasError(f"{HEADER_ALIASES_FILE}: the first line must name the "
                                   f"columns {', '.join(HEADER_ALIASES_COLUMNS)} (missing: "
                                   f"{', '.join(missing)})")
        return CONTRACTS[dataset].with_aliases(aliases.select(HEADER_ALIASES_COLUMNS).rows())

    # --- countries -------------------------------------------------------------------------

    @cached_property
    def countries(self) -> pl.DataFrame:
        """code, name, present_code, present_name, historic: every state a log may name."""
        overrides = dict(self.tables["country_display_names"].select("code", "display_name").rows())
        current = [
            (c.alpha_3, overrides.get(c.alpha_3, getattr(c, "common_name", None) or c.name))
            for c in pycountry.countries
        ]
        current += self.tables["extra_states"].select("code", "name").rows()
        current_frame = pl.DataFrame(current, schema=["code", "name"], orient="row").with_columns(
            present_code=pl.col("code"), present_name=pl.col("name"), historic=pl.lit(False)
        )
        names = dict(current)
        historic = self.tables["historic_states"].select(
            "code",
            "name",
            present_code=pl.col("successor_code"),
            present_name=pl.col("successor_code").replace_strict(names, default=None),
            historic=pl.lit(True),
        )
        return pl.concat([current_frame, historic]).sort("code")

    @cached_property
    def country_matcher(self) -> CountryMatcher:
        """Every spelling of every state the libraries and tables know (pipeline/countries.py
        says in which order they are tried)."""
        states = self.countries
        historic_codes = set(self.tables["historic_states"]["code"])
        codes = [(c.alpha_3, getattr(c, a)) for c in pycountry.countries
                 for a in ("alpha_2", "alpha_3")]
        codes += [(h.alpha_3, getattr(h, a)) for h in pycountry.historic_countries
                  for a in ("alpha_2", "alpha_3")
                  if h.alpha_3 in historic_codes and getattr(h, a, None)]
        names = [(c.alpha_3, getattr(c, a)) for c in pycountry.countries
                 for a in ("name", "official_name", "common_name") if getattr(c, a, None)]
        names += [(h.alpha_3, h.name) for h in pycountry.historic_countries
                  if h.alpha_3 in historic_codes]
        names += [(code, name) for code, name in states.select("code", "name").rows()]
        converter = converter_countries().filter(pl.col("ISO3").is_in(states["code"].to_list()))
        for code, short, official in converter.select("ISO3", "name_short",
                                                      "name_official").rows():
            names += [(code, n) for n in (short, official) if n]
        ambiguous = [(spelling, tuple(c.strip() for c in candidates.split("|")))
                     for spelling, candidates in self.tables["ambiguous_countries"].select(
                         "spelling", "candidates").rows()]
        members = set(converter.filter(pl.col("UNmember").is_not_null())["ISO3"])
        return CountryMatcher(
            codes=codes,
            names=names,
            aliases=self.tables["country_aliases"].select("alias", "code").rows(),
            ambiguous=ambiguous,
            regions=list(self.tables["country_regions"]["region"]),
            members=members | set(self.tables["extra_states"]["code"]) | {"VAT", "PSE"},
            patterns=[(code, re.compile(regex, re.IGNORECASE))
                      for code, regex in converter.select("ISO3", "regex").rows() if regex],
            present=dict(states.select("code", "present_code").rows()),
        )

    def country(self, spelling: str) -> CountryMatch:
        return self.country_matcher.match(spelling)

    def country_code(self, spelling: str) -> str | None:
        """The recorded state's code, or None (unknown, ambiguous or a region)."""
        return self.country(spelling).code

    def country_issue(self, spelling: str) -> str | None:
        """Why a spelling names no state, when it is not merely unknown: `could be A (X) or
        B (Y)` for an ambiguous one, `region` for a region or group of countries."""
        found = self.country(spelling)
        if found.region:
            return "region"
        if not found.ambiguous:
            return None
        names = dict(self.countries.select("code", "name").rows())
        described = [f"{names[c]} ({c})" if c in names else c for c in found.candidates]
        return "could be " + ", ".join(described[:-1]) + " or " + described[-1]

    # --- non-state producers ---------------------------------------------------------------

    @cached_property
    def producers_by_key(self) -> dict[str, str]:
        """Folded spelling -> the producer's display name (non_state_producers.csv)."""
        spellings = self.tables["non_state_producers"].select("spelling", "producer").rows()
        return {country_key(spelling): producer for spelling, producer in spellings}

    def producer(self, spelling: str) -> str | None:
        """The non-state producer a country_of_manufacture names, matched like a country (any
        case, spaces and punctuation); None when it names none. Consulted before the
        countries: a producer is never read as a state."""
        return self.producers_by_key.get(country_key(spelling))

    # --- categories, models, calibres ------------------------------------------------------

    @cached_property
    def category_by_key(self) -> dict[str, str]:
        synonyms = self.tables["category_synonyms"].select("synonym", "category").rows()
        return {category_key(s): c for s, c in synonyms}

    def category(self, text: str) -> str | None:
        key = category_key(text)
        found = self.category_by_key.get(key)
        if found is None and key.endswith("s"):  # plurals: "rifles", "hand grenades"
            found = self.category_by_key.get(key[:-1])
        return found

    @cached_property
    def models_by_key(self) -> dict[str, tuple[str, bool]]:
        """Folded designation or alias -> (canonical model, anti-armour)."""
        lookup: dict[str, tuple[str, bool]] = {}
        for model, anti_armour, aliases in self.tables["models"].select(
            "model", "anti_armour", "aliases"
        ).rows():
            entry = (model, anti_armour)
            for spelling in [model, *(aliases or "").split("|")]:
                if spelling:
                    lookup[designation_key(spelling)] = entry
        return lookup

    @cached_property
    def calibres_by_key(self) -> dict[str, tuple[str, str]]:
        """Folded designation or alias -> (canonical calibre, family)."""
        lookup: dict[str, tuple[str, str]] = {}
        for calibre, family, aliases in self.tables["calibres"].select(
            "calibre", "family", "aliases"
        ).rows():
            for spelling in [calibre, *(aliases or "").split("|")]:
                if spelling:
                    lookup[_calibre_fold(spelling)] = (calibre, family)
        return lookup

    def calibre(self, text: str) -> tuple[str, str] | None:
        """(designation, family) for a recorded calibre, or None when it cannot be read.

        A calibre that parses but is not in the table is recognised as family `other`.
        """
        folded = _calibre_fold(text)
        if folded in self.calibres_by_key:
            return self.calibres_by_key[folded]
        if cartridge := _CARTRIDGE.match(folded):
            bore, case, suffix = cartridge.groups()
            designation = f"{_number(bore)}x{_number(case)}mm{(suffix or '').upper()}"
        elif bore_only := _BORE.match(folded):
            designation = f"{_number(bore_only.group(1))}mm"
        else:
            return None
        return self.calibres_by_key.get(_calibre_fold(designation), (designation, "other"))
