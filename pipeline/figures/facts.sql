-- Facts behind every share figure, in one long table.
--
-- Each row says: for this item (a record of `amount` items or units), in this documented_in
-- group (its own country, and again in 'All'), on this dimension, the item has this `value`,
-- and whether the value is `known` (unknowns are reported, as 'unknown' or 'Unknown', but left
-- out of denominators).
-- Settings come from DuckDB variables set by the caller: as_of, recent_from.
-- The table `periods(period, from_year, to_year, position)` holds the manufacture periods.
CREATE OR REPLACE TEMP TABLE figure_items AS
WITH eu AS (
    SELECT code FROM ref_eu_membership
    WHERE joined_on <= getvariable('as_of')
      AND (left_on IS NULL OR left_on > getvariable('as_of'))
)
SELECT
    i.row_number,
    i.item_kind,
    i.documented_in,
    i.origin,
    i.origin IS NOT NULL AND i.origin_code IN (SELECT code FROM eu) AS eu_origin,
    i.calibre_family,
    i.year_of_manufacture AS year,
    p.period,
    i.anti_armour,
    CASE WHEN i.item_kind = 'weapons' THEN 1 ELSE i.quantity END AS amount
FROM items AS i
LEFT JOIN periods AS p ON i.year_of_manufacture BETWEEN p.from_year AND p.to_year
WHERE i.item_kind IN ('weapons', 'ammunition');

-- A view, not a table: it is several rows per item, read once by shares.sql; materialised it
-- was the figures' largest cost (about 1 s and 10 rows per item at a million items).
CREATE OR REPLACE TEMP VIEW figure_facts AS
WITH grouped AS (
    SELECT * FROM figure_items
    UNION ALL
    SELECT * REPLACE ('All' AS documented_in) FROM figure_items
),
anti_armour AS (
    SELECT * FROM grouped WHERE item_kind = 'ammunition' AND anti_armour
)
SELECT 'origin' AS dimension, item_kind, documented_in, row_number, amount,
       coalesce(origin, 'Unknown') AS value, origin IS NOT NULL AS known
FROM grouped
UNION ALL
SELECT 'calibre_family', item_kind, documented_in, row_number, amount,
       calibre_family, calibre_family <> 'unknown'
FROM grouped
UNION ALL
SELECT 'period', item_kind, documented_in, row_number, amount,
       coalesce(period, 'unknown'), period IS NOT NULL
FROM grouped
UNION ALL
SELECT 'eu', item_kind, documented_in, row_number, amount,
       CASE WHEN origin IS NULL THEN 'unknown' WHEN eu_origin THEN 'EU' ELSE 'non-EU' END,
       origin IS NOT NULL
FROM grouped
UNION ALL
SELECT 'anti_armour_recent', item_kind, documented_in, row_number, amount,
       CASE WHEN year IS NULL THEN 'unknown'
            WHEN year >= getvariable('recent_from') THEN 'recent' ELSE 'older' END,
       year IS NOT NULL
FROM anti_armour
UNION ALL
SELECT 'anti_armour_recent_eu', item_kind, documented_in, row_number, amount,
       CASE WHEN origin IS NULL THEN 'unknown' WHEN eu_origin THEN 'EU' ELSE 'non-EU' END,
       origin IS NOT NULL
FROM anti_armour WHERE year >= getvariable('recent_from')
UNION ALL
SELECT 'anti_armour_since_2010_eu', item_kind, documented_in, row_number, amount,
       CASE WHEN origin IS NULL THEN 'unknown' WHEN eu_origin THEN 'EU' ELSE 'non-EU' END,
       origin IS NOT NULL
FROM anti_armour WHERE year >= 2010;
