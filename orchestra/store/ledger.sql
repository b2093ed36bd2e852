-- admit_call --
-- See `admit_call()` in migration 006: a reservation id, a refusal's figures, or no row when
-- the lease is gone.
SELECT * FROM admit_call($1, $2, $3, $4, $5);

-- settle_call --
-- The call's actual charge, in one statement: the ledger row, closing its reservation ($7;
-- NULL for a call made without one), and the job's running totals. The job row is locked
-- first, as every statement that ends a lease locks it before it releases reservations, so a
-- settlement racing a cancel or a rescue waits for it instead of deadlocking. A reservation
-- already released (its lease ended meanwhile) is not closed twice: the charge is still
-- recorded, without the link. $8 is how it was priced (migration 011); an unpriced call ($5
-- NULL) adds nothing to the job's cost and counts in its `unpriced_calls`.
WITH job AS (
    SELECT id FROM jobs WHERE id = $1 FOR NO KEY UPDATE
), closed AS (
    DELETE FROM reservations
    WHERE id = $7 AND EXISTS (SELECT 1 FROM job)
    RETURNING id
), totals AS (
    UPDATE jobs SET tokens_in = tokens_in + $3, tokens_out = tokens_out + $4,
                    cost = cost + coalesce($5::numeric, 0),
                    unpriced_calls = unpriced_calls + ($5::numeric IS NULL)::integer
    WHERE id = (SELECT id FROM job)
)
INSERT INTO ledger (job_id, employee, kind, tokens_in, tokens_out, cost, latency_ms,
                    reservation_id, pricing)
VALUES ($1, $2, 'call', $3, $4, $5, $6, (SELECT id FROM closed), $8)
RETURNING id;

-- list_entries --
SELECT id, ts, job_id, employee, kind, tokens_in, tokens_out, cost, latency_ms, reservation_id,
       pricing
FROM ledger ORDER BY id DESC LIMIT $1;

-- ledger_page --
-- Newest first, filtered by employee ($1), job ($2), time [$3, $4); $5: the id the previous
-- page ended at (ids grow with time, so they page without gaps or repeats).
SELECT id, ts, job_id, employee, kind, tokens_in, tokens_out, cost, latency_ms, reservation_id,
       pricing
FROM ledger
WHERE ($1::text IS NULL OR employee = $1) AND ($2::uuid IS NULL OR job_id = $2)
  AND ($3::timestamptz IS NULL OR ts >= $3) AND ($4::timestamptz IS NULL OR ts < $4)
  AND ($5::bigint IS NULL OR id < $5)
ORDER BY id DESC
LIMIT $6;

-- ledger_totals --
-- The whole filter's totals (every page): charges, their tokens and cost, and what open
-- reservations matching the employee and job filters hold now.
SELECT count(*) FILTER (WHERE kind = 'call') AS calls,
       coalesce(sum(tokens_in) FILTER (WHERE kind = 'call'), 0) AS tokens_in,
       coalesce(sum(tokens_out) FILTER (WHERE kind = 'call'), 0) AS tokens_out,
       coalesce(sum(cost) FILTER (WHERE kind = 'call'), 0) AS spent,
       count(*) FILTER (WHERE kind = 'call' AND pricing = 'unpriced') AS unpriced_calls,
       (SELECT coalesce(sum(r.amount), 0) FROM reservations r
        WHERE ($1::text IS NULL OR r.employee = $1)
          AND ($2::uuid IS NULL OR r.job_id = $2)) AS reserved
FROM ledger
WHERE ($1::text IS NULL OR employee = $1) AND ($2::uuid IS NULL OR job_id = $2)
  AND ($3::timestamptz IS NULL OR ts >= $3) AND ($4::timestamptz IS NULL OR ts < $4);

-- budget_applying --
-- Whether any budget binds a call of employee $2 in job $1 now (periods in time zone $3): the
-- first global or employee budget by name, else the job's own ceiling, with its figures; no
-- row when none applies. An employee whose call cannot be priced is refused when one does
-- (`Accountant.admit`).
SELECT * FROM (
    SELECT b.name AS budget, b.scope, b.limit_usd,
           ledger_spent(b.employee, p.period_start, p.period_end) AS spent,
           reserved_now(b.employee) AS reserved
    FROM budgets b, budget_period(now(), $3) AS p
    WHERE b.scope = 'global' OR b.employee = $2
    UNION ALL
    SELECT 'job', 'job', j.max_cost_usd,
           (SELECT coalesce(sum(cost), 0) FROM ledger WHERE job_id = $1 AND kind = 'call'),
           (SELECT coalesce(sum(amount), 0) FROM reservations WHERE job_id = $1)
    FROM jobs j WHERE j.id = $1 AND j.max_cost_usd IS NOT NULL
) AS applying
ORDER BY scope = 'job', budget
LIMIT 1;

-- spend_by_employee --
-- Charges since $1, per employee, the biggest spender first. `spent` sums the priced calls;
-- unpriced ones (cost NULL, migration 011) are counted apart, never as $0.
SELECT employee, count(*) AS calls, sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out,
       coalesce(sum(cost), 0) AS spent, count(*) FILTER (WHERE cost IS NULL) AS unpriced_calls
FROM ledger WHERE kind = 'call' AND ts >= $1
GROUP BY employee ORDER BY spent DESC, employee;

-- spend_by_day --
-- Charges since $1, per calendar day in the zone $2 (the Director's days, not UTC's).
SELECT (ts AT TIME ZONE $2)::date AS day, count(*) AS calls, coalesce(sum(cost), 0) AS spent,
       count(*) FILTER (WHERE cost IS NULL) AS unpriced_calls
FROM ledger WHERE kind = 'call' AND ts >= $1
GROUP BY day ORDER BY day;
