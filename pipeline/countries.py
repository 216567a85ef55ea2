"""Country spellings to states: the project's reference tables first, then every name
pycountry and country_converter know, compared as bags of words, then country_converter's
curated regular expressions under a guard.

A spelling is matched once per distinct value (clean and transfers map distinct values), so
the work here never runs per row. The order, and why:

1. `country_aliases.csv`: a user's deliberate entries win over everything, so an alias
   resolves a spelling that would otherwise be ambiguous (`Congo`).
2. `ambiguous_countries.csv`: spellings that name more than one state (or a state and an
   armed group: `IS`) are quarantined naming the candidates, even where a library would
   pick one.
3. Exact names and codes (ISO 3166 from pycountry, the historic states, country_converter's
   short and official names), compared after folding case, accents and punctuation.
4. `country_regions.csv`: regions and groups of countries are never a country.
5. The same names as bags of words, after the rules real datasets need: reversed official
   forms (`Korea, Rep.`), abbreviations (`Rep.`, `Dem.`, `St.`, `Is.`, `Fed.`, `PDR`,
   `SAR`), `&`, a leading or trailing `The`, a part in brackets or after `/` (`Myanmar
   (Burma)`, `Guam (US)`); then a name that differs only in generic words (republic,
   kingdom, islands: `Ethiopia PDR`), which is ambiguous when it fits two states (`Korea`,
   `Virgin Islands`).
6. Words of regions (`Africa`, `income`, `countries`) make a region.
7. country_converter's regular expressions, accepted only when exactly one matches and
   every word of the spelling is either a word of that state's names or matched by its
   expression: `Hezbollah (Lebanon)` is not Lebanon, `Ivory Coast` is Côte d'Ivoire.

Producers that are not states (armed groups, improvised production) are looked up before
this matcher by its caller; `IS` stays ambiguous here.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

# Abbreviations and synonyms, word by word, applied to names and spellings alike.
WORD_FORMS: dict[str, tuple[str, ...]] = {
    "rep": ("republic",), "repub": ("republic",), "dem": ("democratic",),
    "demo": ("democratic",), "fed": ("federal",), "federated": ("federal",),
    "federation": ("federal",), "sts": ("states",), "st": ("saint",), "ste": ("saint",),
    "sainte": ("saint",), "is": ("islands",), "isl": ("islands",), "island": ("islands",),
    "isles": ("islands",), "people": ("peoples",), "popular": ("peoples",),
    "pr": ("peoples", "republic"), "dr": ("democratic", "republic"),
    "pdr": ("peoples", "democratic", "republic"), "sar": ("special", "administrative", "region"),
    "rb": ("bolivarian", "republic"), "bolivariana": ("bolivarian",),
    "fyr": ("yugoslav", "republic"), "uk": ("british",), "britain": ("british",),
    "usa": ("us",), "american": ("us",), "america": ("us",), "french": ("france",),
    "dutch": ("netherlands",), "chinese": ("china",), "danish": ("denmark",),
    "norwegian": ("norway",), "prov": ("province",), "terr": ("territory",),
    "arabic": ("arab",), "rp": ("republic",), "islas": ("islands",), "iles": ("islands",),
    "nz": ("newzealand",),
}
# Words that carry no meaning in a country name here.
STOPWORDS = frozenset({"the", "of", "and", "de", "da", "del", "des", "la", "le", "y", "et",
                       "former", "part", "mainland", "metropolitan", "proper", "formerly",
                       "ex"})
# Words that say what kind of state (or whose territory) a name is, not which one: a name
# that differs from a known one only in these still names it, if only one state fits.
GENERIC = frozenset({
    "republic", "democratic", "peoples", "islamic", "arab", "federal", "kingdom", "state",
    "states", "united", "union", "socialist", "plurinational", "bolivarian", "principality",
    "grand", "duchy", "commonwealth", "sultanate", "special", "administrative", "region",
    "province", "territory", "islands", "cooperative", "independent", "soviet", "strip",
})
# Words naming the states that have territories: a territory may carry its sovereign in
# brackets (`Guam (US)`); they are dropped only when the rest names a territory, so that
# `Australia and New Zealand` is not New Zealand.
SOVEREIGNS = {"us": "USA", "british": "GBR", "france": "FRA", "netherlands": "NLD",
              "china": "CHN", "denmark": "DNK", "norway": "NOR", "australia": "AUS",
              "newzealand": "NZL", "portugal": "PRT", "spain": "ESP", "finland": "FIN"}
SOVEREIGN_WORDS = frozenset(SOVEREIGNS)
DIRECTIONS = frozenset({"north", "south", "east", "west", "northern", "southern", "eastern",
                        "western"})
REGION_WORDS = frozenset({
    "africa", "african", "asia", "asian", "europe", "european", "americas", "caribbean",
    "oceania", "pacific", "atlantic", "arctic", "world", "worldwide", "global", "income",
    "oecd", "euro", "eurozone", "region", "regions", "regional", "countries", "economies",
    "nations", "members", "developing", "developed", "emerging", "advanced", "saharan",
    "latin", "nordic", "scandinavia", "scandinavian", "balkans", "balkan", "levant",
    "maghreb", "sahel", "mena", "asean", "nato", "gulf", "middle", "continent", "total",
    "america", "polynesia", "melanesia",
})
_FOOTNOTES = re.compile(r"[*†‡§#]+|\[[^\]]*\]")
_DOTTED = re.compile(r"\b(?:[a-z]\.){2,}")
_POINTS = {"n": "north", "s": "south", "e": "east", "w": "west"}
_POINT = re.compile(r"\b([nsew])\.")  # `S. Korea`, once `U.S.` is `us`
_BRACKETS = re.compile(r"\(([^()]*)\)")


def country_key(text: str) -> str:
    """Fold a country spelling: accents, case, spaces and punctuation ignored."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if ch.isalnum()).casefold()


def _plain(text: str) -> str:
    """Lower case without accents, footnote marks or apostrophes; `U.S.` as `us`."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    plain = _FOOTNOTES.sub(" ", plain).replace("'", "").replace("\u2019", "").replace("&", " and ")
    plain = _DOTTED.sub(lambda m: m.group().replace(".", ""), plain)
    plain = _POINT.sub(lambda m: _POINTS[m.group(1)], plain)
    for phrase, word in (("new zealand", "newzealand"), ("united states", "us"),
                         ("united kingdom", "british")):
        plain = plain.replace(phrase, word)
    return plain


def words_of(text: str) -> list[str]:
    """The meaningful words of a name: abbreviations spelt out, stopwords dropped."""
    found: list[str] = []
    for word in re.findall(r"[a-z0-9]+", _plain(text)):
        found.extend(w for w in WORD_FORMS.get(word, (word,)) if w not in STOPWORDS)
    return found


def _distinct(bag: Iterable[str]) -> frozenset[str]:
    return frozenset(w for w in bag if w not in GENERIC)


def _generic(bag: Iterable[str]) -> frozenset[str]:
    return frozenset(w for w in bag if w in GENERIC)


def _closest(fits: list[tuple[str, frozenset[str]]],
             generic: frozenset[str]) -> list[tuple[str, frozenset[str]]]:
    """The names that share the most of the spelling's generic words and add the fewest of
    their own: `People's Republic of the Congo` is the Republic, not the Democratic
    Republic. Ties stay, and then the spelling is ambiguous."""
    def score(name: frozenset[str]) -> int:
        own = name - _distinct(name)
        return len(own & generic) - len(own - generic)

    best = max(score(n) for _, n in fits)
    return [(c, n) for c, n in fits if score(n) == best]


@dataclass(frozen=True)
class CountryMatch:
    """What a spelling names: a state (`code`), several (`candidates`, ambiguous), a region,
    or nothing known."""

    code: str | None = None
    candidates: tuple[str, ...] = ()
    region: bool = False

    @property
    def ambiguous(self) -> bool:
        return bool(self.candidates)


UNKNOWN = CountryMatch()
REGION = CountryMatch(region=True)


@dataclass
class CountryMatcher:
    """Spellings of states, indexed once per build.

    codes: (code, spelling) of every ISO code (matched whole only); names: (code, spelling)
    of every name a library or table knows (a spelling two states share is dropped);
    aliases: (spelling, code) from country_aliases.csv; ambiguous: (spelling, candidates)
    from ambiguous_countries.csv; regions: region spellings; members: codes of
    sovereign states (a bracketed sovereign is dropped only from territories); patterns:
    (code, regular expression) from country_converter; present: code -> present-day code.
    """

    codes: list[tuple[str, str]]
    names: list[tuple[str, str]]
    aliases: list[tuple[str, str]]
    ambiguous: list[tuple[str, tuple[str, ...]]]
    regions: list[str]
    members: set[str]
    patterns: list[tuple[str, re.Pattern[str]]]
    present: dict[str, str]
    _cache: dict[str, CountryMatch] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._alias_keys = {country_key(s): c for s, c in self.aliases if country_key(s)}
        self._alias_bags = {frozenset(words_of(s)): c for s, c in self.aliases if words_of(s)}
        self._ambiguous_keys = {country_key(s): c for s, c in self.ambiguous}
        self._ambiguous_bags = {frozenset(words_of(s)): c for s, c in self.ambiguous}
        self._region_keys = {country_key(r) for r in self.regions}
        self._region_bags = {frozenset(words_of(r)) for r in self.regions}
        keys: dict[str, set[str]] = {}
        bags: dict[frozenset[str], set[str]] = {}
        self._vocabulary: dict[str, set[str]] = {}
        for code, spelling in [*self.names, *((c, s) for s, c in self.aliases)]:
            keys.setdefault(country_key(spelling), set()).add(code)
            inside = [p for p in _BRACKETS.findall(spelling)  # `(Malvinas)`, not `(Dutch part)`
                      if _distinct(words_of(p)) - SOVEREIGN_WORDS]
            for variant in (spelling, _BRACKETS.sub(" ", spelling), *inside):
                bag = frozenset(words_of(variant))
                if bag:
                    bags.setdefault(bag, set()).add(code)
            self._vocabulary.setdefault(code, set()).update(words_of(spelling))
        conjuncts: dict[frozenset[str], set[str]] = {}
        for code, spelling in self.names:  # `Trinidad`, `Herzegovina`, `Northern Ireland`
            if re.search(r"\band\b|&", spelling, re.IGNORECASE):
                for part in re.split(r"\band\b|&|,", _BRACKETS.sub(" ", spelling),
                                     flags=re.IGNORECASE):
                    if _distinct(words_of(part)):
                        conjuncts.setdefault(frozenset(words_of(part)), set()).add(code)
        self._conjuncts = {b: next(iter(c)) for b, c in conjuncts.items() if len(c) == 1}
        for code, spelling in self.codes:
            keys.setdefault(country_key(spelling), set()).add(code)
        self._keys = {k: next(iter(c)) for k, c in keys.items() if len(c) == 1 and k}
        self._bags = {b: next(iter(c)) for b, c in bags.items() if len(c) == 1}
        self._by_distinct: dict[frozenset[str], list[tuple[str, frozenset[str]]]] = {}
        self._territories: dict[frozenset[str], list[tuple[str, frozenset[str]]]] = {}
        for bag, codes in bags.items():
            for code in codes:
                if _distinct(bag):
                    self._by_distinct.setdefault(_distinct(bag), []).append((code, bag))
                if code not in self.members and _distinct(bag - SOVEREIGN_WORDS):
                    self._territories.setdefault(_distinct(bag - SOVEREIGN_WORDS), []).append(
                        (code, bag))

    def match(self, text: str) -> CountryMatch:
        found = self._cache.get(text)
        if found is None:
            found = self._match(text)
            with self._lock:  # clean normalises two slices at a time, on two threads
                self._cache[text] = found
        return found

    def _match(self, text: str) -> CountryMatch:
        key = country_key(text)
        if not key:
            return UNKNOWN
        if key in self._alias_keys:
            return CountryMatch(self._alias_keys[key])
        if key in self._ambiguous_keys:
            return CountryMatch(candidates=self._ambiguous_keys[key])
        if key in self._keys:
            return CountryMatch(self._keys[key])
        if key in self._region_keys:
            return REGION
        outside = _BRACKETS.sub(" ", text)
        # a bracket of generic or sovereign words qualifies the name (`(Islamic Republic
        # of)`, `(US)`, `(French part)`); any other names something of its own (`(Burma)`)
        inside = [part for part in _BRACKETS.findall(text) if not self._qualifies(part)]
        parts = [p for p in re.split(r"/", outside) if words_of(p)]
        if inside or len(parts) > 1:
            return self._combine([self._match(p) for p in (*parts, *inside)], text)
        # `Sudan & South Sudan` is two states, though its words are South Sudan's
        joined = [p for p in re.split(r"\band\b|&", outside, flags=re.IGNORECASE)
                  if words_of(p)]
        if len(joined) > 1:
            named = [self._match(p) for p in joined]
            if all(m.code for m in named):
                return self._combine(named, text)
        found = self._by_words(words_of(text), text)
        qualifiers = _BRACKETS.findall(text)
        if found == UNKNOWN and qualifiers:  # `Holland (Netherlands)`: the bracket is a name
            named = [self._match(p) for p in (outside, *qualifiers)]
            if all(m.code for m in named):
                return self._combine(named, text)
        return found

    def _qualifies(self, part: str) -> bool:
        """Whether a bracketed part only qualifies the name before it (`(US)`, `(South)`,
        `(Islamic Republic of)`, `(French part)`) rather than naming a state of its own
        (`(Burma)`, `(Soviet Union)`)."""
        words = set(words_of(part))
        if words <= GENERIC:
            return self._match(part).code is None
        return words - GENERIC - DIRECTIONS <= SOVEREIGN_WORDS

    def _combine(self, matches: list[CountryMatch], text: str) -> CountryMatch:
        """`Myanmar (Burma)`, `Tanzania/Tanganyika`: every part must name a state, all the
        same present-day one; the first part's is kept, or a historic state one names. A
        part naming nothing known (`Hezbollah (Lebanon)`) leaves the whole unknown; a
        territory with its sovereign in brackets (`Guam (US)`) was handled before the parts
        were split."""
        codes = {m.code for m in matches if m.code}
        if len(codes) == 1 and all(m.code or codes <= set(m.candidates) for m in matches):
            return CountryMatch(codes.pop())  # `Congo (DRC)`: the part that decides
        named = [m.code for m in matches if m.code]
        if matches and len(named) == len(matches):
            if len({self.present.get(c, c) for c in named}) == 1:
                # `Germany (GDR)`: the historic state is the one recorded
                return CountryMatch(next((c for c in named if self.present.get(c, c) != c),
                                         named[0]))
            return CountryMatch(candidates=tuple(dict.fromkeys(named)))
        if any(m.region for m in matches) and not any(m.code for m in matches):
            return REGION
        return self._guarded_pattern(words_of(text), text)

    def _by_words(self, words: list[str], text: str) -> CountryMatch:
        bag = frozenset(words)
        if not bag:
            return UNKNOWN
        for table in (self._alias_bags, self._bags):
            if bag in table:
                return CountryMatch(table[bag])
        if bag in self._ambiguous_bags:
            return CountryMatch(candidates=self._ambiguous_bags[bag])
        if bag in self._region_bags:
            return REGION
        found = self._differs_in_generic_words(bag, self._by_distinct)
        if found is None and bag & SOVEREIGN_WORDS:  # `Guam (US)`, `Aruba, Kingdom of the ...`
            found = self._differs_in_generic_words(bag - SOVEREIGN_WORDS, self._territories)
        if found is not None and found.code and not self._generic_words_fit(bag, found.code):
            found = None  # `Islamic State of Iraq`: no name of Iraq says Islamic or State
        if found is not None:
            return found
        if bag in self._conjuncts:
            return CountryMatch(self._conjuncts[bag])
        if set(re.findall(r"[a-z]+", _plain(text))) & REGION_WORDS:
            return REGION
        return self._guarded_pattern(words, text)

    def _generic_words_fit(self, bag: frozenset[str], code: str) -> bool:
        """Whether every generic word of a spelling is in some name of the state, or of the
        sovereign it names (`Aruba, Kingdom of the Netherlands`)."""
        allowed = set(self._vocabulary.get(code, ()))
        for word in bag & SOVEREIGN_WORDS:
            allowed |= self._vocabulary.get(SOVEREIGNS[word], set())
        return _generic(bag) - {"islands", "strip"} <= allowed

    @staticmethod
    def _differs_in_generic_words(
        bag: frozenset[str], index: dict[frozenset[str], list[tuple[str, frozenset[str]]]],
    ) -> CountryMatch | None:
        distinct = _distinct(bag)
        if not distinct:
            return None
        fits = list(index.get(distinct, ()))
        generic = bag - distinct
        if len({c for c, _ in fits}) > 1 and generic:  # `Korea, Dem. Rep.`: they choose
            fits = [(c, n) for c, n in fits if generic <= n] or _closest(fits, generic)
        codes = list(dict.fromkeys(c for c, _ in fits))
        if not codes:
            return None
        if len(codes) == 1:
            return CountryMatch(codes[0])
        return CountryMatch(candidates=tuple(codes))

    def _guarded_pattern(self, words: list[str], text: str) -> CountryMatch:
        """country_converter's expressions, for spellings whose words the names do not know
        (`Kirghizia`, `Byelorussian`): exactly one expression must match, and every word no
        name of that state has must be needed for the match (`Hezbollah (Lebanon)` and
        `Iraqi Kurdistan` are not read as states: dropping `Hezbollah` or `Kurdistan` from
        them still matches)."""
        plain = " ".join(re.findall(r"[a-z0-9]+", _plain(text)))
        hits = list(dict.fromkeys(c for c, p in self.patterns if p.search(plain)))
        if len(hits) != 1:
            return UNKNOWN
        code = hits[0]
        known = self._vocabulary.get(code, set())
        unexplained = [w for w in re.findall(r"[a-z0-9]+", plain) if w not in known
                       and w not in STOPWORDS and WORD_FORMS.get(w, (w,))[0] not in known]
        pattern = re.compile("|".join(f"(?:{p.pattern})" for c, p in self.patterns if c == code),
                             re.IGNORECASE)
        if unexplained and all(_needed(pattern, unexplained, i)
                               for i in range(len(unexplained))):
            return CountryMatch(code)
        return UNKNOWN


def _needed(pattern: re.Pattern[str], words: list[str], i: int) -> bool:
    """Whether words[i] is needed for `pattern` to match some run of `words` around it."""
    for start in range(i + 1):
        for end in range(i + 1, len(words) + 1):
            run = words[start:end]
            if (pattern.search(" ".join(run))
                    and not pattern.search(" ".join(run[:i - start] + run[i - start + 1:]))):
                return True
    return False
