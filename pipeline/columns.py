"""The item-log input contract as data: canonical columns, their aliases, which are required.

This is the single definition the reader (header matching) and the docs draw on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class InputColumn:
    name: str
    required: bool
    aliases: tuple[str, ...]


ITEM_COLUMNS: tuple[InputColumn, ...] = (
    InputColumn("record_id", True, ("id", "item id", "record", "record no", "record number",
                                    "ref", "reference", "record id")),
    InputColumn("documented_on", True, ("date", "date documented", "documentation date",
                                        "documented")),
    InputColumn("documented_in", True, ("country", "country documented",
                                        "country of documentation")),
    InputColumn("site", True, ("location", "site name", "place")),
    InputColumn("latitude", False, ("lat",)),
    InputColumn("longitude", False, ("lon", "long", "lng")),
    InputColumn("category", True, ("type", "item type", "item category")),
    InputColumn("model", False, ("designation", "model designation")),
    InputColumn("calibre", False, ("caliber", "cal")),
    InputColumn("manufacturer", False, ("maker", "factory", "producer")),
    InputColumn("country_of_manufacture", False, (
        "origin", "country of origin", "com", "made in", "producer country",
        "manufacturing country")),
    InputColumn("year_of_manufacture", False, ("year", "yom", "manufacture year",
                                              "year manufactured")),
    InputColumn("serial_number", False, ("serial", "serial no", "s/n", "sn", "serial nr")),
    InputColumn("lot_number", False, ("lot", "lot no", "batch", "lot nr", "batch no")),
    InputColumn("quantity", False, ("qty", "count", "units", "number", "no of units")),
    InputColumn("recovered_from", False, ("source", "recovered by")),
    InputColumn("updated_at", False, ("last modified", "modified", "updated", "last updated",
                                     "modified at")),
    InputColumn("notes", False, ("remarks", "comments", "note", "comment")),
)

CANONICAL_NAMES: tuple[str, ...] = tuple(c.name for c in ITEM_COLUMNS)
REQUIRED_NAMES: tuple[str, ...] = tuple(c.name for c in ITEM_COLUMNS if c.required)

_IGNORED_IN_HEADERS = re.compile(r"[\s_\-.()]+")


def header_key(header: str) -> str:
    """Fold a header cell the way the contract matches them: case, spaces, _ - . ( ) ignored."""
    return _IGNORED_IN_HEADERS.sub("", header.strip().lstrip("\ufeff")).casefold()


HEADER_ALIASES: dict[str, str] = {
    header_key(alias): column.name
    for column in ITEM_COLUMNS
    for alias in (column.name, *column.aliases)
}


def canonical_column(header: str) -> str | None:
    """The canonical column a header cell names, or None when it matches nothing."""
    return HEADER_ALIASES.get(header_key(header))
