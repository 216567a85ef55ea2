-- Every share with its 95% interval, from figure_facts.
--
-- Weapons are counted in items and each item is independent: Wilson score interval.
-- Ammunition is counted in units, and the units of one record are not independent (a crate of
-- 1,200 rounds is one observation of a lot, not 1,200): the share is a ratio estimator over
-- records (clusters) and its interval uses the linearised (Taylor) variance of that ratio,
--   var(p) = n / (n - 1) * sum_i (y_i - p * m_i)^2 / (sum_i m_i)^2,
-- where m_i is the record's units and y_i its units in the category (m_i or 0). It is closed
-- form, hence deterministic. Both intervals are clipped to [0, 1].
CREATE OR REPLACE MACRO z95() AS 1.959963984540054;

-- At k = 0 (k = n) the bound is 0 (1) exactly: computed, it drifts by a rounding error.
CREATE OR REPLACE MACRO wilson_low(k, n) AS
    CASE WHEN n > 0 AND k = 0 THEN 0.0 WHEN n > 0 THEN greatest(0.0,
        ((k / n) + z95() ^ 2 / (2 * n)
         - z95() * sqrt((k / n) * (1 - k / n) / n + z95() ^ 2 / (4 * n ^ 2)))
        / (1 + z95() ^ 2 / n)) END;

CREATE OR REPLACE MACRO wilson_high(k, n) AS
    CASE WHEN n > 0 AND k = n THEN 1.0 WHEN n > 0 THEN least(1.0,
        ((k / n) + z95() ^ 2 / (2 * n)
         + z95() * sqrt((k / n) * (1 - k / n) / n + z95() ^ 2 / (4 * n ^ 2)))
        / (1 + z95() ^ 2 / n)) END;

-- units_in/units_all: units in the category / all known units, sq_in/sq_all: the same sums of
-- squared record sizes, n: records with a known value.
CREATE OR REPLACE MACRO cluster_half_width(units_in, units_all, sq_in, sq_all, n) AS
    CASE WHEN n > 1 AND units_all > 0 THEN z95() * sqrt(
        n / (n - 1)
        * ((1 - units_in / units_all) ^ 2 * sq_in + (units_in / units_all) ^ 2 * (sq_all - sq_in))
        / units_all ^ 2) END;

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

-- Sums of squared record sizes are HUGEINT: a record may hold 10,000,000 units (the input
-- contract's limit), and 92,234 such records square past BIGINT. Counts stay BIGINT: they
-- would need ten million times more records.
CREATE OR REPLACE TEMP TABLE figure_shares AS
WITH observed AS (
    SELECT dimension, item_kind, documented_in, value, known,
           sum(amount)::BIGINT AS count, sum(squares)::HUGEINT AS squares,
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
           (sum(squares) FILTER (WHERE known) OVER w)::HUGEINT AS known_squares,
           sum(records) FILTER (WHERE known) OVER w AS known_records
    FROM by_value
    WINDOW w AS (PARTITION BY dimension, item_kind, documented_in)
),
intervals AS (
    SELECT *,
           CASE WHEN known AND known_count > 0 THEN count / known_count END AS share,
           -- At a share of exactly 0 or 1 the linearised variance is 0, and an interval of zero
           -- width would claim certainty, so those fall back to Wilson over records.
           item_kind = 'weapons' OR count = 0 OR count = known_count AS use_wilson,
           CASE WHEN item_kind = 'weapons' THEN count
                WHEN count = 0 THEN 0 ELSE known_records END AS wilson_k,
           CASE WHEN item_kind = 'weapons' THEN known_count ELSE known_records END AS wilson_n,
           cluster_half_width(count, known_count, squares, known_squares, known_records)
               AS half_width
    FROM with_totals
)
SELECT dimension, item_kind, documented_in, value, known, count, known_count, share,
       CASE WHEN share IS NULL THEN NULL
            WHEN use_wilson THEN wilson_low(wilson_k, wilson_n)
            ELSE greatest(0.0, share - half_width) END AS ci_low,
       CASE WHEN share IS NULL THEN NULL
            WHEN use_wilson THEN wilson_high(wilson_k, wilson_n)
            ELSE least(1.0, share + half_width) END AS ci_high
FROM intervals;
