-- submit_job --
-- The job and its audit entry in one statement (one round trip, atomic): inserted only when
-- the named employee takes work, and not when the idempotency key is taken. No row back means
-- one of those two; the caller finds out which.
WITH inserted AS (
    INSERT INTO jobs (kind, status, prompt, project, requested_employee, acceptance, priority,
                      max_attempts, client, idempotency_key)
    SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10
    WHERE $5::text IS NULL OR EXISTS (
        SELECT 1 FROM employees WHERE name = $5 AND status IN ('probation', 'active'))
    ON CONFLICT (client, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING *
), audited AS (
    SELECT audit_append($11, 'job.submitted', inserted.id::text, jsonb_build_object(
        'kind', inserted.kind, 'employee', inserted.requested_employee,
        'project', inserted.project, 'acceptance', inserted.acceptance,
        'priority', inserted.priority)) AS audit_seq
    FROM inserted
)
SELECT inserted.*, audited.audit_seq FROM inserted, audited;

-- get_job_by_idempotency_key --
SELECT * FROM jobs WHERE client IS NOT DISTINCT FROM $1 AND idempotency_key = $2;

-- get_job --
SELECT * FROM jobs WHERE id = $1;

-- list_jobs --
SELECT * FROM jobs
WHERE ($1::job_status IS NULL OR status = $1) AND ($2::text IS NULL OR client = $2)
ORDER BY created_at DESC LIMIT $3;

-- claim_job --
-- One round trip: pick the best queued job (priority, then a job whose employee is already
-- resident in a slot, then age), lock it past other workers, lease it, open its attempt and
-- audit the claim. The lease is per claim, `<worker>/<attempt>`: a worker that lost a lease
-- and then claimed the same job again must not act for the old attempt. NO KEY UPDATE, not
-- UPDATE: foreign-key checks (pool_slots.job_id) only need KEY SHARE and must not wait here
-- while this statement waits for the audit head.
WITH claimed AS (
    UPDATE jobs SET status = 'running',
                    attempts = attempts + 1,
                    lease_owner = $1 || '/' || (attempts + 1),
                    lease_expires_at = now() + make_interval(secs => $2),
                    started_at = coalesce(started_at, now())
    WHERE id = (
        SELECT id FROM jobs
        WHERE status = 'queued' AND run_after <= now()
        ORDER BY priority DESC,
                 (requested_employee IS NOT NULL AND requested_employee IN (
                     SELECT employee FROM pool_slots WHERE employee IS NOT NULL)) DESC,
                 created_at
        LIMIT 1
        FOR NO KEY UPDATE SKIP LOCKED
    )
    RETURNING *
), attempt AS (
    -- A handed-back attempt is run again under its own number (see hand_back_job).
    INSERT INTO job_attempts (job_id, attempt, worker)
    SELECT id, attempts, $1 FROM claimed
    ON CONFLICT (job_id, attempt) DO UPDATE
    SET worker = EXCLUDED.worker, started_at = now(), finished_at = NULL, outcome = NULL,
        error = NULL, employee = NULL, slot_index = NULL
), audited AS (
    SELECT audit_append('worker:' || $1, 'job.claimed', claimed.id::text,
                        jsonb_build_object('attempt', claimed.attempts))
    FROM claimed
)
SELECT claimed.* FROM claimed, audited;

-- heartbeat --
UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $3)
WHERE id = $1 AND lease_owner = $2 AND status IN ('running', 'validating')
RETURNING id;

-- assign_employee --
-- The employee and slot of this attempt, by the worker that holds the lease.
WITH assigned AS (
    UPDATE jobs SET employee = $3
    WHERE id = $1 AND lease_owner = $2 AND status = 'running'
    RETURNING id, attempts
), attempt AS (
    UPDATE job_attempts a SET employee = $3, slot_index = $4
    FROM assigned WHERE a.job_id = assigned.id AND a.attempt = assigned.attempts
), audited AS (
    SELECT audit_append('worker:' || $2, 'job.assigned', assigned.id::text,
                        jsonb_build_object('employee', $3::text, 'slot', $4::int,
                                           'attempt', assigned.attempts))
    FROM assigned
)
SELECT assigned.id FROM assigned, audited;

-- start_validating --
WITH moved AS (
    UPDATE jobs SET status = 'validating'
    WHERE id = $1 AND lease_owner = $2 AND status = 'running'
    RETURNING *
), audited AS (
    SELECT audit_append('worker:' || $2, 'job.validating', moved.id::text, '{}'::jsonb)
    FROM moved
)
SELECT moved.* FROM moved, audited;

-- add_usage --
UPDATE jobs SET tokens_in = tokens_in + $2, tokens_out = tokens_out + $3, cost = cost + $4
WHERE id = $1;

-- finish_job --
-- The terminal outcome ($3: succeeded or failed), the attempt's end and the audit entry.
WITH finished AS (
    UPDATE jobs SET status = $3, output = $4, diff = $5, validation = $6, error = $7,
                    finished_at = now(), lease_owner = NULL, lease_expires_at = NULL
    WHERE id = $1 AND lease_owner = $2 AND status IN ('running', 'validating')
    RETURNING *
), attempt AS (
    UPDATE job_attempts a SET finished_at = now(), outcome = $3::text, error = $7
    FROM finished WHERE a.job_id = finished.id AND a.attempt = finished.attempts
), audited AS (
    SELECT audit_append('worker:' || $2, 'job.' || $3::text, finished.id::text,
                        jsonb_build_object('attempt', finished.attempts, 'error', $7::text,
                                           'validation_passed', $6::jsonb -> 'passed'))
    FROM finished
)
SELECT finished.* FROM finished, audited;

-- retry_job --
-- A failed attempt with attempts left: back to the queue after a backoff ($3 seconds).
WITH retried AS (
    UPDATE jobs SET status = 'queued', run_after = now() + make_interval(secs => $3),
                    output = $4, validation = $5, error = $6,
                    lease_owner = NULL, lease_expires_at = NULL
    WHERE id = $1 AND lease_owner = $2 AND status IN ('running', 'validating')
    RETURNING *
), attempt AS (
    UPDATE job_attempts a SET finished_at = now(), outcome = 'retry', error = $6
    FROM retried WHERE a.job_id = retried.id AND a.attempt = retried.attempts
), audited AS (
    SELECT audit_append('worker:' || $2, 'job.retry', retried.id::text,
                        jsonb_build_object('attempt', retried.attempts, 'error', $6::text,
                                           'backoff_s', $3::float8))
    FROM retried
)
SELECT retried.* FROM retried, audited;

-- hand_back_job --
-- The worker is stopping (or found no free slot): the job returns to the queue at once, not
-- after its lease expires, and the interrupted attempt does not count: `attempts` goes back
-- down and the next claim runs that attempt number again.
WITH handed AS (
    UPDATE jobs SET status = 'queued', run_after = now(), attempts = attempts - 1,
                    lease_owner = NULL, lease_expires_at = NULL
    WHERE id = $1 AND lease_owner = $2 AND status IN ('running', 'validating')
    RETURNING *
), attempt AS (
    UPDATE job_attempts a SET finished_at = now(), outcome = 'interrupted',
                              error = 'the worker stopped'
    FROM handed WHERE a.job_id = handed.id AND a.attempt = handed.attempts + 1
), audited AS (
    SELECT audit_append('worker:' || $2, 'job.handed_back', handed.id::text,
                        jsonb_build_object('reason', $3::text))
    FROM handed
)
SELECT handed.* FROM handed, audited;

-- lock_expired_leases --
SELECT id, attempts, max_attempts, lease_owner FROM jobs
WHERE status IN ('running', 'validating') AND lease_expires_at < now()
ORDER BY lease_expires_at
LIMIT $1
FOR NO KEY UPDATE SKIP LOCKED;

-- end_lost_lease --
-- A job whose worker stopped answering: back to the queue ($2 = queued), or failed when it has
-- lost too many workers ($2 = failed).
UPDATE jobs SET status = $2, error = $3, lease_owner = NULL, lease_expires_at = NULL,
                finished_at = CASE WHEN $2 = 'failed'::job_status THEN now() END
WHERE id = $1
RETURNING *;

-- finish_attempt --
UPDATE job_attempts SET finished_at = now(), outcome = $3, error = $4
WHERE job_id = $1 AND attempt = $2 AND finished_at IS NULL;
