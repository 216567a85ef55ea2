-- Every share with what its interval needs, from figure_facts. The figures stage then computes
-- effective_n, ci_low, ci_high and low_reliability from these columns (pipeline/intervals.py:
-- the Korn-Graubard interval needs beta quantiles, which DuckDB does not have) and adds them to
-- figure_shares before figures.sql runs.
--
-- n: the denominator's records for ammunition (counted in units), its items for any other kind.
-- squares, known_squares: the category's and the denominator's sums of squared record sizes
-- (units), from which the effective number of records is computed (a crate of 1,200 rounds is
-- one observation of a lot, not 1,200). n is empty where the share is (Unknown, unknown,
-- nothing known).

-- Closed dimensions list every value, so a share of zero is a row (with its interval) and
-- tables keep their shape from build to build. Origin lists only the countries observed.
CREATE OR REPLACE TEMP TABLE figure_domains AS
SELECT * FROM (VALUES
    ('calibre_family', 'warsaw_pact', true), ('calibre_family', 'nato', true),
    ('calibre_family', 'other', true), ('calibre_family', 'unknown', false),
    ('eu', 'EU', true), ('eu', 'non-EU', true), ('eu', 'unknown', false),
    ('anti_armour_recent', 'recent', true), ('anti_armour_recent', 'older', true),
    ('anti_armour_recent', 'unknown', false),
    ('anti_armour_recent_eu', 'EU', true), ('anti_armour_recent_eu', 'non-EU', true),
    ('anti_armour_recent_eu', 'unknown', false),
    ('anti_armour_since_2010_eu', 'EU', true), ('anti_armour_since_2010_eu', 'non-EU', true),
    ('anti_armour_since_2010_eu', 'unknown', false),
    ('period', 'unknown', false)
) AS domain(dimension, value, known)
UNION ALL
SELECT 'period', period, true FROM periods;

CREATE OR REPLACE TEMP TABLE figure_shares AS
WITH observed AS (
    SELECT dimension, item_kind, documented_in, value, known,
           sum(amount)::BIGINT AS count, sum(squares)::BIGINT AS squares,
           sum(records)::BIGINT AS records
    FROM figure_facts
    GROUP BY ALL
),
cells AS (
    SELECT DISTINCT dimension, item_kind, documented_in FROM observed
),
by_value AS (
    SELECT * FROM observed
    WHERE dimension NOT IN (SELECT dimension FROM figure_domains)
    UNION ALL
    SELECT c.dimension, c.item_kind, c.documented_in, d.value, d.known,
           coalesce(o.count, 0), coalesce(o.squares, 0), coalesce(o.records, 0)
    FROM cells AS c
    JOIN figure_domains AS d USING (dimension)
    LEFT JOIN observed AS o USING (dimension, item_kind, documented_in, value)
),
with_totals AS (
    SELECT *,
           (sum(count) FILTER (WHERE known) OVER w)::BIGINT AS known_count,
           (sum(squares) FILTER (WHERE known) OVER w)::BIGINT AS known_squares,
           sum(records) FILTER (WHERE known) OVER w AS known_records
    FROM by_value
    WINDOW w AS (PARTITION BY dimension, item_kind, documented_in)
),
sizes AS (
    SELECT *,
           CASE WHEN known AND known_count > 0 THEN count / known_count END AS share,
           CASE WHEN item_kind = 'ammunition' THEN known_records ELSE known_count END AS sample_n
    FROM with_totals
)
SELECT dimension, item_kind, documented_in, value, known, count, known_count, share,
       CASE WHEN share IS NOT NULL THEN sample_n END::BIGINT AS n, squares, known_squares
FROM sizes;
