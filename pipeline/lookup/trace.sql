-- trace(text, partial := false): every sighting of a serial number, lot number or record id,
-- in every table that can hold one: items, record_versions (superseded versions),
-- dedup_decisions (merged records), quarantine (rejected rows, with their original cells) and
-- transfers. `text` is normalised as the build normalises keys (normalised_key) and record ids
-- (normalised_record_id); a sighting matches exactly when its serial key, lot key or record id
-- equals it, partly when it contains it. Exact matches are listed; when there are none, or with
-- partial := true, partial matches too. For a sighting of an item (kept, superseded or merged)
-- the documented transfer it matches, as diversion_chains matches them (model and lot, or
-- serial where the transfer lists serials; shipped on or before the documentation date; a
-- serial match wins), gives transfer_id and, when it is the only one, days_from_shipment.
-- Stored in the curated database, so any DuckDB client can run SELECT * FROM trace('...').

CREATE OR REPLACE MACRO team_of(path) AS CASE
    WHEN path LIKE 'items/%/%' THEN split_part(path, '/', 2)
    WHEN path LIKE 'items/%' THEN '(no team folder)' END;

CREATE OR REPLACE MACRO trace(text, partial := false) AS TABLE
WITH wanted AS (
    SELECT normalised_key(text) AS key, normalised_record_id(text) AS record
),
sightings AS (
    SELECT 'item' AS sighting, source_file, source_sheet, source_line, record_id,
           documented_on, documented_in, site, coalesce(model_designation, model) AS model,
           model_key, coalesce(origin, producer || ' (non-state)') AS origin, serial_number,
           serial_key, lot_number, lot_key, quantity, NULL AS detail, NULL AS cells
    FROM items
    UNION ALL
    SELECT 'superseded version', source_file, source_sheet, source_line, record_id,
           documented_on, documented_in, site, coalesce(model_designation, model), model_key,
           coalesce(origin, producer || ' (non-state)'), serial_number, serial_key, lot_number,
           lot_key, quantity, 'superseded by the version at row ' || superseded_by_row, NULL
    FROM record_versions
    UNION ALL
    SELECT 'merged record', dropped_file, NULL, dropped_line, dropped_record_id,
           dropped_documented_on, dropped_documented_in, dropped_site, dropped_model,
           dropped_model_key, dropped_origin, dropped_serial_number, dropped_serial_key,
           dropped_lot_number, dropped_lot_key, NULL,
           'merged into ' || coalesce(kept_record_id, '(no id)') || ' at ' || kept_file || ':'
               || kept_line || ' (' || rule || ')', dropped_cells
    FROM dedup_decisions
    UNION ALL
    SELECT 'quarantined row', source_file, source_sheet, source_line, record_id,
           documented_on, NULL, site, model, NULL, origin_recorded, serial_number, serial_key,
           lot_number, lot_key, NULL, array_to_string(reasons, ', '), cells
    FROM quarantine
    UNION ALL
    SELECT 'transfer', source_file, source_sheet, source_line, transfer_id, shipped_on, NULL,
           NULL, coalesce(model_designation, model), model_key, exporter, serial_number,
           serial_key, lot_number, lot_key, quantity,
           'shipped by ' || exporter || ' to ' || importer || ' (end user: ' || end_user || ')',
           NULL
    FROM transfers
),
-- Stored record ids as compared. Printable ASCII (nearly every id) is left as it is but for
-- the trim; the others are cleaned here, each distinct one once, as normalised_record_id
-- cleans the argument (the same tables, set by set: per row, that macro's per-character
-- lookups took minutes at a million rows).
odd_ids AS (
    SELECT DISTINCT record_id FROM sightings
    WHERE record_id IS NOT NULL AND NOT regexp_full_match(record_id, '[ -~]*')
),
odd_characters AS (
    SELECT record_id, unnest(characters) AS character,
           generate_subscripts(characters, 1) AS position
    FROM (SELECT record_id, regexp_extract_all(record_id, '(?s).') AS characters FROM odd_ids)
),
odd_cleaned AS (
    SELECT o.record_id,
           nullif(trim(translate(regexp_replace(regexp_replace(nfc_normalize(
               string_agg(coalesce(k.replacement, o.character), '' ORDER BY o.position)),
               @INVISIBLE@, '', 'g'), @SPACES@, ' ', 'g'), @LOOKALIKES@, @LATIN@), ' '),
               '') AS record_compared
    FROM odd_characters AS o
    LEFT JOIN key_characters AS k ON k.step = 'compatibility' AND k.character = o.character
    GROUP BY o.record_id
),
compared AS (
    SELECT s.*, w.key, w.record,
           CASE WHEN c.record_id IS NOT NULL THEN c.record_compared
                ELSE nullif(trim(s.record_id, ' '), '') END AS record_compared
    FROM sightings AS s CROSS JOIN wanted AS w LEFT JOIN odd_cleaned AS c USING (record_id)
),
exact AS (
    SELECT * EXCLUDE (key, record, record_compared), 'exact' AS match,
           concat_ws(', ', CASE WHEN serial_key = key THEN 'serial' END,
                     CASE WHEN lot_key = key THEN 'lot' END,
                     CASE WHEN record_compared = record THEN 'record_id' END) AS matched_on
    FROM compared
    WHERE serial_key = key OR lot_key = key OR record_compared = record
),
near AS (
    SELECT * EXCLUDE (key, record, record_compared), 'partial' AS match,
           concat_ws(', ', CASE WHEN contains(serial_key, key) THEN 'serial' END,
                     CASE WHEN contains(lot_key, key) THEN 'lot' END,
                     CASE WHEN contains(record_compared, record) THEN 'record_id' END)
    FROM compared
    WHERE (partial OR NOT EXISTS (SELECT 1 FROM exact))
      AND (contains(serial_key, key) OR contains(lot_key, key)
           OR contains(record_compared, record))
      AND NOT (serial_key IS NOT DISTINCT FROM key OR lot_key IS NOT DISTINCT FROM key
               OR record_compared IS NOT DISTINCT FROM record)
),
found AS (
    SELECT row_number() OVER (ORDER BY match, documented_on, source_file, source_sheet,
                                       source_line, sighting) AS position, *
    FROM (SELECT * FROM exact UNION ALL SELECT * FROM near)
),
candidates AS (
    SELECT f.position, t.transfer_id, t.shipped_on, t.serial_key IS NOT NULL AS by_serial
    FROM found AS f
    JOIN transfers AS t
      ON f.model_key = t.model_key
     AND ((t.serial_key IS NOT NULL AND f.serial_key = t.serial_key
           AND (f.lot_key IS NULL OR t.lot_key IS NULL OR f.lot_key = t.lot_key))
          OR (t.serial_key IS NULL AND f.lot_key = t.lot_key))
    WHERE f.sighting IN ('item', 'superseded version', 'merged record')
      AND t.shipped_on <= f.documented_on
    QUALIFY by_serial OR NOT bool_or(by_serial) OVER (PARTITION BY f.position)
),
shipments AS (
    SELECT position, count(DISTINCT transfer_id) AS transfers,
           string_agg(DISTINCT transfer_id, ', ' ORDER BY transfer_id) AS transfer_ids,
           min(shipped_on) AS shipped_on
    FROM candidates GROUP BY position
)
SELECT f.match, f.matched_on, f.sighting, team_of(f.source_file) AS team, f.source_file,
       f.source_sheet, f.source_line, f.record_id, f.documented_on, f.documented_in, f.site,
       f.model, f.origin, f.serial_number, f.lot_number, f.quantity,
       CASE WHEN f.sighting = 'transfer' THEN f.record_id ELSE s.transfer_ids END
           AS transfer_id,
       CASE WHEN f.sighting = 'transfer' THEN f.documented_on
            WHEN s.transfers = 1 THEN s.shipped_on END AS shipped_on,
       CASE WHEN s.transfers = 1 THEN (f.documented_on - s.shipped_on)::INTEGER END
           AS days_from_shipment,
       f.detail, f.cells
FROM found AS f LEFT JOIN shipments AS s USING (position)
ORDER BY f.position;

COMMENT ON MACRO TABLE trace IS 'Every sighting of a serial number, lot number or record id: SELECT * FROM trace(''12-14-451'') (exact matches of the normalised key or id; partial matches when there are none, or with partial := true). Columns: match (exact/partial), matched_on (serial, lot, record_id), sighting (item, superseded version, merged record, quarantined row, transfer), team, source_file, source_sheet, source_line, record_id (transfer_id for a transfer), documented_on (shipped_on for a transfer), documented_in, site, model, origin (present-day state, producer (non-state), or a quarantined row''s recorded text; the exporter for a transfer), serial_number and lot_number as written, quantity, transfer_id, shipped_on and days_from_shipment of the documented transfer an item matches, detail (why quarantined, merged into what, superseded by what, who shipped to whom), cells (original cells of quarantined and merged rows).';
COMMENT ON MACRO team_of IS 'The team of a raw file: the first folder under items/.';
