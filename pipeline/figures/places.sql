-- Where and when items were documented: documentation_sites and documentation_timeline.
-- Counts are those of documentation_summary: weapons and IED materiel in items (rows),
-- ammunition in units (sum of quantity), records in rows of every kind.

-- documentation_sites: one row per country and site key (items.site_key: the site trimmed,
-- case-folded, runs of spaces as one). A site is shown as its most frequent recorded spelling
-- over all its rows (ties: the spelling seen first in path and line order), so a site name
-- found in two countries reads the same in both. Its coordinates are the medians of its
-- records' latitudes and longitudes, over the records that have both (so that the point is
-- made of whole pairs); DuckDB's median of a DOUBLE is the mean of the middle two for an even
-- count. No record with both: both empty.
CREATE OR REPLACE TABLE fig_documentation_sites AS
WITH spelling AS (
    SELECT site_key, site FROM (
        SELECT site_key, site, count(*) AS times, min(row_number) AS first_row
        FROM items GROUP BY ALL)
    QUALIFY row_number() OVER (PARTITION BY site_key ORDER BY times DESC, first_row) = 1
),
sites AS (
    SELECT documented_in, site_key,
           median(latitude) FILTER (WHERE latitude IS NOT NULL AND longitude IS NOT NULL)
               AS latitude,
           median(longitude) FILTER (WHERE latitude IS NOT NULL AND longitude IS NOT NULL)
               AS longitude,
           count(*) AS records,
           count(*) FILTER (WHERE item_kind = 'weapons') AS weapons,
           coalesce(sum(quantity) FILTER (WHERE item_kind = 'ammunition'), 0)::BIGINT
               AS ammunition_units,
           count(*) FILTER (WHERE item_kind = 'ied_materiel') AS ied_items,
           min(documented_on) AS first_documented,
           max(documented_on) AS last_documented
    FROM items
    GROUP BY documented_in, site_key
)
SELECT s.documented_in, p.site, s.latitude, s.longitude, s.records, s.weapons,
       s.ammunition_units, s.ied_items, s.first_documented, s.last_documented
FROM sites AS s JOIN spelling AS p USING (site_key)
ORDER BY group_order(s.documented_in), s.records DESC, p.site, s.site_key;

-- documentation_timeline: items per calendar month, per country and All. Every group lists
-- every month from the first to the last month documented anywhere in the data, zeros
-- included, so that each group's series has the same months.
CREATE OR REPLACE TABLE fig_documentation_timeline AS
WITH monthly AS (
    SELECT documented_in, date_trunc('month', documented_on)::DATE AS month_start, item_kind,
           count(*) AS records, sum(quantity) AS quantity
    FROM items
    GROUP BY ALL
),
grouped AS (
    SELECT * FROM monthly
    UNION ALL
    SELECT * REPLACE ('All' AS documented_in) FROM monthly
),
bounds AS (
    SELECT min(month_start)::TIMESTAMP AS first, max(month_start)::TIMESTAMP AS last FROM monthly
),
months AS (
    SELECT unnest(generate_series(first, last, INTERVAL 1 MONTH))::DATE AS month_start
    FROM bounds WHERE first IS NOT NULL
),
groups AS (
    SELECT DISTINCT documented_in FROM grouped
),
counts AS (
    SELECT documented_in, month_start,
           sum(records)::BIGINT AS records,
           coalesce(sum(records) FILTER (WHERE item_kind = 'weapons'), 0)::BIGINT AS weapons,
           coalesce(sum(quantity) FILTER (WHERE item_kind = 'ammunition'), 0)::BIGINT
               AS ammunition_units,
           coalesce(sum(records) FILTER (WHERE item_kind = 'ied_materiel'), 0)::BIGINT
               AS ied_items
    FROM grouped
    GROUP BY ALL
)
SELECT g.documented_in, strftime(m.month_start, '%Y-%m') AS month,
       coalesce(c.records, 0) AS records, coalesce(c.weapons, 0) AS weapons,
       coalesce(c.ammunition_units, 0) AS ammunition_units,
       coalesce(c.ied_items, 0) AS ied_items
FROM groups AS g
CROSS JOIN months AS m
LEFT JOIN counts AS c ON c.documented_in = g.documented_in AND c.month_start = m.month_start
ORDER BY group_order(g.documented_in), m.month_start;
