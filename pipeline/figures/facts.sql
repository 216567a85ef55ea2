-- Facts behind every share figure, in one long table.
--
-- Each row says: for these items (`records` records of `amount` items or units in all, whose
-- squared record sizes sum to `squares`), in this documented_in group (their own country, and
-- again in 'All'), on this dimension, the items have this `value`, and whether the value is
-- `known` (unknowns are reported, as 'unknown' or 'Unknown', but left out of denominators).
-- Items made by a non-state producer have no state of manufacture: on origin they are the
-- producer's own value ('Islamic State (non-state)'), and on origin and EU they are outside
-- the denominators like unknowns; elsewhere they count like any other item.
-- Settings come from DuckDB variables set by the caller: as_of, recent_from.
-- The table `periods(period, from_year, to_year, position)` holds the manufacture periods.

-- Items summed per combination of everything a figure breaks them down by: a few thousand
-- rows instead of one per item. Every count, and the sums of squares the intervals need, add
-- up exactly from these sums (1.9 + 2.2 s at ten million items before, when figure_items held
-- one row per item).
CREATE OR REPLACE TEMP TABLE figure_items AS
WITH eu AS (
    SELECT code FROM ref_eu_membership
    WHERE joined_on <= getvariable('as_of')
      AND (left_on IS NULL OR left_on > getvariable('as_of'))
),
each_item AS (
    SELECT
        i.item_kind,
        i.documented_in,
        i.origin,
        i.producer,
        i.origin IS NOT NULL AND i.origin_code IN (SELECT code FROM eu) AS eu_origin,
        i.calibre_family,
        i.year_of_manufacture AS year,
        p.period,
        i.anti_armour,
        CASE WHEN i.item_kind = 'weapons' THEN 1 ELSE i.quantity END AS amount
    FROM items AS i
    LEFT JOIN periods AS p ON i.year_of_manufacture BETWEEN p.from_year AND p.to_year
    WHERE i.item_kind IN ('weapons', 'ammunition')
)
SELECT * EXCLUDE (amount), sum(amount) AS amount, sum(amount * amount) AS squares,
       count(*) AS records
FROM each_item
GROUP BY ALL;

-- A view, not a table: it is read once, by shares.sql.
CREATE OR REPLACE TEMP VIEW figure_facts AS
WITH grouped AS (
    SELECT * FROM figure_items
    UNION ALL
    SELECT * REPLACE ('All' AS documented_in) FROM figure_items
),
anti_armour AS (
    SELECT * FROM grouped WHERE item_kind = 'ammunition' AND anti_armour
)
SELECT 'origin' AS dimension, item_kind, documented_in, amount, squares, records,
       coalesce(origin, producer || ' (non-state)', 'Unknown') AS value,
       origin IS NOT NULL AS known
FROM grouped
UNION ALL
SELECT 'calibre_family', item_kind, documented_in, amount, squares, records,
       calibre_family, calibre_family <> 'unknown'
FROM grouped
UNION ALL
SELECT 'period', item_kind, documented_in, amount, squares, records,
       coalesce(period, 'unknown'), period IS NOT NULL
FROM grouped
UNION ALL
SELECT 'eu', item_kind, documented_in, amount, squares, records,
       CASE WHEN origin IS NULL THEN 'unknown' WHEN eu_origin THEN 'EU' ELSE 'non-EU' END,
       origin IS NOT NULL
FROM grouped
UNION ALL
SELECT 'anti_armour_recent', item_kind, documented_in, amount, squares, records,
       CASE WHEN year IS NULL THEN 'unknown'
            WHEN year >= getvariable('recent_from') THEN 'recent' ELSE 'older' END,
       year IS NOT NULL
FROM anti_armour
UNION ALL
SELECT 'anti_armour_recent_eu', item_kind, documented_in, amount, squares, records,
       CASE WHEN origin IS NULL THEN 'unknown' WHEN eu_origin THEN 'EU' ELSE 'non-EU' END,
       origin IS NOT NULL
FROM anti_armour WHERE year >= getvariable('recent_from')
UNION ALL
SELECT 'anti_armour_since_2010_eu', item_kind, documented_in, amount, squares, records,
       CASE WHEN origin IS NULL THEN 'unknown' WHEN eu_origin THEN 'EU' ELSE 'non-EU' END,
       origin IS NOT NULL
FROM anti_armour WHERE year >= 2010;
