-- budget_status --
-- Every budget with the period holding $1 (in time zone $2), what was charged in it and what
-- open reservations hold now. Rows lock nothing: this is a view, admission re-reads under lock.
SELECT b.name, b.scope, b.employee, b.limit_usd, b.period, p.period_start, p.period_end,
       ledger_spent(b.employee, p.period_start, p.period_end) AS spent_usd,
       reserved_now(b.employee) AS reserved_usd
FROM budgets b CROSS JOIN budget_period($1, $2) AS p
ORDER BY b.name;

-- month_spend --
-- The period holding $1 in time zone $2: everyone's spend, and the spend on client $3's jobs.
SELECT p.period_start, p.period_end,
       ledger_spent(NULL, p.period_start, p.period_end) AS spent_usd,
       (SELECT coalesce(sum(l.cost), 0) FROM ledger l JOIN jobs j ON j.id = l.job_id
        WHERE l.kind = 'call' AND l.ts >= p.period_start AND l.ts < p.period_end
          AND j.client = $3) AS client_spent_usd
FROM budget_period($1, $2) AS p;

-- lock_budget --
SELECT * FROM budgets WHERE name = $1 FOR UPDATE;

-- check_timezone --
SELECT now() AT TIME ZONE $1;

-- upsert_budget --
-- `created`: whether this statement inserted the row (xmax is 0 only for a fresh insert), so
-- two racing creations of one name report one creation.
INSERT INTO budgets (name, scope, employee, limit_usd, period)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (name) DO UPDATE
SET scope = EXCLUDED.scope, employee = EXCLUDED.employee, limit_usd = EXCLUDED.limit_usd,
    period = EXCLUDED.period, updated_at = now()
RETURNING *, (xmax = 0) AS created;

-- delete_budget --
DELETE FROM budgets WHERE name = $1 RETURNING *;

-- employee_exists --
SELECT EXISTS (SELECT 1 FROM employees WHERE name = $1);
