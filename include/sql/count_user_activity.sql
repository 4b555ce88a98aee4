-- The seed article's count: user activity rows of one site, for the accounts of one global id,
-- in an inclusive date range, leaving out membership events.
--   * COUNT(a.dim_user_id), not COUNT(*): a row with no user (NULL dim_user_id) is not counted.
--   * 'JOINED' and 'LEFT' are part of the question, not of the request: they mark an account
--     gaining or losing a member, not activity, so they are constants here and never caller
--     input. As in the article, NOT IN also leaves out rows whose message is NULL.
--   * The article joined the two tables with no join condition (a cross join that multiplied the
--     count by the number of accounts); the ON clause below is the fix.
-- Every value is a bound parameter (%s, in this order): gid, sid, date_start, date_end; the
-- dates arrive typed DATE (the driver binds datetime.date so), compared as dates, no CAST.
SELECT COUNT(a.dim_user_id) AS total
FROM fact_user_activity AS a
INNER JOIN dim_account AS b
    ON a.dim_account_id = b.dim_account_id
WHERE b.global_id = %s
    AND a.dim_site_id = %s
    AND a.message NOT IN ('JOINED', 'LEFT')
    AND a.activity_date BETWEEN %s AND %s
