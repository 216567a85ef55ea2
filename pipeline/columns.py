"""The input contracts as data: canonical columns, their aliases, which are required.

Item logs (`data/raw/items/`) and transfer records (`data/raw/transfers/`) follow the same
header rules; each dataset's columns are one `Contract`, the single definition the reader
(header matching) and the docs draw on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


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

_IGNORED_IN_HEADERS = re.compile(r"[\s_\-.()]+")


def header_key(header: str) -> str:
    """Fold a header cell the way the contract matches them: case, spaces, _ - . ( ) ignored."""
    return _IGNORED_IN_HEADERS.sub("", header.strip().lstrip("\ufeff")).casefold()


TRANSFER_COLUMNS: tuple[InputColumn, ...] = (
    InputColumn("transfer_id", True, ("transfer", "transfer no", "licence", "licence no",
                                      "license", "license no", "export licence", "id")),
    InputColumn("exporter", True, ("exporting country", "exporter country", "supplier",
                                   "supplier country", "from")),
    InputColumn("importer", True, ("importing country", "importer country", "recipient",
                                   "recipient country", "to")),
    InputColumn("end_user", True, ("end user", "enduser", "final user", "consignee")),
    InputColumn("shipped_on", True, ("shipped", "date shipped", "shipment date", "ship date",
                                     "delivery date", "date")),
    InputColumn("model", True, ("designation", "model designation")),
    InputColumn("lot_number", True, ("lot", "lot no", "batch", "lot nr", "batch no")),
    InputColumn("quantity", True, ("qty", "count", "units", "number", "no of units")),
    InputColumn("retransfer_clause", True, ("retransfer", "no retransfer", "re-export clause",
                                            "non re-export clause", "retransfer prohibited")),
    InputColumn("serial_number", False, ("serial", "serial no", "s/n", "sn", "serial nr")),
    InputColumn("notes", False, ("remarks", "comments", "note", "comment")),
)


@dataclass(frozen=True)
class Contract:
    """One dataset's columns: what the reader matches headers against and requires."""

    dataset: str
    columns: tuple[InputColumn, ...]
    aliases: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "aliases", {
            header_key(alias): column.name
            for column in self.columns for alias in (column.name, *column.aliases)})

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def canonical(self, header: str) -> str | None:
        """The canonical column a header cell names, or None when it matches nothing."""
        return self.aliases.get(header_key(header))


ITEMS = Contract("items", ITEM_COLUMNS)
TRANSFERS = Contract("transfers", TRANSFER_COLUMNS)
CANONICAL_NAMES: tuple[str, ...] = ITEMS.names
REQUIRED_NAMES: tuple[str, ...] = ITEMS.required
