-- Gold: materialized views, recomputed and swapped in with one Delta commit per update.
CREATE OR REFRESH MATERIALIZED VIEW gold_region_revenue (
  CONSTRAINT has_revenue EXPECT (revenue > 0)
)
COMMENT 'Revenue per day and region (current customer region).'
AS SELECT o.order_date, c.region, count(*) AS orders, sum(o.amount) AS revenue
   FROM silver_orders o
   JOIN dim_customers c ON o.customer_id = c.customer_id AND c.`__END_AT` IS NULL
   GROUP BY o.order_date, c.region;

CREATE OR REFRESH MATERIALIZED VIEW gold_category_sales
COMMENT 'Units and revenue per product category.'
AS SELECT category, sum(quantity) AS units, sum(amount) AS revenue
   FROM silver_orders
   GROUP BY category;
