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
-- recorded, without the link.
WITH job AS (
    SELECT id FROM jobs WHERE id = $1 FOR NO KEY UPDATE
), closed AS (
    DELETE FROM reservations
    WHERE id = $7 AND EXISTS (SELECT 1 FROM job)
    RETURNING id
), totals AS (
    UPDATE jobs SET tokens_in = tokens_in + $3, tokens_out = tokens_out + $4, cost = cost + $5
    WHERE id = (SELECT id FROM job)
)
INSERT INTO ledger (job_id, employee, kind, tokens_in, tokens_out, cost, latency_ms,
                    reservation_id)
VALUES ($1, $2, 'call', $3, $4, $5, $6, (SELECT id FROM closed))
RETURNING id;

-- list_entries --
SELECT id, ts, job_id, employee, kind, tokens_in, tokens_out, cost, latency_ms, reservation_id
FROM ledger ORDER BY id DESC LIMIT $1;

-- ledger_page --
-- Newest first, filtered by employee ($1), job ($2), time [$3, $4); $5: the id the previous
-- page ended at (ids grow with time, so they page without gaps or repeats).
SELECT id, ts, job_id, employee, kind, tokens_in, tokens_out, cost, latency_ms, reservation_id
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
       (SELECT coalesce(sum(r.amount), 0) FROM reservations r
        WHERE ($1::text IS NULL OR r.employee = $1)
          AND ($2::uuid IS NULL OR r.job_id = $2)) AS reserved
FROM ledger
WHERE ($1::text IS NULL OR employee = $1) AND ($2::uuid IS NULL OR job_id = $2)
  AND ($3::timestamptz IS NULL OR ts >= $3) AND ($4::timestamptz IS NULL OR ts < $4);

-- spend_by_employee --
-- Charges since $1, per employee, the biggest spender first.
SELECT employee, count(*) AS calls, sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out,
       sum(cost) AS spent
FROM ledger WHERE kind = 'call' AND ts >= $1
GROUP BY employee ORDER BY spent DESC, employee;

-- spend_by_day --
-- Charges since $1, per calendar day in the zone $2 (the Director's days, not UTC's).
SELECT (ts AT TIME ZONE $2)::date AS day, count(*) AS calls, sum(cost) AS spent
FROM ledger WHERE kind = 'call' AND ts >= $1
GROUP BY day ORDER BY day;
