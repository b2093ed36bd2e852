-- jobs_by_status --
SELECT status::text AS status, count(*) AS n FROM jobs GROUP BY status;

-- slots_by_state --
SELECT state, count(*) AS n FROM pool_slots WHERE index < $1 GROUP BY state;

-- workers_by_status --
SELECT status, count(*) AS n FROM workers GROUP BY status;

-- ledger_by_employee --
-- Charges only: a reservation's cost is a hold, not spend. Priced spend: an unpriced charge
-- (cost NULL, migration 011) adds its tokens but no money.
SELECT employee, sum(tokens_in) AS tin, sum(tokens_out) AS tout,
       coalesce(sum(cost), 0) AS cost
FROM ledger WHERE kind = 'call' GROUP BY employee;

-- budgets_remaining --
-- Every budget's remaining money this period ($1: AURA_TIMEZONE), as `Budgets.status` has it.
SELECT b.name, b.limit_usd,
       greatest(0, b.limit_usd - ledger_spent(b.employee, p.period_start, p.period_end)
                   - reserved_now(b.employee)) AS remaining
FROM budgets b CROSS JOIN budget_period(now(), $1) AS p;

-- job_durations --
-- Finished jobs by duration bucket. width_bucket gives the number of bounds ($1, ascending) at or
-- below the duration: 0 below the first bound, len($1) at or above the last.
SELECT width_bucket(seconds, $1::float8[]) AS bucket, count(*) AS n, sum(seconds) AS total
FROM (SELECT extract(epoch FROM finished_at - started_at)::float8 AS seconds
      FROM jobs WHERE finished_at IS NOT NULL AND started_at IS NOT NULL) AS finished
GROUP BY 1;

-- approvals_pending --
-- Undecided and not yet past their time (an overdue one is expired at its next read).
SELECT count(*) FROM approvals WHERE status = 'pending' AND expires_at > now();

-- queue_oldest --
-- Seconds the oldest queued job has waited (0 with none): a queue nobody drains grows it.
SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
FROM jobs WHERE status = 'queued';

-- worker_heartbeats --
-- Running workers by the age of their last heartbeat, oldest first ($1: how many).
SELECT id, extract(epoch FROM now() - heartbeat_at)::float8 AS age
FROM workers WHERE status = 'running' ORDER BY heartbeat_at LIMIT $1;
