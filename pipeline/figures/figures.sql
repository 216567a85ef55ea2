-- The published figures (docs/figures.md), one table each, from figure_items,
-- figure_shares and items. Row order is part of the output: groups alphabetically with 'All'
-- last, then largest first, unknowns last, then by name (in the by-origin figures: the states,
-- then the non-state producers, then Unknown).
CREATE OR REPLACE MACRO group_order(documented_in) AS (documented_in = 'All', documented_in);

CREATE OR REPLACE TABLE fig_documentation_summary AS
WITH grouped AS (
    SELECT documented_in, * EXCLUDE (documented_in) FROM items
    UNION ALL
    SELECT 'All', * EXCLUDE (documented_in) FROM items
)
SELECT documented_in,
       count(*) FILTER (WHERE item_kind = 'weapons') AS weapons,
       coalesce(sum(quantity) FILTER (WHERE item_kind = 'ammunition'), 0)::BIGINT
           AS ammunition_units,
       count(*) FILTER (WHERE item_kind = 'ied_materiel') AS ied_items,  -- rows, as ied_components
       count(*) AS records,
       count(DISTINCT site_key) AS sites,
       count(DISTINCT documented_on) AS days
FROM grouped
GROUP BY documented_in
ORDER BY group_order(documented_in);

CREATE OR REPLACE TABLE fig_weapons_by_origin AS
SELECT documented_in, value AS country, count AS weapons, share, ci_low, ci_high, n,
       effective_n, low_reliability
FROM figure_shares
WHERE dimension = 'origin' AND item_kind = 'weapons'
ORDER BY group_order(documented_in), NOT known, country = 'Unknown', count DESC, country;

CREATE OR REPLACE TABLE fig_ammunition_by_origin AS
SELECT documented_in, value AS country, count AS units, share, ci_low, ci_high, n,
       effective_n, low_reliability
FROM figure_shares
WHERE dimension = 'origin' AND item_kind = 'ammunition'
ORDER BY group_order(documented_in), NOT known, country = 'Unknown', count DESC, country;

CREATE OR REPLACE TABLE fig_calibre_family AS
SELECT item_kind, documented_in, value AS family, count, share, ci_low, ci_high, n,
       effective_n, low_reliability
FROM figure_shares
WHERE dimension = 'calibre_family'
ORDER BY item_kind DESC, group_order(documented_in),
         list_position(['warsaw_pact', 'nato', 'other', 'unknown'], value);

CREATE OR REPLACE TABLE fig_manufacture_period AS
SELECT s.item_kind, s.documented_in, s.value AS period, s.count, s.share, s.ci_low, s.ci_high,
       s.n, s.effective_n, s.low_reliability
FROM figure_shares AS s
LEFT JOIN periods AS p ON p.period = s.value
WHERE s.dimension = 'period'
ORDER BY s.item_kind DESC, group_order(s.documented_in), coalesce(p.position, 1000);

CREATE OR REPLACE TABLE fig_manufacture_year AS
WITH grouped AS (
    SELECT item_kind, documented_in, year, amount FROM figure_items
    UNION ALL
    SELECT item_kind, 'All', year, amount FROM figure_items
)
SELECT item_kind, documented_in, year, sum(amount)::BIGINT AS count
FROM grouped
WHERE year IS NOT NULL
GROUP BY item_kind, documented_in, year
ORDER BY item_kind DESC, group_order(documented_in), year;

CREATE OR REPLACE TABLE fig_eu_share AS
SELECT item_kind, documented_in, count AS eu_count, known_count AS known_origin_count,
       share, ci_low, ci_high, n, effective_n, low_reliability
FROM figure_shares
WHERE dimension = 'eu' AND value = 'EU'
ORDER BY item_kind DESC, group_order(documented_in);

CREATE OR REPLACE TABLE fig_anti_armour_recent AS
WITH share_of AS (  -- one column set per (dimension, value) of interest, per group
    SELECT documented_in,
           (sum(count) FILTER (WHERE dimension = 'anti_armour_recent'))::BIGINT
               AS anti_armour_units,
           (sum(count) FILTER (WHERE dimension = 'anti_armour_since_2010_eu'))::BIGINT
               AS since_2010_units,
           max(count) FILTER (WHERE dimension = 'anti_armour_recent' AND value = 'recent')
               AS recent_units,
           max(share) FILTER (WHERE dimension = 'anti_armour_recent' AND value = 'recent')
               AS recent_share,
           max(ci_low) FILTER (WHERE dimension = 'anti_armour_recent' AND value = 'recent')
               AS recent_share_ci_low,
           max(ci_high) FILTER (WHERE dimension = 'anti_armour_recent' AND value = 'recent')
               AS recent_share_ci_high,
           max(count) FILTER (WHERE dimension = 'anti_armour_recent_eu' AND value = 'EU')
               AS recent_eu_units,
           max(share) FILTER (WHERE dimension = 'anti_armour_recent_eu' AND value = 'EU')
               AS recent_eu_share,
           max(ci_low) FILTER (WHERE dimension = 'anti_armour_recent_eu' AND value = 'EU')
               AS recent_eu_share_ci_low,
           max(ci_high) FILTER (WHERE dimension = 'anti_armour_recent_eu' AND value = 'EU')
               AS recent_eu_share_ci_high,
           max(count) FILTER (WHERE dimension = 'anti_armour_since_2010_eu' AND value = 'EU')
               AS since_2010_eu_units,
           max(share) FILTER (WHERE dimension = 'anti_armour_since_2010_eu' AND value = 'EU')
               AS since_2010_eu_share,
           max(ci_low) FILTER (WHERE dimension = 'anti_armour_since_2010_eu' AND value = 'EU')
               AS since_2010_eu_share_ci_low,
           max(ci_high) FILTER (WHERE dimension = 'anti_armour_since_2010_eu' AND value = 'EU')
               AS since_2010_eu_share_ci_high
    FROM figure_shares
    WHERE dimension LIKE 'anti_armour_%'
    GROUP BY documented_in
),
sample_sizes AS (  -- <share>_n, <share>_effective_n, <share>_low_reliability
    PIVOT (
        SELECT documented_in, n, effective_n, low_reliability,
               CASE dimension WHEN 'anti_armour_recent' THEN 'recent_share'
                              WHEN 'anti_armour_recent_eu' THEN 'recent_eu_share'
                              ELSE 'since_2010_eu_share' END AS measure
        FROM figure_shares
        WHERE (dimension = 'anti_armour_recent' AND value = 'recent')
           OR (dimension IN ('anti_armour_recent_eu', 'anti_armour_since_2010_eu')
               AND value = 'EU')
    )
    ON measure IN ('recent_share', 'recent_eu_share', 'since_2010_eu_share')
    USING any_value(n) AS n, any_value(effective_n) AS effective_n,
          any_value(low_reliability) AS low_reliability
    GROUP BY documented_in
),
groups AS (
    SELECT DISTINCT documented_in FROM figure_shares WHERE item_kind = 'ammunition'
)
SELECT documented_in,
       getvariable('recent_from') AS recent_from,
       coalesce(anti_armour_units, 0) AS anti_armour_units,
       coalesce(recent_units, 0) AS recent_units,
       recent_share, recent_share_ci_low, recent_share_ci_high,
       recent_share_n, recent_share_effective_n, recent_share_low_reliability,
       coalesce(recent_eu_units, 0) AS recent_eu_units,
       recent_eu_share, recent_eu_share_ci_low, recent_eu_share_ci_high,
       recent_eu_share_n, recent_eu_share_effective_n, recent_eu_share_low_reliability,
       coalesce(since_2010_units, 0) AS since_2010_units,
       coalesce(since_2010_eu_units, 0) AS since_2010_eu_units,
       since_2010_eu_share, since_2010_eu_share_ci_low, since_2010_eu_share_ci_high,
       since_2010_eu_share_n, since_2010_eu_share_effective_n,
       since_2010_eu_share_low_reliability
FROM groups
LEFT JOIN share_of USING (documented_in)
LEFT JOIN sample_sizes USING (documented_in)
ORDER BY group_order(documented_in);

-- One row per item kind, group and producer with a count above zero (production.sql).
CREATE OR REPLACE TABLE fig_non_state_production AS
SELECT item_kind, documented_in, value AS producer, count, share, ci_low, ci_high, n,
       effective_n, low_reliability
FROM figure_shares
WHERE dimension = 'non_state_production'
ORDER BY list_position(['weapons', 'ammunition', 'ied_materiel'], item_kind),
         group_order(documented_in), count DESC, producer;
