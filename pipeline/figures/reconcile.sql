-- Reconciliation: the published figures agree with each other and with `items`.
--
-- Runs on a database that holds `items`, `ref_eu_membership`, `figure_settings` and the fig_<id>
-- tables. Its result is the temp view reconcile_results (the other reconcile_* views and macros
-- are its steps; all are temporary, so the database is left as it was): one row per check,
-- with columns rule, figure, item_kind, grp (documented_in group), key (country, family,
-- period or year, where the check is per row), measure (the column checked), expected, actual,
-- difference, passed.
-- Counts are compared exactly; shares with the tolerance in the DuckDB variable
-- reconcile_tolerance (set by the caller). It recomputes from `items` on purpose instead of
-- reusing the figures' temp tables: a second, independent count is the point.

-- A by-origin row inside the shares' denominator: a state, not Unknown or a non-state producer.
CREATE OR REPLACE TEMP MACRO reconcile_known_origin(country) AS
    country <> 'Unknown' AND NOT ends_with(country, ' (non-state)');

-- documentation_sites shows a site by a spelling, not its key: each recorded spelling's key.
CREATE OR REPLACE TEMP VIEW reconcile_site_keys AS
SELECT DISTINCT site, site_key FROM items;

-- Every count of every figure, one row per (figure, item kind, group, key, column). `known`: the
-- row is inside the shares' denominator (not the Unknown/unknown or non-state row).
-- ied_components' key is its origin and manufacturer; its counts are checked per origin.
CREATE OR REPLACE TEMP VIEW reconcile_counts AS
SELECT 'documentation_summary' AS figure,
       CASE measure WHEN 'weapons' THEN 'weapons' WHEN 'ammunition_units' THEN 'ammunition'
                    WHEN 'ied_items' THEN 'ied_materiel' END
           AS item_kind,
       documented_in AS grp, NULL::VARCHAR AS key, measure, value, true AS known
FROM fig_documentation_summary UNPIVOT INCLUDE NULLS (
    value FOR measure IN (weapons, ammunition_units, ied_items, records, sites, days))
UNION ALL
SELECT 'weapons_by_origin', 'weapons', documented_in, country, 'weapons', weapons,
       reconcile_known_origin(country)
FROM fig_weapons_by_origin
UNION ALL
SELECT 'ammunition_by_origin', 'ammunition', documented_in, country, 'units', units,
       reconcile_known_origin(country)
FROM fig_ammunition_by_origin
UNION ALL
SELECT 'non_state_production', item_kind, documented_in, producer, 'count', count, true
FROM fig_non_state_production
UNION ALL
SELECT 'ied_components', 'ied_materiel', documented_in,
       origin || ' | ' || coalesce(manufacturer, ''), 'items', items, true
FROM fig_ied_components
UNION ALL
SELECT 'calibre_family', item_kind, documented_in, family, 'count', count, family <> 'unknown'
FROM fig_calibre_family
UNION ALL
SELECT 'manufacture_period', item_kind, documented_in, period, 'count', count,
       period <> 'unknown'
FROM fig_manufacture_period
UNION ALL
SELECT 'manufacture_year', item_kind, documented_in, year::VARCHAR, 'count', count, true
FROM fig_manufacture_year
UNION ALL
SELECT 'eu_share', item_kind, documented_in, NULL, measure, value, true
FROM fig_eu_share UNPIVOT INCLUDE NULLS (value FOR measure IN (eu_count, known_origin_count))
UNION ALL
SELECT 'anti_armour_recent', 'ammunition', documented_in, NULL, measure, value, true
FROM fig_anti_armour_recent UNPIVOT INCLUDE NULLS (value FOR measure IN (
    anti_armour_units, recent_units, recent_eu_units, since_2010_units, since_2010_eu_units))
UNION ALL
SELECT 'documentation_sites', NULL, documented_in, site_key, measure, value, true
FROM (SELECT s.*, k.site_key FROM fig_documentation_sites AS s
      LEFT JOIN reconcile_site_keys AS k USING (site))
    UNPIVOT INCLUDE NULLS (value FOR measure IN (records, weapons, ammunition_units, ied_items))
UNION ALL
SELECT 'documentation_timeline', NULL, documented_in, month, measure, value, true
FROM fig_documentation_timeline
    UNPIVOT INCLUDE NULLS (value FOR measure IN (records, weapons, ammunition_units, ied_items));

-- The same counts straight from `items`, per group and again in 'All'. Per key for origin,
-- calibre family and year; per group for the rest (manufacture_period's total, since the period
-- labels are the figure's own). Items are summed once per combination of the keys the counts
-- break down by (`sums`, a few thousand rows), and every count adds those sums up: summing the
-- rows for each count, and again for 'All', scanned twice ten million items several times.
-- Distinct sites and days cannot be added up, so they are counted from the rows (`visits`).
CREATE OR REPLACE TEMP TABLE reconcile_item_counts AS
WITH eu AS (
    SELECT code FROM ref_eu_membership, figure_settings AS s
    WHERE joined_on <= s.as_of AND (left_on IS NULL OR left_on > s.as_of)
),
sums AS (
    SELECT i.documented_in AS grp, i.item_kind, i.origin, i.producer, i.calibre_family,
           i.anti_armour, i.year_of_manufacture AS year,
           i.origin IS NOT NULL AND i.origin_code IN (SELECT code FROM eu) AS eu_origin,
           sum(CASE WHEN i.item_kind = 'weapons' THEN 1 ELSE i.quantity END) AS amount,
           sum(i.quantity) AS quantity, count(*) AS records
    FROM items AS i
    GROUP BY ALL
),
grouped AS (
    SELECT * FROM sums
    UNION ALL
    SELECT * REPLACE ('All' AS grp) FROM sums
),
visits AS (
    SELECT CASE WHEN grouping(documented_in) = 1 THEN 'All' ELSE documented_in END AS grp,
           count(DISTINCT site_key) AS sites,
           count(DISTINCT documented_on) AS days
    FROM items GROUP BY GROUPING SETS ((documented_in), ())
),
counted AS (  -- weapons and ammunition only, as the breakdowns count them
    SELECT * FROM grouped WHERE item_kind IN ('weapons', 'ammunition')
),
anti_armour AS (
    SELECT *, year >= (SELECT recent_from FROM figure_settings) AS recent
    FROM counted WHERE item_kind = 'ammunition' AND anti_armour
)
SELECT 'documentation_summary' AS figure, NULL::VARCHAR AS item_kind, grp, NULL::VARCHAR AS key,
       measure, value
FROM (
    SELECT grouped.grp,
           coalesce(sum(records) FILTER (WHERE item_kind = 'weapons'), 0)::BIGINT AS weapons,
           coalesce(sum(quantity) FILTER (WHERE item_kind = 'ammunition'), 0) AS ammunition_units,
           coalesce(sum(records) FILTER (WHERE item_kind = 'ied_materiel'), 0) AS ied_items,
           sum(records)::BIGINT AS records,
           any_value(sites) AS sites,
           any_value(days) AS days
    FROM grouped JOIN visits ON grouped.grp IS NOT DISTINCT FROM visits.grp
    GROUP BY grouped.grp
) UNPIVOT (value FOR measure IN (weapons, ammunition_units, ied_items, records, sites, days))
UNION ALL
SELECT CASE item_kind WHEN 'weapons' THEN 'weapons_by_origin' ELSE 'ammunition_by_origin' END,
       item_kind, grp, coalesce(origin, producer || ' (non-state)', 'Unknown'),
       CASE item_kind WHEN 'weapons' THEN 'weapons' ELSE 'units' END, sum(amount)
FROM counted GROUP BY ALL
UNION ALL
SELECT 'non_state_production', item_kind, grp, producer, 'count',
       sum(CASE item_kind WHEN 'ammunition' THEN quantity ELSE records END)
FROM grouped WHERE producer IS NOT NULL GROUP BY ALL
UNION ALL
SELECT 'ied_components', 'ied_materiel', grp, coalesce(origin, producer || ' (non-state)', 'Unknown'),
       'items', sum(records)
FROM grouped WHERE item_kind = 'ied_materiel' GROUP BY ALL
UNION ALL
SELECT 'calibre_family', item_kind, grp, calibre_family, 'count', sum(amount)
FROM counted GROUP BY ALL
UNION ALL
SELECT 'manufacture_period', item_kind, grp, NULL, 'count', sum(amount)
FROM counted GROUP BY ALL
UNION ALL
SELECT 'manufacture_year', item_kind, grp, year::VARCHAR, 'count', sum(amount)
FROM counted WHERE year IS NOT NULL GROUP BY ALL
UNION ALL
SELECT 'eu_share', item_kind, grp, NULL, measure, value
FROM (
    SELECT item_kind, grp,
           coalesce(sum(amount) FILTER (WHERE eu_origin), 0) AS eu_count,
           coalesce(sum(amount) FILTER (WHERE origin IS NOT NULL), 0) AS known_origin_count
    FROM counted GROUP BY ALL
) UNPIVOT (value FOR measure IN (eu_count, known_origin_count))
UNION ALL
SELECT 'anti_armour_recent', 'ammunition', grp, NULL, measure, value
FROM (
    SELECT grp,
           sum(amount) AS anti_armour_units,
           coalesce(sum(amount) FILTER (WHERE recent), 0) AS recent_units,
           coalesce(sum(amount) FILTER (WHERE recent AND eu_origin), 0) AS recent_eu_units,
           coalesce(sum(amount) FILTER (WHERE year >= 2010), 0) AS since_2010_units,
           coalesce(sum(amount) FILTER (WHERE year >= 2010 AND eu_origin), 0)
               AS since_2010_eu_units,
           -- the shares' denominators, which the figure does not publish
           coalesce(sum(amount) FILTER (WHERE year IS NOT NULL), 0) AS known_year_units,
           coalesce(sum(amount) FILTER (WHERE recent AND origin IS NOT NULL), 0)
               AS recent_known_origin_units,
           coalesce(sum(amount) FILTER (WHERE year >= 2010 AND origin IS NOT NULL), 0)
               AS since_2010_known_origin_units
    FROM anti_armour GROUP BY grp
) UNPIVOT (value FOR measure IN (
    anti_armour_units, recent_units, recent_eu_units, since_2010_units, since_2010_eu_units,
    known_year_units, recent_known_origin_units, since_2010_known_origin_units))
UNION ALL
-- where and when: per country and site key, and per group and month (All too)
SELECT 'documentation_sites', NULL, documented_in, site_key, measure, value
FROM (
    SELECT documented_in, site_key, count(*) AS records,
           count(*) FILTER (WHERE item_kind = 'weapons') AS weapons,
           coalesce(sum(quantity) FILTER (WHERE item_kind = 'ammunition'), 0)
               AS ammunition_units,
           count(*) FILTER (WHERE item_kind = 'ied_materiel') AS ied_items
    FROM items GROUP BY ALL
) UNPIVOT (value FOR measure IN (records, weapons, ammunition_units, ied_items))
UNION ALL
SELECT 'documentation_timeline', NULL, grp, month, measure, value
FROM (
    SELECT CASE WHEN grouping(documented_in) = 1 THEN 'All' ELSE documented_in END AS grp,
           strftime(documented_on, '%Y-%m') AS month, count(*) AS records,
           count(*) FILTER (WHERE item_kind = 'weapons') AS weapons,
           coalesce(sum(quantity) FILTER (WHERE item_kind = 'ammunition'), 0)
               AS ammunition_units,
           count(*) FILTER (WHERE item_kind = 'ied_materiel') AS ied_items
    FROM items
    GROUP BY GROUPING SETS ((documented_in, strftime(documented_on, '%Y-%m')),
                            (strftime(documented_on, '%Y-%m')))
) UNPIVOT (value FOR measure IN (records, weapons, ammunition_units, ied_items));

-- Every share with its interval and the share recomputed as count / known denominator: from the
-- figure's own rows for the breakdowns and eu_share, from `items` for anti_armour_recent (whose
-- denominators are not published).
CREATE OR REPLACE TEMP VIEW reconcile_shares AS
WITH breakdowns AS (
    SELECT 'weapons_by_origin' AS figure, 'weapons' AS item_kind, documented_in AS grp,
           country AS key, weapons AS value, reconcile_known_origin(country) AS known, share,
           ci_low, ci_high, n, effective_n, low_reliability
    FROM fig_weapons_by_origin
    UNION ALL
    SELECT 'ammunition_by_origin', 'ammunition', documented_in, country, units,
           reconcile_known_origin(country), share, ci_low, ci_high, n, effective_n,
           low_reliability
    FROM fig_ammunition_by_origin
    UNION ALL
    SELECT 'calibre_family', item_kind, documented_in, family, count, family <> 'unknown', share,
           ci_low, ci_high, n, effective_n, low_reliability
    FROM fig_calibre_family
    UNION ALL
    SELECT 'manufacture_period', item_kind, documented_in, period, count, period <> 'unknown',
           share, ci_low, ci_high, n, effective_n, low_reliability
    FROM fig_manufacture_period
),
with_denominator AS (
    SELECT *, sum(value) FILTER (WHERE known) OVER (PARTITION BY figure, item_kind, grp)
              AS known_total
    FROM breakdowns
),
anti_armour_denominators AS (
    SELECT grp, measure, value FROM reconcile_item_counts WHERE figure = 'anti_armour_recent'
),
anti_armour AS (
    SELECT documented_in AS grp, measure, value, share, ci_low, ci_high, n, effective_n,
           low_reliability
    FROM fig_anti_armour_recent
    UNPIVOT INCLUDE NULLS (
        (value, share, ci_low, ci_high, n, effective_n, low_reliability) FOR measure IN (
        (recent_units, recent_share, recent_share_ci_low, recent_share_ci_high, recent_share_n,
         recent_share_effective_n, recent_share_low_reliability) AS recent_share,
        (recent_eu_units, recent_eu_share, recent_eu_share_ci_low, recent_eu_share_ci_high,
         recent_eu_share_n, recent_eu_share_effective_n, recent_eu_share_low_reliability)
            AS recent_eu_share,
        (since_2010_eu_units, since_2010_eu_share, since_2010_eu_share_ci_low,
         since_2010_eu_share_ci_high, since_2010_eu_share_n, since_2010_eu_share_effective_n,
         since_2010_eu_share_low_reliability) AS since_2010_eu_share))
)
SELECT figure, item_kind, grp, key, known, known_total, 'share' AS measure, share, ci_low,
       ci_high, CASE WHEN known AND known_total > 0 THEN value / known_total END AS recomputed,
       n, effective_n, low_reliability
FROM with_denominator
UNION ALL
SELECT 'eu_share', item_kind, documented_in, 'EU', true, known_origin_count, 'share', share,
       ci_low, ci_high,
       CASE WHEN known_origin_count > 0 THEN eu_count / known_origin_count END,
       n, effective_n, low_reliability
FROM fig_eu_share
UNION ALL
SELECT 'anti_armour_recent', 'ammunition', a.grp, NULL, true, d.value, a.measure, a.share,
       a.ci_low, a.ci_high, CASE WHEN d.value > 0 THEN a.value / d.value END,
       a.n, a.effective_n, a.low_reliability
FROM anti_armour AS a
LEFT JOIN anti_armour_denominators AS d ON d.grp = a.grp AND d.measure = CASE a.measure
    WHEN 'recent_share' THEN 'known_year_units'
    WHEN 'recent_eu_share' THEN 'recent_known_origin_units'
    ELSE 'since_2010_known_origin_units' END
UNION ALL
-- a non-state producer's share is over everything of the kind in the group, recounted
SELECT 'non_state_production', p.item_kind, p.documented_in, p.producer, true, d.value,
       'share', p.share, p.ci_low, p.ci_high, CASE WHEN d.value > 0 THEN p.count / d.value END,
       p.n, p.effective_n, p.low_reliability
FROM fig_non_state_production AS p
LEFT JOIN reconcile_item_counts AS d
    ON d.figure = 'documentation_summary' AND d.grp = p.documented_in
   AND d.measure = CASE p.item_kind WHEN 'weapons' THEN 'weapons'
                                    WHEN 'ammunition' THEN 'ammunition_units' ELSE 'ied_items' END;

-- Per figure, item kind and group: items or units in all rows and in known rows. The summary's
-- weapons and ammunition_units, and eu_share's known_origin_count, are totals of their own.
CREATE OR REPLACE TEMP VIEW reconcile_totals AS
SELECT figure, item_kind, grp, sum(value) AS total,
       coalesce(sum(value) FILTER (WHERE known), 0) AS known_total
FROM reconcile_counts
WHERE figure IN ('weapons_by_origin', 'ammunition_by_origin', 'calibre_family',
                 'manufacture_period', 'manufacture_year', 'ied_components')
GROUP BY ALL
UNION ALL
SELECT figure, item_kind, grp, value, value
FROM reconcile_counts
WHERE (figure = 'documentation_summary' AND item_kind IS NOT NULL)
   OR (figure = 'eu_share' AND measure = 'known_origin_count');

-- Counts must be equal, exactly; shares within the tolerance, and empty where expected empty.
CREATE OR REPLACE TEMP MACRO reconcile_counts_agree(expected, actual) AS
    expected IS NOT DISTINCT FROM actual;

CREATE OR REPLACE TEMP MACRO reconcile_shares_agree(expected, actual) AS
    coalesce((expected IS NULL AND actual IS NULL)
             OR abs(actual - expected) <= getvariable('reconcile_tolerance'), false);

CREATE OR REPLACE TEMP MACRO reconcile_at_most(low, high) AS
    low <= high + getvariable('reconcile_tolerance');

CREATE OR REPLACE TEMP VIEW reconcile_results AS
WITH
-- 1. Shares of a breakdown sum to 1 over its known rows; a group with nothing known has none.
sums AS (
    SELECT 'shares_sum_to_one' AS rule, figure, item_kind, grp, NULL AS key, measure,
           CASE WHEN max(known_total) > 0 THEN 1.0 END AS expected, sum(share) AS actual
    FROM reconcile_shares
    WHERE figure NOT IN ('eu_share', 'anti_armour_recent', 'non_state_production')
    GROUP BY ALL
),
-- 2. Each share is its count over the known denominator (empty when unknown or nothing known)...
recomputed AS (
    SELECT 'share_equals_count_over_known' AS rule, figure, item_kind, grp, key, measure,
           recomputed AS expected, share AS actual
    FROM reconcile_shares
),
-- ... and lies in its interval, inside [0, 1]; an empty share has an empty interval. expected is
-- the nearest point of the interval, so difference says how far outside the share is.
intervals AS (
    SELECT 'share_within_interval' AS rule, figure, item_kind, grp, key, measure,
           CASE WHEN share IS NOT NULL
                THEN greatest(ci_low, 0.0, least(ci_high, 1.0, share)) END AS expected,
           coalesce(share, ci_low, ci_high) AS actual,
           CASE WHEN share IS NULL THEN ci_low IS NULL AND ci_high IS NULL
                ELSE coalesce(reconcile_at_most(0.0, ci_low) AND reconcile_at_most(ci_low, share)
                              AND reconcile_at_most(share, ci_high)
                              AND reconcile_at_most(ci_high, 1.0), false) END AS passed
    FROM reconcile_shares
),
-- ... and meets the contract's requirements on an interval and its sample size: never narrower
-- than the Wilson interval on n independent draws of the same share, a lower bound above 0 for
-- a share above 0 and an upper bound below 1 for a share below 1, 0 < effective_n <= n,
-- low_reliability when effective_n < 30 or the interval is wider than 0.30; all empty where the
-- share is. expected is Wilson's width, actual the interval's.
sample_sizes AS (
    SELECT 'interval_meets_contract' AS rule, figure, item_kind, grp, key, measure,
           2 * z * sqrt(share * (1 - share) / n + z ^ 2 / (4 * n ^ 2)) / (1 + z ^ 2 / n)
               AS expected,
           ci_high - ci_low AS actual,
           CASE WHEN share IS NULL
                THEN n IS NULL AND effective_n IS NULL AND low_reliability IS NULL
                ELSE coalesce(reconcile_at_most(expected, actual)
                              AND (ci_low > 0) = (share > 0) AND (ci_high < 1) = (share < 1)
                              AND effective_n > 0 AND effective_n <= n
                              AND low_reliability = (effective_n < 30 OR actual > 0.30),
                              false) END AS passed
    FROM reconcile_shares, (SELECT 1.959963984540054 AS z)
),
-- 3. Per key and column, the countries' counts add up to All's (sites and days are distinct
-- counts: a site or day can be in two countries, so they are checked against items instead;
-- documentation_sites has no All).
groups_to_all AS (
    SELECT 'groups_add_up_to_all' AS rule, figure, item_kind, 'All' AS grp, key, measure,
           coalesce(sum(value) FILTER (WHERE grp IS DISTINCT FROM 'All'), 0) AS expected,
           coalesce(sum(value) FILTER (WHERE grp = 'All'), 0) AS actual
    FROM reconcile_counts
    WHERE measure NOT IN ('sites', 'days') AND figure <> 'documentation_sites'
    GROUP BY ALL
),
-- One row per key, its count present and not negative, so that the sums here are sums of rows,
-- not of duplicates or gaps (actual is empty when a count is missing or negative).
one_row AS (
    SELECT 'one_count_per_key' AS rule, figure, item_kind, grp, key, measure, 1 AS expected,
           CASE WHEN bool_and(coalesce(value >= 0, false)) THEN count(*) END AS actual
    FROM reconcile_counts
    GROUP BY ALL
),
-- 4. The summary's counts equal the totals behind every breakdown, and the breakdowns agree.
pairs(item_kind, expected_figure, expected_part, actual_figure) AS (VALUES
    ('weapons', 'documentation_summary', 'total', 'weapons_by_origin'),
    ('ammunition', 'documentation_summary', 'total', 'ammunition_by_origin'),
    ('weapons', 'documentation_summary', 'total', 'calibre_family'),
    ('ammunition', 'documentation_summary', 'total', 'calibre_family'),
    ('weapons', 'documentation_summary', 'total', 'manufacture_period'),
    ('ammunition', 'documentation_summary', 'total', 'manufacture_period'),
    ('weapons', 'manufacture_period', 'known_total', 'manufacture_year'),
    ('ammunition', 'manufacture_period', 'known_total', 'manufacture_year'),
    ('weapons', 'weapons_by_origin', 'known_total', 'eu_share'),
    ('ammunition', 'ammunition_by_origin', 'known_total', 'eu_share'),
    ('ied_materiel', 'documentation_summary', 'total', 'ied_components')
),
summary AS (
    SELECT 'summary_equals_breakdown' AS rule, p.actual_figure AS figure, p.item_kind, g.grp,
           NULL AS key,
           'total vs ' || p.expected_figure
               || CASE p.expected_part WHEN 'known_total' THEN ' (known rows)' ELSE '' END
               AS measure,
           coalesce(CASE p.expected_part WHEN 'total' THEN e.total ELSE e.known_total END, 0)
               AS expected,
           coalesce(a.total, 0) AS actual
    FROM pairs AS p
    CROSS JOIN (SELECT DISTINCT grp FROM reconcile_totals) AS g
    LEFT JOIN reconcile_totals AS e
        ON e.figure = p.expected_figure AND e.item_kind = p.item_kind AND e.grp = g.grp
    LEFT JOIN reconcile_totals AS a
        ON a.figure = p.actual_figure AND a.item_kind = p.item_kind AND a.grp = g.grp
),
-- 5. Every count agrees with `items` (per key where the figure has one, else per group).
figure_side AS (
    SELECT figure, CASE WHEN figure = 'documentation_summary' THEN NULL ELSE item_kind END
               AS item_kind,
           grp, CASE figure WHEN 'manufacture_period' THEN NULL
                            WHEN 'ied_components' THEN split_part(key, ' | ', 1)
                            ELSE key END AS key, measure,
           sum(value) AS value, 'figure' AS side
    FROM reconcile_counts GROUP BY ALL
),
items_side AS (
    SELECT figure, item_kind, grp, key, measure, value, 'items' AS side
    FROM reconcile_item_counts
    WHERE measure NOT IN ('known_year_units', 'recent_known_origin_units',
                          'since_2010_known_origin_units')
),
with_items AS (
    SELECT 'figure_matches_items' AS rule, figure, item_kind, grp, key, measure,
           coalesce(sum(value) FILTER (WHERE side = 'items'), 0) AS expected,
           coalesce(sum(value) FILTER (WHERE side = 'figure'), 0) AS actual
    FROM (SELECT * FROM figure_side UNION ALL SELECT * FROM items_side)
    GROUP BY ALL
),
-- 6. The by-origin figures' non-state rows are the producers' counts in non_state_production,
-- per producer, and in total per kind and group (a row for every group, with zeros where no
-- producer made anything, so the rule is always checked).
non_state_counts AS (
    SELECT figure, item_kind, grp, regexp_replace(key, ' \(non-state\)$', '') AS key, value
    FROM reconcile_counts
    WHERE figure IN ('weapons_by_origin', 'ammunition_by_origin')
      AND ends_with(key, ' (non-state)')
    UNION ALL
    SELECT figure, item_kind, grp, key, value FROM reconcile_counts
    WHERE figure = 'non_state_production' AND item_kind <> 'ied_materiel'
    UNION ALL
    SELECT 'documentation_summary', item_kind, grp, NULL, 0 FROM reconcile_counts
    WHERE figure = 'documentation_summary' AND item_kind IN ('weapons', 'ammunition')
),
non_state AS (
    SELECT 'non_state_rows_agree' AS rule, 'non_state_production' AS figure, item_kind, grp,
           key, CASE WHEN key IS NULL THEN 'total' ELSE 'count' END AS measure,
           coalesce(sum(value) FILTER (WHERE figure <> 'non_state_production'), 0) AS expected,
           coalesce(sum(value) FILTER (WHERE figure = 'non_state_production'), 0) AS actual
    FROM (SELECT * FROM non_state_counts
          UNION ALL
          SELECT * REPLACE (NULL AS key) FROM non_state_counts
          WHERE figure <> 'documentation_summary')
    GROUP BY ALL
),
-- 7. lot_spread holds exactly the lots of ammunition at two sites or more, recounted from items,
-- and each row's days_between is its dates' difference.
lot_recount AS (
    SELECT count(*) AS lots, sum(records) AS records, sum(units) AS units, sum(sites) AS sites,
           sum(countries) AS countries
    FROM (
        SELECT count(*) AS records, sum(quantity) AS units, count(DISTINCT site_key) AS sites,
               count(DISTINCT documented_in) AS countries
        FROM items
        WHERE item_kind = 'ammunition' AND model_key IS NOT NULL AND lot_key IS NOT NULL
        GROUP BY model_key, coalesce(origin, producer || ' (non-state)', 'Unknown'), lot_key
        HAVING count(DISTINCT site_key) >= 2)
),
lot_figure AS (
    SELECT count(*) AS lots, sum(records) AS records, sum(units) AS units, sum(sites) AS sites,
           sum(countries) AS countries
    FROM fig_lot_spread
),
lots AS (
    SELECT 'lot_spread_matches_items' AS rule, 'lot_spread' AS figure,
           'ammunition' AS item_kind, 'All' AS grp, NULL AS key, e.measure, e.value AS expected,
           a.value AS actual
    FROM (UNPIVOT lot_recount ON lots, records, units, sites, countries
          INTO NAME measure VALUE value) AS e
    JOIN (UNPIVOT lot_figure ON lots, records, units, sites, countries
          INTO NAME measure VALUE value) AS a USING (measure)
    UNION ALL
    SELECT 'lot_spread_matches_items', 'lot_spread', 'ammunition', 'All',
           model || ' | ' || origin || ' | ' || lot_key, 'days_between',
           (last_documented - first_documented)::BIGINT, days_between
    FROM fig_lot_spread
),
-- 8. documentation_sites and documentation_timeline add up to the summary's counts per group
-- (records, weapons, units, IED items; documentation_sites per country, its rows to `sites`).
place_totals AS (
    SELECT figure, grp, measure, sum(value) AS value FROM reconcile_counts
    WHERE figure IN ('documentation_sites', 'documentation_timeline') GROUP BY ALL
    UNION ALL
    SELECT 'documentation_sites', documented_in, 'sites', count(*)
    FROM fig_documentation_sites GROUP BY ALL
),
place_expected AS (
    SELECT f.figure, s.grp, s.measure, s.value
    FROM reconcile_counts AS s,
         (VALUES ('documentation_sites'), ('documentation_timeline')) AS f(figure)
    WHERE s.figure = 'documentation_summary'
      AND s.measure IN ('records', 'weapons', 'ammunition_units', 'ied_items', 'sites')
      AND NOT (f.figure = 'documentation_sites' AND s.grp = 'All')
      AND NOT (f.figure = 'documentation_timeline' AND s.measure = 'sites')
),
places AS (
    SELECT 'places_add_up_to_summary' AS rule, e.figure, NULL AS item_kind, e.grp, NULL AS key,
           e.measure, e.value AS expected, coalesce(t.value, 0) AS actual
    FROM place_expected AS e LEFT JOIN place_totals AS t USING (figure, grp, measure)
),
-- 9. Each site's dates and coordinates recomputed from `items`: first and last documentation
-- date (in days), and the medians of the coordinates of its records that have both, as the
-- middle one of the sorted values (the mean of the middle two for an even count). A site row
-- without its items, or items without their row, fails.
site_rows AS (
    SELECT s.documented_in, k.site_key, s.latitude, s.longitude,
           date_diff('day', DATE '1970-01-01', s.first_documented) AS first_day,
           date_diff('day', DATE '1970-01-01', s.last_documented) AS last_day
    FROM fig_documentation_sites AS s LEFT JOIN reconcile_site_keys AS k USING (site)
),
site_values AS (
    SELECT documented_in, site_key,
           list_sort(list(latitude) FILTER (WHERE latitude IS NOT NULL AND longitude IS NOT NULL))
               AS latitudes,
           list_sort(list(longitude) FILTER (WHERE latitude IS NOT NULL AND longitude IS NOT NULL))
               AS longitudes,
           date_diff('day', DATE '1970-01-01', min(documented_on)) AS first_day,
           date_diff('day', DATE '1970-01-01', max(documented_on)) AS last_day
    FROM items GROUP BY ALL
),
site_recount AS (
    SELECT documented_in, site_key, first_day, last_day,
           (latitudes[(len(latitudes) + 1) // 2] + latitudes[len(latitudes) // 2 + 1]) / 2
               AS latitude,
           (longitudes[(len(longitudes) + 1) // 2] + longitudes[len(longitudes) // 2 + 1]) / 2
               AS longitude
    FROM site_values
),
site_pairs AS (
    SELECT coalesce(f.documented_in, r.documented_in) AS grp,
           coalesce(f.site_key, r.site_key) AS key,
           [r.latitude, r.longitude, r.first_day, r.last_day]::DOUBLE[] AS expected,
           [f.latitude, f.longitude, f.first_day, f.last_day]::DOUBLE[] AS actual,
           f.documented_in IS NOT NULL AND r.documented_in IS NOT NULL AS matched
    FROM site_rows AS f
    FULL JOIN site_recount AS r
        ON f.documented_in = r.documented_in AND f.site_key IS NOT DISTINCT FROM r.site_key
),
site_details AS (
    SELECT 'sites_match_items' AS rule, 'documentation_sites' AS figure, NULL AS item_kind,
           grp, key, m.measure, expected[m.i] AS expected, actual[m.i] AS actual,
           matched AND reconcile_shares_agree(expected[m.i], actual[m.i]) AS passed
    FROM site_pairs,
         (VALUES (1, 'latitude'), (2, 'longitude'), (3, 'first_documented'),
                 (4, 'last_documented')) AS m(i, measure)
),
-- 10. documentation_timeline lists every month from the first to the last month documented in
-- `items`, once, in every group (each country in items, and All), and no other month.
month_bounds AS (
    SELECT date_trunc('month', min(documented_on))::TIMESTAMP AS first_month,
           date_trunc('month', max(documented_on))::TIMESTAMP AS last_month
    FROM items
),
month_span AS (
    SELECT strftime(unnest(generate_series(first_month, last_month, INTERVAL 1 MONTH)),
                    '%Y-%m') AS month
    FROM month_bounds WHERE first_month IS NOT NULL
),
timeline_groups AS (
    SELECT DISTINCT documented_in AS grp FROM items
    UNION ALL
    SELECT 'All' WHERE EXISTS (SELECT 1 FROM items)
),
listed_months AS (
    SELECT documented_in AS grp, month, count(*) AS listed
    FROM fig_documentation_timeline GROUP BY ALL
),
timeline_months AS (
    SELECT 'timeline_months_complete' AS rule, 'documentation_timeline' AS figure,
           NULL AS item_kind, coalesce(e.grp, l.grp) AS grp, coalesce(e.month, l.month) AS key,
           'rows' AS measure, CASE WHEN e.month IS NULL THEN 0 ELSE 1 END AS expected,
           coalesce(l.listed, 0) AS actual
    FROM (SELECT grp, month FROM timeline_groups, month_span) AS e
    FULL JOIN listed_months AS l ON e.grp = l.grp AND e.month = l.month
),
compared AS (
    SELECT *, reconcile_shares_agree(expected, actual) AS passed FROM sums
    UNION ALL BY NAME SELECT *, reconcile_shares_agree(expected, actual) AS passed FROM recomputed
    UNION ALL BY NAME SELECT * FROM intervals
    UNION ALL BY NAME SELECT * FROM sample_sizes
    UNION ALL BY NAME SELECT *, reconcile_counts_agree(expected, actual) AS passed FROM groups_to_all
    UNION ALL BY NAME SELECT *, reconcile_counts_agree(expected, actual) AS passed FROM one_row
    UNION ALL BY NAME SELECT *, reconcile_counts_agree(expected, actual) AS passed FROM summary
    UNION ALL BY NAME SELECT *, reconcile_counts_agree(expected, actual) AS passed FROM with_items
    UNION ALL BY NAME SELECT *, reconcile_counts_agree(expected, actual) AS passed FROM non_state
    UNION ALL BY NAME SELECT *, reconcile_counts_agree(expected, actual) AS passed FROM lots
    UNION ALL BY NAME SELECT *, reconcile_counts_agree(expected, actual) AS passed FROM places
    UNION ALL BY NAME SELECT * FROM site_details
    UNION ALL BY NAME
    SELECT *, reconcile_counts_agree(expected, actual) AS passed FROM timeline_months
)
SELECT rule, figure, item_kind, grp, key, measure, expected::DOUBLE AS expected,
       actual::DOUBLE AS actual, (actual - expected)::DOUBLE AS difference, passed
FROM compared;
