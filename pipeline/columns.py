"""The input contracts' columns: canonical names and which are required, per dataset.

Item logs (`data/raw/items/`) and transfer records (`data/raw/transfers/`) follow the same
header rules; each dataset's columns are one `Contract`, the single definition the reader
(header matching) and the docs draw on. The header spellings accepted for each column are
reference data, `data/reference/header_aliases.csv` (dataset, canonical, alias): a user
teaches the reader a team's headers there, never here. `Reference.contract` gives the
contract with the aliases of the build's reference folder; `ITEMS` and `TRANSFERS` carry
the aliases shipped in the repository.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from pipeline.paths import REPO_ROOT

HEADER_ALIASES_FILE = "header_aliases.csv"
HEADER_ALIASES_COLUMNS = ("dataset", "canonical", "alias")


@dataclass(frozen=True)
class InputColumn:
    name: str
    required: bool


ITEM_COLUMNS: tuple[InputColumn, ...] = (
    InputColumn("record_id", True),
    InputColumn("documented_on", True),
    InputColumn("documented_in", True),
    InputColumn("site", True),
    InputColumn("latitude", False),
    InputColumn("longitude", False),
    InputColumn("category", True),
    InputColumn("model", False),
    InputColumn("calibre", False),
    InputColumn("manufacturer", False),
    InputColumn("country_of_manufacture", False),
    InputColumn("year_of_manufacture", False),
    InputColumn("serial_number", False),
    InputColumn("lot_number", False),
    InputColumn("quantity", False),
    InputColumn("recovered_from", False),
    InputColumn("updated_at", False),
    InputColumn("notes", False),
)

TRANSFER_COLUMNS: tuple[InputColumn, ...] = (
    InputColumn("transfer_id", True),
    InputColumn("exporter", True),
    InputColumn("importer", True),
    InputColumn("end_user", True),
    InputColumn("shipped_on", True),
    InputColumn("model", True),
    InputColumn("lot_number", True),
    InputColumn("quantity", True),
    InputColumn("retransfer_clause", True),
    InputColumn("serial_number", False),
    InputColumn("notes", False),
)

_IGNORED_IN_HEADERS = re.compile(r"[\s_\-.()]+")
_BRACKETED = re.compile(r"\(([^()]*)\)|\[([^\[\]]*)\]")
# Words that say little about which column a header is: a header ending in one of them is
# not taken to resemble a column whose name has it ("Photo number" is no serial_number).
_WEAK_WORDS = frozenset({"no", "nr", "number", "of", "the", "date", "id", "name", "type", "at",
                         "in", "from", "by"})
FUZZY_SCORE = 85  # rapidfuzz ratio (0-100) from which a header reads as a misspelt alias
FUZZY_MIN_CHARS = 5  # shorter aliases ("lat", "com") resemble too many headers by chance


class HeaderAliasError(ValueError):
    """header_aliases.csv names an unknown dataset or column, or gives one header to two
    columns; the message names the line and what to do."""


def header_key(header: str) -> str:
    """Fold a header cell the way the contract matches them: case, spaces, _ - . ( ) ignored."""
    return _IGNORED_IN_HEADERS.sub("", header.strip().lstrip("\ufeff")).casefold()


def alias_line(dataset: str, canonical: str, header: str) -> str:
    """The header_aliases.csv line that teaches `header` as `canonical`, quoted as needed."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow([dataset, canonical, header.strip()])
    return buffer.getvalue()


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", text.casefold())


@dataclass(frozen=True)
class Contract:
    """One dataset's columns and the header spellings accepted for each.

    `header_aliases`: (canonical, alias, line) from header_aliases.csv; a column's own name is
    always accepted.
    """

    dataset: str
    columns: tuple[InputColumn, ...]
    header_aliases: tuple[tuple[str, str, int], ...] = ()
    aliases: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "aliases", {
            **{header_key(a): c for c, a, _ in self.header_aliases},
            **{header_key(c.name): c.name for c in self.columns}})

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def optional(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if not c.required)

    def canonical(self, header: str) -> str | None:
        """The canonical column a header cell names, or None when it matches nothing."""
        return self.aliases.get(header_key(header))

    def accepted_headers(self, column: str) -> list[str]:
        """The column's name, then every alias of it, as written in header_aliases.csv."""
        return [column, *(a for c, a, _ in self.header_aliases
                          if c == column and header_key(a) != header_key(column))]

    def alias_source(self, header: str) -> str:
        """Why `header` maps where it does: its line of header_aliases.csv, or the column
        name itself."""
        key = header_key(header)
        for canonical, alias, line in self.header_aliases:
            if header_key(alias) == key and header_key(canonical) != key:
                line_text = alias_line(self.dataset, canonical, alias)
                return f"line {line} of {HEADER_ALIASES_FILE}, `{line_text}`"
        return "the column's own name"

    def with_aliases(self, rows: Iterable[tuple[str | None, str | None, str | None]],
                     first_line: int = 2) -> Contract:
        """This contract with the aliases of header_aliases.csv rows (dataset, canonical,
        alias) for its dataset; rows of other datasets are checked and skipped. Raises
        HeaderAliasError for a row that cannot be right."""
        own: list[tuple[str, str, int]] = []
        taken = {header_key(c.name): (c.name, "its own name") for c in self.columns}
        for line, (dataset, canonical, alias) in enumerate(rows, start=first_line):
            where = f"{HEADER_ALIASES_FILE}, line {line}"
            if dataset not in CONTRACTS:
                raise HeaderAliasError(f"{where}: dataset {dataset!r} is not one of "
                                       f"{', '.join(CONTRACTS)}")
            if dataset != self.dataset:
                continue
            if canonical not in self.names:
                raise HeaderAliasError(f"{where}: {canonical!r} is not a column of {dataset}; "
                                       f"the columns are {', '.join(self.names)}")
            key = header_key(alias or "")
            if not key:
                raise HeaderAliasError(f"{where}: the alias is empty once case, spaces and "
                                       "_ - . ( ) are ignored")
            if key in taken and taken[key][0] != canonical:
                other, source = taken[key]
                raise HeaderAliasError(
                    f"{where}: {alias!r} is already a header for {other} ({source}); one "
                    "header can name only one column: delete one of the two lines")
            taken.setdefault(key, (canonical, f"line {line}"))
            own.append((canonical, alias.strip(), line))
        return Contract(self.dataset, self.columns, tuple(own))

    # --- headers that match nothing ------------------------------------------------------

    def resembles(self, header: str, column: str) -> bool:
        """Whether an unmatched header looks like a header for `column`: once its bracketed
        part is dropped, or taken alone, it is an alias (`Country of Origin (COO)`); it is
        an alias misspelt or with its words in another order (rapidfuzz); or, in at most
        three words, it ends in a word of the column's name (`Headstamp year`)."""
        keys = [header_key(h) for h in self.accepted_headers(column)]
        outside = _BRACKETED.sub(" ", header)
        inside = [a or b for a, b in _BRACKETED.findall(header)]
        if any(header_key(part) in keys for part in (outside, *inside)):
            return True
        long_keys = [k for k in keys if len(k) >= FUZZY_MIN_CHARS]
        if process.extractOne(header_key(header), long_keys, scorer=fuzz.ratio,
                              score_cutoff=FUZZY_SCORE):
            return True
        phrases = [" ".join(w for w in _words(h) if w not in ("of", "the"))
                   for h in self.accepted_headers(column) if len(_words(h)) > 1]
        words = _words(outside)
        if process.extractOne(" ".join(w for w in words if w not in ("of", "the")), phrases,
                              scorer=fuzz.token_sort_ratio, score_cutoff=FUZZY_SCORE):
            return True  # `Date of documentation`
        own_words = set(_words(column.replace("_", " "))) - _WEAK_WORDS
        return 0 < len(words) <= 3 and words[-1] in own_words

    def header_warnings(self, unmatched: list[str], empty: Iterable[str]) -> list[str]:
        """One warning per unmatched header that resembles an optional column the file
        leaves empty (absent, or blank on every row), with the line that teaches it."""
        empty_optional = [c for c in self.optional if c in set(empty)]
        warnings = []
        for header in unmatched:
            column = next((c for c in empty_optional if self.resembles(header, c)), None)
            if column is not None:
                warnings.append(
                    f"header {header!r} matches no column and the file leaves {column} "
                    f"empty, so its values are kept in `extra` only: if it holds {column}, "
                    f"add the line `{alias_line(self.dataset, column, header)}` to "
                    f"data/reference/{HEADER_ALIASES_FILE}")
        return warnings


def read_header_aliases(text: str) -> list[tuple[str | None, str | None, str | None]]:
    """The rows of a header_aliases.csv text (dataset, canonical, alias)."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in HEADER_ALIASES_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise HeaderAliasError(f"{HEADER_ALIASES_FILE}: the first line must name the columns "
                               f"{', '.join(HEADER_ALIASES_COLUMNS)} (missing: "
                               f"{', '.join(missing)})")
    return [(r["dataset"], r["canonical"], r["alias"]) for r in reader]


def _shipped(contract: Contract) -> Contract:
    shipped = REPO_ROOT / "data" / "reference" / HEADER_ALIASES_FILE
    if not shipped.is_file():  # an installed package without the repository's data
        return contract
    return contract.with_aliases(read_header_aliases(shipped.read_text(encoding="utf-8")))


_BARE_ITEMS = Contract("items", ITEM_COLUMNS)
_BARE_TRANSFERS = Contract("transfers", TRANSFER_COLUMNS)
CONTRACTS: dict[str, Contract] = {"items": _BARE_ITEMS, "transfers": _BARE_TRANSFERS}
"""Each dataset's columns without aliases (`Reference.contract` adds a folder's)."""

ITEMS = _shipped(_BARE_ITEMS)
TRANSFERS = _shipped(_BARE_TRANSFERS)
CANONICAL_NAMES: tuple[str, ...] = ITEMS.names
REQUIRED_NAMES: tuple[str, ...] = ITEMS.required


DATASET_TITLES = {"items": "Item logs (`data/raw/items/`)",
                  "transfers": "Transfer records (`data/raw/transfers/`)"}


def accepted_headers_page(contracts: Iterable[Contract]) -> str:
    """docs/accepted-headers.md: every header each dataset accepts, per column, from the
    contracts' aliases (`armtrace headers` writes it; a test holds the committed page to the
    shipped header_aliases.csv)."""

    def code(text: str) -> str:
        return "`" + text.replace("|", "\\|").replace("`", "'") + "`"

    lines = [
        "# Accepted headers",
        "",
        f"Generated from `data/reference/{HEADER_ALIASES_FILE}` by `armtrace headers --out "
        "docs/accepted-headers.md`: edit the CSV, not this page.",
        "",
        "A header matches ignoring case, spaces, underscores, hyphens, dots and parentheses "
        "(`Serial No.`, `serial_no` and `SERIAL-NO` are one header). A column's own name is "
        "always accepted. To accept another spelling, add a line `dataset,column,header` to "
        f"`data/reference/{HEADER_ALIASES_FILE}` (for example "
        f"`{alias_line('items', 'country_of_manufacture', 'Country of Origin (COO)')}`); the "
        "next build uses it. See [input-format.md](input-format.md) for the rest of the "
        "input contract.",
    ]
    for contract in contracts:
        lines += ["", f"## {DATASET_TITLES[contract.dataset]}", "",
                  "| column | required | accepted headers |", "|---|---|---|"]
        lines += [f"| {column.name} | {'yes' if column.required else 'no'} | "
                  f"{', '.join(code(h) for h in contract.accepted_headers(column.name))} |"
                  for column in contract.columns]
    return "\n".join(lines) + "\n"
