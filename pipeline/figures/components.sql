-- ied_components: IED materiel (components and precursors) by manufacturer and origin, per
-- documented_in group and All, counted in items (rows, whatever their quantity). A
-- manufacturer is its key (items.manufacturer_key: trimmed, case-folded, runs of spaces as
-- one), shown as its most frequent recorded spelling over all IED materiel (ties: the
-- spelling seen first in path and line order), so it reads the same in every group. Items
-- without a manufacturer form one row per group and origin, with manufacturer empty.
CREATE OR REPLACE TABLE fig_ied_components AS
WITH components AS (
    SELECT documented_in, coalesce(origin, producer || ' (non-state)', 'Unknown') AS origin,
           manufacturer_key, manufacturer, row_number
    FROM items
    WHERE item_kind = 'ied_materiel'
),
spelling AS (
    SELECT manufacturer_key, manufacturer FROM (
        SELECT manufacturer_key, manufacturer, count(*) AS times, min(row_number) AS first_row
        FROM components WHERE manufacturer_key IS NOT NULL GROUP BY ALL)
    QUALIFY row_number() OVER (PARTITION BY manufacturer_key ORDER BY times DESC, first_row) = 1
),
grouped AS (
    SELECT documented_in, origin, manufacturer_key FROM components
    UNION ALL
    SELECT 'All', origin, manufacturer_key FROM components
)
SELECT g.documented_in, g.origin, s.manufacturer, count(*) AS items
FROM grouped AS g LEFT JOIN spelling AS s USING (manufacturer_key)
GROUP BY g.documented_in, g.origin, g.manufacturer_key, s.manufacturer
ORDER BY group_order(g.documented_in), s.manufacturer IS NULL, items DESC, g.origin,
         s.manufacturer;
