-- jobs_by_status --
SELECT status::text AS status, count(*) AS n FROM jobs GROUP BY status;

-- slots_by_state --
SELECT state, count(*) AS n FROM pool_slots WHERE index < $1 GROUP BY state;

-- workers_by_status --
SELECT status, count(*) AS n FROM workers GROUP BY status;

-- ledger_by_employee --
SELECT employee, sum(tokens_in) AS tin, sum(tokens_out) AS tout, sum(cost) AS cost
FROM ledger GROUP BY employee;

-- job_durations --
-- Finished jobs by duration bucket. width_bucket gives the number of bounds ($1, ascending) at or
-- below the duration: 0 below the first bound, len($1) at or above the last.
SELECT width_bucket(seconds, $1::float8[]) AS bucket, count(*) AS n, sum(seconds) AS total
FROM (SELECT extract(epoch FROM finished_at - started_at)::float8 AS seconds
      FROM jobs WHERE finished_at IS NOT NULL AND started_at IS NOT NULL) AS finished
GROUP BY 1;
