-- Activity rows of one site for the accounts of one global id, in an inclusive date range.
-- The seed article joined fact_user_activity and dim_account with no join condition (a cross
-- join that multiplied the count by the number of accounts); the ON clause below is the fix.
-- Every value is a bound parameter (%s, in this order): gid, sid, date_start, date_end.
SELECT COUNT(*) AS total
FROM fact_user_activity AS a
INNER JOIN dim_account AS b
    ON a.dim_account_id = b.dim_account_id
WHERE b.global_id = %s
    AND a.dim_site_id = %s
    AND a.activity_date BETWEEN CAST(%s AS DATE) AND CAST(%s AS DATE)
