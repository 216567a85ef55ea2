"""The curated database's tables: one definition gives their columns, the expression that
fills each from the stage frame (in polars, and as a DuckDB select item for the tables DuckDB
fills from the stages' Parquet files), and the COMMENT that documents it in DuckDB (and,
generated from there, in docs/data-dictionary.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

# The contract's thresholds for a share's low_reliability (pipeline/intervals.py applies them;
# they live here so that the column comments can state them without importing scipy).
LOW_RELIABILITY_EFFECTIVE_N = 30.0
LOW_RELIABILITY_WIDTH = 0.30


@dataclass(frozen=True)
class Column:
    name: str
    comment: str
    source: pl.Expr | None = None  # over the stage frame; default: the column of the same name
    sql: str | None = None  # the same source in SQL, where it is more than a column

    def expr(self) -> pl.Expr:
        return (pl.col(self.name) if self.source is None else self.source).alias(self.name)

    def sql_expr(self) -> str:
        """The column as a DuckDB select item over the stage frame's columns."""
        if self.sql is not None:
            return f'{self.sql} AS "{self.name}"'
        if self.source is None or self.source.meta.is_column():
            return f'"{self.expr().meta.root_names()[0]}" AS "{self.name}"'
        raise ValueError(f"column {self.name}: its source has no SQL; give it as `sql`")


@dataclass(frozen=True)
class Table:
    name: str
    comment: str
    columns: tuple[Column, ...]

    def select(self, frame: pl.DataFrame) -> pl.DataFrame:
        return frame.select(c.expr() for c in self.columns)

    def sql_select(self) -> str:
        """The select list that fills the table from the stage frame's columns in DuckDB."""
        return ", ".join(c.sql_expr() for c in self.columns)


PROVENANCE = (
    Column("row_number", "Position of the input row in the build (path order, sheet, line); "
                         "the key that links items, versions, merges and quarantine."),
    Column("source_file", "Raw file the row was read from, relative to the raw folder."),
    Column("source_sheet", "Worksheet name for XLSX files; NULL for delimited text."),
    Column("source_line", "Line in the file (sheet row for XLSX), counting the header as 1."),
)

RECORD_COLUMNS = (
    Column("record_id", "The team's own id for the documented record (trimmed)."),
    Column("documented_on", "Date the item was documented.",
           pl.col("documented_on_parsed").dt.date(), "CAST(documented_on_parsed AS DATE)"),
    Column("documented_in", "Present-day country where the item was documented (display name).",
           pl.col("documented_in_name")),
    Column("documented_in_code", "ISO 3166 alpha-3 code of documented_in.",
           pl.col("documented_in_present_code")),
    Column("documented_in_recorded", "documented_in exactly as written in the log.",
           pl.col("documented_in")),
    Column("site", "Documentation site as written (trimmed)."),
    Column("site_key", "Site name trimmed, case-folded, with runs of spaces as one: what "
                       "`sites` counts, double-entry detection compares and documentation_sites "
                       "groups by."),
    Column("latitude", "Decimal degrees, or NULL.", pl.col("latitude_value")),
    Column("longitude", "Decimal degrees, or NULL.", pl.col("longitude_value")),
    Column("category", "Contract category (weapon, cartridge, rocket, guided missile, mortar "
                       "round, grenade, ied component, precursor).",
           pl.col("category_normalised")),
    Column("category_recorded", "Category exactly as written in the log.", pl.col("category")),
    Column("item_kind", "weapons (counted in items), ammunition (counted in units) or "
                        "ied_materiel."),
    Column("model", "Model designation as written (trimmed)."),
    Column("model_designation", "Canonical designation from ref_models, NULL if not listed."),
    Column("model_key", "Normalised model: the canonical designation when known, else the "
                        "written one, upper case without separators."),
    Column("anti_armour", "True when the model is an anti-armour munition in ref_models."),
    Column("calibre", "Normalised calibre designation (e.g. 7.62x39mm); NULL if none or "
                      "unreadable.", pl.col("calibre_designation")),
    Column("calibre_recorded", "Calibre as written in the log.", pl.col("calibre")),
    Column("calibre_family", "warsaw_pact, nato, other (a recognised calibre of neither) or "
                             "unknown (nothing readable recorded)."),
    Column("manufacturer", "Manufacturer or factory code as written."),
    Column("manufacturer_key", "Manufacturer trimmed, case-folded, with runs of spaces as one; "
                               "NULL when blank or an unknown marker (n/a): what "
                               "ied_components counts."),
    Column("origin", "Present-day state of manufacture (after the successor mapping); NULL when "
                     "unknown or made by a non-state producer."),
    Column("origin_code", "ISO alpha-3 code of origin."),
    Column("origin_state", "State of manufacture as recorded, which may be historic (USSR)."),
    Column("origin_state_code", "Code of origin_state (ISO alpha-3, or the ISO 3166-3 code of a "
                                "historic state)."),
    Column("origin_recorded", "country_of_manufacture exactly as written in the log.",
           pl.col("country_of_manufacture")),
    Column("producer", "Non-state producer that made the item (its name in "
                       "ref_non_state_producers, e.g. Islamic State), when "
                       "country_of_manufacture names one; origin is then NULL."),
    Column("year_of_manufacture", "Year of manufacture; two-digit headstamp years read as the "
                                  "latest such year not after the documentation year.",
           pl.col("year_value")),
    Column("year_recorded", "year_of_manufacture exactly as written.",
           pl.col("year_of_manufacture")),
    Column("serial_number", "Serial number as written."),
    Column("serial_key", "Normalised serial number used for matching."),
    Column("lot_number", "Lot or batch number as written."),
    Column("lot_key", "Normalised lot number used for matching."),
    Column("quantity", "Units in this record (1 when blank).", pl.col("quantity_value")),
    Column("recovered_from", "Who the item was recovered from, as written."),
    Column("updated_at", "Time of the record's last edit, if the log gives one.",
           pl.col("updated_at_parsed")),
    Column("notes", "Free-text notes as written."),
    Column("extra", "Columns the contract does not name, as a JSON object keyed by header."),
)

ITEMS = Table(
    "items",
    "Curated items: one row per documented item after cleaning, version resolution and "
    "de-duplication. Weapons count in rows, ammunition in SUM(quantity).",
    (*RECORD_COLUMNS, *PROVENANCE),
)

RECORD_VERSIONS = Table(
    "record_versions",
    "Superseded versions of records: a record_id seen again in a later export (or with a later "
    "updated_at) replaces these rows.",
    (*RECORD_COLUMNS, *PROVENANCE,
     Column("superseded_by_row", "row_number of the version that replaced this one.",
            pl.col("resolved_to_row"))),
)

QUARANTINE = Table(
    "quarantine",
    "Input rows that break the item-log contract (or, dataset transfers, the transfer-record "
    "contract), with every reason. A file that could not be read at all is one row with "
    "source_line NULL.",
    (*PROVENANCE,
     Column("record_id", "record_id as written, if any (transfer_id for transfer rows)."),
     Column("site", "Site as written (NULL for transfer rows)."),
     Column("documented_on", "Date documented (shipped_on for transfer rows) where it could be "
                             "read; cells hold the text as written.",
            pl.col("documented_on_parsed").dt.date(), "CAST(documented_on_parsed AS DATE)"),
     Column("model", "Model as written."),
     Column("origin_recorded", "country_of_manufacture as written (exporter for transfer rows).",
            pl.col("country_of_manufacture")),
     Column("serial_number", "Serial number as written."),
     Column("serial_key", "Normalised serial number (as items.serial_key), for trace."),
     Column("lot_number", "Lot number as written."),
     Column("lot_key", "Normalised lot number (as items.lot_key), for trace."),
     Column("reasons", "Codes of every rule the row breaks (e.g. unparseable_date)."),
     Column("problems", "One message per broken rule: the column, the value, what to do."),
     Column("cells", "The original cells as a JSON object keyed by the file's own headers."),
     Column("dataset", "items (an item-log row) or transfers (a transfer-record row).",
            pl.lit("items"), "'items'")),
)

TRANSFERS = Table(
    "transfers",
    "Documented legal transfers (export licences, end-user certificates, delivery "
    "verification) from data/raw/transfers/: one row per transfer row read, after cleaning "
    "(quarantined rows are in quarantine with dataset = 'transfers'). A transfer that lists "
    "serial numbers has one row per serial.",
    (*PROVENANCE,
     Column("transfer_id", "Id of the transfer (licence or certificate) as written; rows of "
                           "one transfer share it."),
     Column("exporter", "Present-day exporting state (display name).", pl.col("exporter_name")),
     Column("exporter_code", "ISO alpha-3 code of exporter."),
     Column("exporter_recorded", "exporter exactly as written.", pl.col("exporter")),
     Column("importer", "Present-day importing state (display name).", pl.col("importer_name")),
     Column("importer_code", "ISO alpha-3 code of importer."),
     Column("importer_recorded", "importer exactly as written.", pl.col("importer")),
     Column("end_user", "End user named in the end-user certificate, as written."),
     Column("shipped_on", "Date of shipment.", pl.col("shipped_on_parsed").dt.date()),
     Column("model", "Model designation as written."),
     Column("model_designation", "Canonical designation from ref_models, NULL if not listed."),
     Column("model_key", "Normalised model, compared with items.model_key."),
     Column("lot_number", "Lot number as written."),
     Column("lot_key", "Normalised lot number, compared with items.lot_key."),
     Column("serial_number", "Serial number as written, when the transfer lists serials."),
     Column("serial_key", "Normalised serial number, compared with items.serial_key."),
     Column("quantity", "Units in this row.", pl.col("quantity_value")),
     Column("retransfer_clause", "True when the end-user certificate forbids retransfer "
                                 "(written yes).", pl.col("retransfer_value")),
     Column("retransfer_recorded", "retransfer_clause exactly as written.",
            pl.col("retransfer_clause")),
     Column("notes", "Free-text notes as written."),
     Column("extra", "Columns the contract does not name, as a JSON object keyed by header.")),
)

DIVERSION_ISSUES = (
    "Items that match a documented transfer by model and lot or serial but are not published "
    "as a diversion chain: ambiguous (they match more than one transfer) or documented before "
    "the shipment (so they cannot have come from it).",
    {"record_id": "items.record_id of the item.",
     "model": "Model of the item (canonical designation when known).",
     "lot_number": "Lot number of the item as written.",
     "serial_number": "Serial number of the item as written.",
     "documented_on": "Date the item was documented.",
     "documented_in": "Present-day country where the item was documented.",
     "issue": "ambiguous or documented_before_shipment.",
     "matched_by": "serial or lot: how the item matched.",
     "transfer_ids": "The transfers the item matched, comma-separated.",
     "shipped_on": "Shipment date of the (earliest) transfer matched."},
)

DEDUP_DECISIONS = Table(
    "dedup_decisions",
    "Audit of every merge: which row was kept, which was dropped, under which rule.",
    (Column("rule", "identical_row, re_documented_item or double_entry."),
     Column("dropped_row", "row_number of the dropped row.", pl.col("row_number")),
     Column("dropped_record_id", "record_id of the dropped row.", pl.col("record_id")),
     Column("dropped_file", "File of the dropped row.", pl.col("source_file")),
     Column("dropped_line", "Line of the dropped row.", pl.col("source_line")),
     Column("dropped_documented_on", "Date the dropped row was documented.",
            pl.col("documented_on_parsed").dt.date(), "CAST(documented_on_parsed AS DATE)"),
     Column("dropped_documented_in", "Present-day country where the dropped row was documented.",
            pl.col("documented_in_name")),
     Column("dropped_site", "Site of the dropped row as written.", pl.col("site")),
     Column("dropped_model", "Model of the dropped row as written.", pl.col("model")),
     Column("dropped_model_key", "Normalised model of the dropped row (as items.model_key).",
            pl.col("model_key")),
     Column("dropped_origin", "Present-day state of manufacture of the dropped row, or its "
                              "non-state producer followed by (non-state); NULL when unknown.",
            pl.coalesce(pl.col("origin"), pl.format("{} (non-state)", pl.col("producer"))),
            "coalesce(origin, producer || ' (non-state)')"),
     Column("dropped_serial_number", "Serial number of the dropped row as written.",
            pl.col("serial_number")),
     Column("dropped_serial_key", "Normalised serial number of the dropped row.",
            pl.col("serial_key")),
     Column("dropped_lot_number", "Lot number of the dropped row as written.",
            pl.col("lot_number")),
     Column("dropped_lot_key", "Normalised lot number of the dropped row.", pl.col("lot_key")),
     Column("kept_row", "row_number of the row kept instead.", pl.col("resolved_to_row")),
     Column("kept_record_id", "record_id of the kept row."),
     Column("kept_file", "File of the kept row."),
     Column("kept_line", "Line of the kept row."),
     Column("dropped_cells", "Original cells of the dropped row (JSON).", pl.col("cells"))),
)

SOURCE_FILES = Table(
    "source_files",
    "Every raw file found: fingerprint, how it was read, and what became of it.",
    (Column("path", "Path relative to the raw folder (bytes of a name that are not UTF-8 "
                    "escaped, as \\xe9; a folder that could not be walked ends in /)."),
     Column("dataset", "items, transfers, or other (outside both folders)."),
     Column("format", "delimited, xlsx, unsupported (not read), or folder (a folder that "
                      "could not be walked)."),
     Column("size_bytes", "File size in bytes (NULL when not a regular file)."),
     Column("sha256", "SHA-256 of the file's bytes (NULL when the file was not opened: a "
                      "link or other entry that is not a regular file, one that cannot be "
                      "opened, or a file over the size limit)."),
     Column("encoding", "Text encoding detected (utf-8, utf-8-sig, windows-1252)."),
     Column("delimiter", "Delimiter detected."),
     Column("sheets_read", "XLSX sheets read as item logs or transfer records."),
     Column("sheets_skipped", "XLSX sheets skipped, with the reason."),
     Column("rows_read", "Rows read (an unreadable file counts as one quarantined row)."),
     Column("blank_rows", "Empty lines or sheet rows skipped."),
     Column("status", "ok, missing_columns, unreadable, unsupported, or not_read (neither "
                      "an item log nor a transfer record)."),
     Column("problem", "What was wrong with the file, and what to do."),
     Column("unmatched_headers", "Headers that name no contract column (their values are "
                                 "kept in the rows' extra), in file order; empty when every "
                                 "header was recognised."),
     Column("header_warnings", "An unmatched header that resembles a contract column the "
                               "file leaves empty: both named, with the line to add to "
                               "data/reference/header_aliases.csv.")),
)

CORRECTIONS = Table(
    "corrections",
    "Audit of analysts' corrections (data/corrections/*.yaml): one row per correction and input "
    "row it changed, before cleaning. The raw files and `cells` keep the original text.",
    (Column("corrections_file", "Corrections file, relative to the corrections folder."),
     Column("corrections_sha256", "SHA-256 of the corrections file's bytes."),
     Column("entry", "Position of the correction in its file (1 = first)."),
     Column("corrections_line", "Line of the file where the correction starts."),
     Column("record_id", "record_id of the corrected row."),
     Column("field", "Canonical column corrected."),
     Column("expected", "Raw text the correction assumed the log held (its guard); NULL means "
                        "an empty cell."),
     Column("value", "Raw text that replaced it (then cleaned like any value); NULL empties "
                     "the cell."),
     Column("reason", "Why the value was corrected: the evidence."),
     Column("decided_by", "Who decided the correction."),
     Column("decided_on", "Date the correction was decided."),
     *PROVENANCE),
)

CURATED_TABLES = (ITEMS, RECORD_VERSIONS, QUARANTINE, DEDUP_DECISIONS, SOURCE_FILES,
                  CORRECTIONS, TRANSFERS)

REFERENCE_COMMENTS: dict[str, str] = {
    "ref_countries": "Every state a log may name: ISO 3166 from pycountry plus the historic "
                     "states, each with its present-day state (present_code, present_name).",
    "ref_country_aliases": "Spellings pycountry lacks (abbreviations, former and common names), "
                           "each mapped to the recorded state's code. Editable: "
                           "data/reference/country_aliases.csv.",
    "ref_historic_states": "Historic states and the present-day state figures attribute them "
                           "to. Editable: data/reference/historic_states.csv.",
    "ref_country_display_names": "Display names that replace pycountry's where the published "
                                 "figures use another.",
    "ref_eu_membership": "EU accession (and exit) dates by present-day state.",
    "ref_categories": "Contract categories, their item kind and whether items carry serials.",
    "ref_category_synonyms": "Category spellings accepted in logs.",
    "ref_calibres": "Calibre designations, family (warsaw_pact, nato, other) and aliases.",
    "ref_models": "Model designations with category and whether they are anti-armour.",
    "ref_ambiguous_countries": "Country spellings that name more than one state (or a state "
                               "and an armed group): quarantined as ambiguous_country unless "
                               "an alias says which. Editable: "
                               "data/reference/ambiguous_countries.csv.",
    "ref_country_regions": "Regions and groups of countries: never read as a country. "
                           "Editable: data/reference/country_regions.csv.",
    "ref_extra_states": "States ISO 3166 (pycountry) lacks, with the code used for each. "
                        "Editable: data/reference/extra_states.csv.",
    "ref_header_aliases": "Header spellings accepted for each contract column, per dataset "
                          "(a column's own name is always accepted). Editable: "
                          "data/reference/header_aliases.csv.",
    "ref_non_state_producers": "Non-state producers (armed groups making their own weapons, "
                               "ammunition and IED materiel) and the spellings of "
                               "country_of_manufacture that name them, matched like countries "
                               "and before them. Editable: "
                               "data/reference/non_state_producers.csv.",
}

REFERENCE_COLUMN_COMMENTS: dict[str, str] = {
    "alias": "A spelling found in logs.",
    "code": "ISO 3166 alpha-3 code, or the ISO 3166-3 code of a historic state.",
    "name": "Display name of the state.",
    "note": "Why the entry exists.",
    "reason": "Why the entry exists.",
    "successor_code": "Present-day state figures attribute the historic state's production to.",
    "display_name": "Name shown in figures instead of pycountry's.",
    "joined_on": "Date the state joined the EU (or a founding Community).",
    "left_on": "Date the state left the EU; NULL if it has not.",
    "category": "Contract category.",
    "item_kind": "weapons, ammunition or ied_materiel.",
    "serial_numbered": "Whether items of the category are matched by serial number.",
    "description": "What the category covers.",
    "synonym": "A category spelling accepted in logs (matched ignoring case and punctuation).",
    "calibre": "Canonical calibre designation.",
    "family": "warsaw_pact, nato or other.",
    "aliases": "Other spellings, separated by |.",
    "model": "Canonical model designation.",
    "anti_armour": "Whether the munition is anti-armour.",
    "dataset": "items (item logs) or transfers (transfer records).",
    "spelling": "A spelling found in logs: of a country (ref_ambiguous_countries) or, in "
                "country_of_manufacture, of a non-state producer (ref_non_state_producers); "
                "matched ignoring case, spaces and punctuation.",
    "candidates": "The states (ISO alpha-3 codes) or other things a spelling could name, "
                  "separated by |.",
    "region": "A region or group of countries, as spelt in logs.",
    "canonical": "Contract column the header names.",
    "present_code": "ISO alpha-3 code of the present-day state.",
    "present_name": "Display name of the present-day state.",
    "historic": "Whether the state no longer exists.",
    "producer": "Display name of the non-state producer.",
}


def _share_columns(prefix: str, of: str) -> dict[str, str]:
    """A share's columns: the share, its interval and its sample size; a figure with several
    shares names them after the share (recent_share_ci_low, recent_share_n, ...)."""
    def named(suffix: str) -> str:
        return f"{prefix}share_{suffix}" if prefix else suffix

    return {
        f"{prefix}share": f"{of} (a fraction in [0, 1], unrounded; NULL when undefined).",
        named("ci_low"): f"Lower bound of the 95% interval of the {prefix}share (Wilson for "
                         f"items, Korn-Graubard for units; docs/figures.md).",
        named("ci_high"): f"Upper bound of the 95% interval of the {prefix}share.",
        **_sample_size_columns(f"{prefix}share", named),
    }


def _sample_size_columns(share: str, named: Callable[[str], str]) -> dict[str, str]:
    """n, effective_n and low_reliability of a share (docs/figures.md, "Sample sizes")."""
    return {
        named("n"): f"Sample size of the {share}: items (weapons) or records (ammunition) in its "
                    f"denominator; NULL when the {share} is.",
        named("effective_n"): f"Sample size the {share}'s interval behaves as: n for items; for "
                              f"units, the effective number of records, the smaller of Kish's "
                              f"(sum of units)^2 / sum of (units per record)^2 and p(1 - p) "
                              f"over the share's linearised variance; at most n.",
        named("low_reliability"): f"True when effective_n < {LOW_RELIABILITY_EFFECTIVE_N:g} or "
                                  f"the interval is wider than {LOW_RELIABILITY_WIDTH:.2f}; the "
                                  f"report marks such shares.",
    }


GROUP = "Country where items were documented, or All."
KIND = "weapons (counted in items) or ammunition (counted in units)."
ORIGIN_ROW = ("Present-day state of manufacture; a non-state producer followed by (non-state); "
              "or Unknown.")
_PLACE_COUNTS = {
    "records": "Rows of items.", "weapons": "Weapons (items).",
    "ammunition_units": "Ammunition units (sum of quantity).",
    "ied_items": "IED materiel: components and precursors (rows of items)."}

FIGURES: dict[str, tuple[str, dict[str, str]]] = {
    "documentation_summary": (
        "What was documented, per country and in all.",
        {"documented_in": GROUP, "weapons": "Weapons (items).",
         "ammunition_units": "Ammunition units (sum of quantity).",
         "ied_items": "IED materiel: components and precursors (rows of items, whatever their "
                      "quantity).",
         "records": "Rows of items.",
         "sites": "Distinct site names (trimmed, case-folded, runs of spaces as one).",
         "days": "Distinct documentation dates."},
    ),
    "weapons_by_origin": (
        "Weapons by present-day country of manufacture; Unknown and the non-state producers' "
        "rows have no share and are outside the denominator.",
        {"documented_in": GROUP, "country": ORIGIN_ROW,
         "weapons": "Weapons made there.",
         **_share_columns("", "Share of weapons of known origin (Wilson interval)")},
    ),
    "ammunition_by_origin": (
        "Ammunition units by present-day country of manufacture; Unknown and the non-state "
        "producers' rows have no share and are outside the denominator.",
        {"documented_in": GROUP, "country": ORIGIN_ROW,
         "units": "Units made there.",
         **_share_columns("", "Share of units of known origin (records as clusters)")},
    ),
    "calibre_family": (
        "Calibre family shares; unknown (nothing readable recorded) has no share.",
        {"item_kind": KIND, "documented_in": GROUP,
         "family": "warsaw_pact, nato, other or unknown.", "count": "Items or units.",
         **_share_columns("", "Share of items or units of known family")},
    ),
    "manufacture_period": (
        "Manufacture period shares; unknown has no share. Edges are a setting.",
        {"item_kind": KIND, "documented_in": GROUP,
         "period": "Period of manufacture, or unknown.", "count": "Items or units.",
         **_share_columns("", "Share of items or units of known year")},
    ),
    "manufacture_year": (
        "Items or units by year of manufacture (known years only).",
        {"item_kind": KIND, "documented_in": GROUP, "year": "Year of manufacture.",
         "count": "Items or units."},
    ),
    "eu_share": (
        "Share made in states that are EU members on the as_of date (present-day origin).",
        {"item_kind": KIND, "documented_in": GROUP, "eu_count": "Items or units made in the EU.",
         "known_origin_count": "Items or units of known origin.",
         **_share_columns("", "eu_count / known_origin_count")},
    ),
    "anti_armour_recent": (
        "Anti-armour ammunition made recently, and the EU's part of it.",
        {"documented_in": GROUP, "recent_from": "First year counted as recent (a setting).",
         "anti_armour_units": "Anti-armour units.",
         "recent_units": "Anti-armour units made in or after recent_from.",
         **_share_columns("recent_", "recent_units / anti-armour units of known year"),
         "recent_eu_units": "Recent anti-armour units made in the EU.",
         **_share_columns("recent_eu_", "recent_eu_units / recent units of known origin"),
         "since_2010_units": "Anti-armour units made in or after 2010.",
         "since_2010_eu_units": "Of those, units made in the EU.",
         **_share_columns("since_2010_eu_",
                          "since_2010_eu_units / since-2010 units of known origin")},
    ),
    "diversion_chains": (
        "Recovered items matched to a documented transfer (by model and lot, or by serial "
        "where the transfer lists serials): one row per item; ambiguous matches and items "
        "documented before the shipment are in diversion_issues instead.",
        {"record_id": "items.record_id of the recovered item.",
         "model": "Model of the item (canonical designation when known).",
         "lot_number": "Lot number as the transfer record writes it.",
         "transfer_id": "The transfer the item matched.",
         "exporter": "Present-day exporting state.", "importer": "Present-day importing state.",
         "end_user": "End user named in the end-user certificate.",
         "shipped_on": "Date of shipment.", "documented_on": "Date the item was documented.",
         "documented_in": "Present-day country where the item was documented.",
         "days_to_recovery": "documented_on - shipped_on, in days.",
         "retransfer_clause": "yes when the end-user certificate forbids retransfer, else no."},
    ),
    "non_state_production": (
        "What non-state producers (the group itself, an unnamed improvised maker) made: per item "
        "kind, group and producer with a count above zero, its share of everything of the kind "
        "documented in the group.",
        {"item_kind": "weapons (counted in items), ammunition (units) or ied_materiel (items).",
         "documented_in": GROUP,
         "producer": "Non-state producer (its name in ref_non_state_producers).",
         "count": "Items (weapons, IED materiel) or units (ammunition) it made.",
         **_share_columns("", "count over all items or units of the kind documented in the "
                              "group: known origin, unknown and non-state alike"),
         "n": "Sample size of the share: items of the kind in the group (weapons, IED "
              "materiel), or records (ammunition)."},
    ),
    "lot_spread": (
        "Lots of ammunition documented at two or more distinct sites: one shipment that fed "
        "several fronts. A lot is a model, an origin and a normalised lot key.",
        {"model": "Canonical model designation (the most frequent recorded spelling when the "
                  "model is not in ref_models).",
         "origin": ORIGIN_ROW,
         "lot_key": "Normalised lot number (items.lot_key).",
         "lot_number": "The lot's most frequent recorded spelling (ties: the first in path and "
                       "line order).",
         "records": "Rows of items in the lot.", "units": "Units in the lot (sum of quantity).",
         "sites": "Distinct documentation sites (site keys).",
         "countries": "Distinct countries where the lot was documented.",
         "first_documented": "First documentation date of the lot.",
         "last_documented": "Last documentation date of the lot.",
         "days_between": "last_documented - first_documented, in days."},
    ),
    "ied_components": (
        "IED materiel (components and precursors) by manufacturer and origin, in items.",
        {"documented_in": GROUP, "origin": ORIGIN_ROW,
         "manufacturer": "Manufacturer, as its most frequent recorded spelling (the key is the "
                         "text trimmed, case-folded, runs of spaces as one); empty for items "
                         "without one.",
         "items": "Rows of items (whatever their quantity)."},
    ),
    "documentation_sites": (
        "Where items were documented: one row per country and documentation site (site key: "
        "trimmed, case-folded, runs of spaces as one), counted as documentation_summary.",
        {"documented_in": "Country where the items were documented.",
         "site": "The site's most frequent recorded spelling over all its rows (ties: the first "
                 "in path and line order).",
         "latitude": "Median latitude of the site's records that have both coordinates (the "
                     "mean of the middle two for an even count); NULL when none has.",
         "longitude": "Median longitude, over the same records as latitude.",
         **_PLACE_COUNTS,
         "first_documented": "First documentation date at the site.",
         "last_documented": "Last documentation date at the site."},
    ),
    "documentation_timeline": (
        "Items documented per calendar month, per country and All; every group lists every "
        "month from the first to the last month documented anywhere, with zeros.",
        {"documented_in": GROUP, "month": "Calendar month of documentation (YYYY-MM).",
         **_PLACE_COUNTS},
    ),
}

FIGURE_SETTINGS = (
    "The settings every fig_ table was computed with (one row).",
    {"as_of": "Date on which EU membership is taken (default: latest documentation date).",
     "recent_from": "First year of manufacture counted as recent for anti-armour ammunition.",
     "period_edges": "First year of each manufacture period after the first."},
)

BUILD_MANIFEST = Table(
    "build_manifest",
    "What the build that made this database used: every raw file, reference file and code file "
    "(SHA-256), every installed library (version) and every setting given; rows under build/ "
    "are the build's fingerprint (SHA-256 over the rest), its cut-off date for future dates and "
    "the earliest date of a row it quarantined as future-dated. A build with the same manifest "
    "is skipped.",
    (Column("component", "kind/name: input/<raw path>, reference/<file>, code/<file>, "
                         "library/<distribution>, setting/<op>.<key>, or build/<fact>."),
     Column("value", "SHA-256, version or setting value (JSON).")),
)
