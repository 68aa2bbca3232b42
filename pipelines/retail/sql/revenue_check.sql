-- Daily sanity check on the gold tables, kept as history in main.retail.revenue_checks.
-- The last statement's first row feeds the `revenue_positive` condition task through
-- {{tasks.revenue_check.output.first_row.n}}. :run_date is bound by Spark, never string-substituted.
CREATE TABLE IF NOT EXISTS main.retail.revenue_checks (
  run_date DATE, n BIGINT, total_revenue DECIMAL(14,2), checked_at TIMESTAMP
) USING DELTA;

DELETE FROM main.retail.revenue_checks WHERE run_date = CAST(:run_date AS DATE);

INSERT INTO main.retail.revenue_checks
SELECT CAST(:run_date AS DATE), COUNT(*), CAST(COALESCE(SUM(revenue), 0) AS DECIMAL(14,2)), current_timestamp()
FROM (
  SELECT region, SUM(revenue) AS revenue        -- "; not a separator inside a comment or 'a string;'"
  FROM main.retail.gold_daily_revenue
  WHERE order_date = CAST(:run_date AS DATE)
  GROUP BY region
) WHERE revenue > 0;

SELECT n, total_revenue FROM main.retail.revenue_checks WHERE run_date = CAST(:run_date AS DATE);
