-- lot_spread: lots of ammunition documented at two or more distinct sites (one shipment that
-- fed several fronts). A lot is a model (its canonical designation: model_key), an origin (the
-- present-day state, the non-state producer or Unknown, each a value of its own) and a
-- normalised lot key; ammunition without a model or a lot key belongs to no lot. Its model
-- and lot_number are their most frequent recorded spellings, ties going to the spelling seen
-- first in path and line order (row_number).
CREATE OR REPLACE TEMP TABLE lot_records AS
SELECT model_key, coalesce(origin, producer || ' (non-state)', 'Unknown') AS origin, lot_key,
       coalesce(model_designation, model) AS model, lot_number, quantity, site_key,
       documented_in, documented_on, row_number
FROM items
WHERE item_kind = 'ammunition' AND model_key IS NOT NULL AND lot_key IS NOT NULL;

CREATE OR REPLACE TABLE fig_lot_spread AS
WITH lots AS (
    SELECT model_key, origin, lot_key, count(*) AS records, sum(quantity)::BIGINT AS units,
           count(DISTINCT site_key) AS sites, count(DISTINCT documented_in) AS countries,
           min(documented_on) AS first_documented, max(documented_on) AS last_documented
    FROM lot_records
    GROUP BY ALL
    HAVING count(DISTINCT site_key) >= 2
),
spellings AS (
    SELECT model_key, origin, lot_key, model, lot_number, count(*) AS times,
           min(row_number) AS first_row
    FROM lot_records
    GROUP BY ALL
),
model_spelling AS (
    SELECT model_key, origin, lot_key, model FROM (
        SELECT model_key, origin, lot_key, model, sum(times) AS times, min(first_row) AS first_row
        FROM spellings GROUP BY ALL)
    QUALIFY row_number() OVER (PARTITION BY model_key, origin, lot_key
                               ORDER BY times DESC, first_row) = 1
),
lot_spelling AS (
    SELECT model_key, origin, lot_key, lot_number FROM (
        SELECT model_key, origin, lot_key, lot_number, sum(times) AS times,
               min(first_row) AS first_row
        FROM spellings GROUP BY ALL)
    QUALIFY row_number() OVER (PARTITION BY model_key, origin, lot_key
                               ORDER BY times DESC, first_row) = 1
)
SELECT m.model, l.origin, l.lot_key, s.lot_number, l.records, l.units, l.sites, l.countries,
       l.first_documented, l.last_documented,
       (l.last_documented - l.first_documented)::INTEGER AS days_between
FROM lots AS l
JOIN model_spelling AS m USING (model_key, origin, lot_key)
JOIN lot_spelling AS s USING (model_key, origin, lot_key)
ORDER BY l.sites DESC, l.units DESC, m.model, l.lot_key, l.origin;

DROP TABLE lot_records;
