-- non_state_production's shares: what non-state producers (the group itself, an unnamed
-- improvised maker) made, per item kind, documented_in group and producer, added to
-- figure_shares (dimension 'non_state_production', value = the producer) so that the figures
-- stage gives them the interval, effective_n and low_reliability of every other share.
-- Weapons and IED materiel count in items (rows), ammunition in units. The share is over
-- everything of the kind documented in the group (known origin, unknown and non-state alike):
-- known_count is that total, n its items (or for ammunition its records), squares and
-- known_squares the sums of squared record sizes the units' effective number of records needs.
INSERT INTO figure_shares BY NAME
WITH each_record AS (
    SELECT item_kind, documented_in, producer,
           CASE WHEN item_kind = 'ammunition' THEN quantity ELSE 1 END AS amount
    FROM items
),
grouped AS (
    SELECT * FROM each_record
    UNION ALL
    SELECT * REPLACE ('All' AS documented_in) FROM each_record
),
kind_totals AS (
    SELECT item_kind, documented_in, sum(amount)::BIGINT AS total,
           sum(amount * amount)::HUGEINT AS total_squares, count(*) AS n
    FROM grouped GROUP BY ALL
),
made AS (
    SELECT item_kind, documented_in, producer, sum(amount)::BIGINT AS count,
           sum(amount * amount)::HUGEINT AS squares
    FROM grouped WHERE producer IS NOT NULL GROUP BY ALL
)
SELECT 'non_state_production' AS dimension, m.item_kind, m.documented_in,
       m.producer AS value, true AS known, m.count, t.total AS known_count,
       m.count / t.total AS share, t.n::BIGINT AS n, m.squares,
       t.total_squares AS known_squares
FROM made AS m JOIN kind_totals AS t USING (item_kind, documented_in);
