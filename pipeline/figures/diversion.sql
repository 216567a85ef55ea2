-- Diversion chains: items matched to documented transfers (docs/figures.md, "diversion_chains").
-- A transfer that lists serials matches by serial only (an item whose serial is one of them,
-- same model, lots not contradicting); a transfer listing no serial for a model and lot matches
-- by lot (same model, same lot key, both known). A serial match wins over lot matches. An item
-- documented before the shipment cannot come from it; an item left with more than one transfer
-- is ambiguous. Neither is published as a chain: both go to diversion_issues.

CREATE OR REPLACE TEMP TABLE transfer_candidates AS
WITH serial_listed AS (
    SELECT DISTINCT transfer_id, model_key, lot_key FROM transfers WHERE serial_key IS NOT NULL
),
by_serial AS (
    SELECT i.record_id, t.transfer_id, 'serial' AS matched_by, t.shipped_on, t.row_number
    FROM items AS i JOIN transfers AS t
      ON i.model_key = t.model_key AND i.serial_key = t.serial_key
     AND (i.lot_key IS NULL OR t.lot_key IS NULL OR i.lot_key = t.lot_key)
),
by_lot AS (
    SELECT i.record_id, t.transfer_id, 'lot' AS matched_by, t.shipped_on, t.row_number
    FROM items AS i JOIN transfers AS t
      ON i.model_key = t.model_key AND i.lot_key = t.lot_key
    WHERE NOT EXISTS (SELECT 1 FROM serial_listed AS s
                     WHERE s.transfer_id = t.transfer_id AND s.model_key = t.model_key
                       AND s.lot_key = t.lot_key)
)
SELECT c.record_id, c.transfer_id, c.matched_by, c.shipped_on, c.row_number AS transfer_row,
       i.documented_on, i.documented_on < c.shipped_on AS before_shipment
FROM (SELECT * FROM by_serial UNION ALL SELECT * FROM by_lot) AS c
JOIN items AS i USING (record_id);

-- What is left of each item's candidates: shipped on or before its documentation, and, when
-- any serial match is left, serial matches only.
CREATE OR REPLACE TEMP TABLE transfer_matches AS
SELECT * FROM transfer_candidates
WHERE NOT before_shipment
QUALIFY matched_by = 'serial'
     OR NOT bool_or(matched_by = 'serial') OVER (PARTITION BY record_id);

CREATE OR REPLACE TEMP TABLE transfer_match_counts AS
SELECT record_id, count(DISTINCT transfer_id) AS transfers,
       string_agg(DISTINCT transfer_id, ', ' ORDER BY transfer_id) AS transfer_ids,
       min(matched_by) AS matched_by, min(shipped_on) AS shipped_on,
       min(transfer_row) AS transfer_row  -- rows of one transfer agree on what is published
FROM transfer_matches GROUP BY record_id;

CREATE OR REPLACE TABLE fig_diversion_chains AS
SELECT i.record_id, coalesce(i.model_designation, i.model) AS model, t.lot_number,
       t.transfer_id, t.exporter, t.importer, t.end_user, t.shipped_on, i.documented_on,
       i.documented_in, (i.documented_on - t.shipped_on)::INTEGER AS days_to_recovery,
       CASE WHEN t.retransfer_clause THEN 'yes' ELSE 'no' END AS retransfer_clause
FROM transfer_match_counts AS m
JOIN items AS i USING (record_id)
JOIN transfers AS t ON t.row_number = m.transfer_row
WHERE m.transfers = 1
ORDER BY t.shipped_on, t.transfer_id, i.documented_on, i.record_id;

CREATE OR REPLACE TABLE diversion_issues AS
WITH issues AS (
    SELECT record_id, 'ambiguous' AS issue, matched_by, transfer_ids, shipped_on
    FROM transfer_match_counts WHERE transfers > 1
    UNION ALL
    SELECT record_id, 'documented_before_shipment', min(matched_by),
           string_agg(DISTINCT transfer_id, ', ' ORDER BY transfer_id), min(shipped_on)
    FROM transfer_candidates AS c
    WHERE before_shipment AND record_id NOT IN (SELECT record_id FROM transfer_match_counts)
    GROUP BY record_id
)
SELECT x.record_id, coalesce(i.model_designation, i.model) AS model, i.lot_number,
       i.serial_number, i.documented_on, i.documented_in, x.issue, x.matched_by,
       x.transfer_ids, x.shipped_on
FROM issues AS x JOIN items AS i USING (record_id)
ORDER BY x.issue, i.documented_on, x.record_id;
