-- submit_job --
-- The job and its audit entry in one statement (one round trip, atomic): inserted only when
-- the named employee takes work, and not when the idempotency key is taken. No row back means
-- one of those two, or that the roster changed since the policy judged the job on it ($16:
-- the roster version it used, NULL when it used none); the caller finds out which. $2 is
-- queued, or pending_approval with $14 the approval it waits for; $15 is who let it through
-- (the policy's version) or will decide. $17 is the thread a question belongs to; with $18
-- true the thread is new and is started here, with its own audit entry (migration 012).
WITH inserted AS (
    INSERT INTO jobs (kind, status, prompt, project, requested_employee, acceptance, priority,
                      max_attempts, client, idempotency_key, max_cost_usd, skills, approval_id,
                      thread_id)
    SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $12, $13, $14, $17
    WHERE ($5::text IS NULL OR EXISTS (
        SELECT 1 FROM employees WHERE name = $5 AND status IN ('probation', 'active')))
      AND ($16::bigint IS NULL OR $16 = (SELECT version FROM roster_version))
    ON CONFLICT (client, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING *
), audited AS (
    SELECT audit_append($11, 'job.submitted', inserted.id::text, jsonb_build_object(
        'kind', inserted.kind, 'employee', inserted.requested_employee,
        'skills', inserted.skills, 'project', inserted.project, 'acceptance', inserted.acceptance,
        'priority', inserted.priority, 'max_cost_usd', inserted.max_cost_usd,
        'status', inserted.status, 'approval', coalesce($14::uuid::text, $15::text),
        'thread', inserted.thread_id)) AS audit_seq
    FROM inserted
), started AS (
    -- The jobs row names the thread before it exists; the foreign key is checked at the end
    -- of the statement, when it does.
    INSERT INTO threads (id, title, created_by)
    SELECT inserted.thread_id,
           left(regexp_replace(btrim(inserted.prompt), '\s+', ' ', 'g'), 80),
           coalesce(inserted.client, 'stdio')
    FROM inserted WHERE $18::boolean AND inserted.thread_id IS NOT NULL
    RETURNING id
), thread_audited AS (
    SELECT audit_append($11, 'thread.started', started.id::text, '{}'::jsonb)
    FROM started, audited  -- after the job's own entry
)
SELECT inserted.*, audited.audit_seq
FROM inserted, audited, (SELECT count(*) FROM thread_audited) AS thread_entries;

-- roster_version --
SELECT version FROM roster_version;

-- get_job_by_idempotency_key --
SELECT * FROM jobs WHERE client IS NOT DISTINCT FROM $1 AND idempotency_key = $2;

-- get_job --
SELECT * FROM jobs WHERE id = $1;

-- resolve_job_prefix --
-- Jobs whose id starts with a hex prefix: $1 and $2 are the lowest and highest ids with that
-- prefix (uuid order is the order of its hex digits), so the primary key's index answers.
-- At most $3 rows: enough to say the prefix is ambiguous and show a few.
SELECT * FROM jobs WHERE id BETWEEN $1 AND $2 ORDER BY created_at DESC LIMIT $3;

-- list_jobs --
-- Newest first; $4/$5 (created_at, id) of the last job of the previous page, if any.
SELECT * FROM jobs
WHERE ($1::job_status IS NULL OR status = $1) AND ($2::text IS NULL OR client = $2)
  AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5::uuid))
ORDER BY created_at DESC, id DESC LIMIT $3;

-- claim_job --
-- The best runnable job together with a slot it can run in (see `claim_job()` in migration
-- 002): no row when nothing is queued or no slot is free.
SELECT (c.job).*, c.slot_index, c.slot_state, c.evicted
FROM claim_job($1, $2, $3) AS c;

-- start_validating --
-- The employee has answered: the job moves on to its checks and gives its slot back (the
-- model stays resident), so checks never hold a model slot.
WITH moved AS (
    UPDATE jobs SET status = 'validating'
    WHERE id = $1 AND lease_owner = $2 AND status = 'running'
    RETURNING *
), freed AS (
    SELECT release_job_slot(moved.id, $2) FROM moved
), audited AS (
    SELECT audit_append('worker:' || $2, 'job.validating', moved.id::text, '{}'::jsonb)
    FROM moved, (SELECT count(*) FROM freed) AS released
)
SELECT moved.* FROM moved, audited;

-- finish_job --
-- The terminal outcome ($3: succeeded or failed), the attempt's end, the slot (if still held)
-- and the audit entry. `freed` is read before `audited`, so the slot is locked before the
-- audit head, the order every statement keeps.
WITH finished AS (
    UPDATE jobs SET status = $3, output = $4, diff = $5, validation = $6, error = $7,
                    finished_at = now(), lease_owner = NULL, lease_expires_at = NULL
    WHERE id = $1 AND lease_owner = $2 AND status IN ('running', 'validating')
    RETURNING *
), attempt AS (
    UPDATE job_attempts a SET finished_at = now(), outcome = $3::text, error = $7
    FROM finished WHERE a.job_id = finished.id AND a.attempt = finished.attempts
), freed AS (
    SELECT release_job_slot(finished.id, $2) FROM finished
), audited AS (
    SELECT audit_append('worker:' || $2, 'job.' || $3::text, finished.id::text,
                        jsonb_build_object('attempt', finished.attempts, 'error', $7::text,
                                           'validation_passed', $6::jsonb -> 'passed'))
    FROM finished, (SELECT count(*) FROM freed) AS released
), hr AS (
    -- HR's record after the job's own entry (same lock order: job, slot, employee, head).
    SELECT hr_record_outcome(finished.employee, $3 = 'succeeded', $8, $9, 'hr', finished.id)
           AS employee_now
    FROM finished, (SELECT count(*) FROM audited) AS after_the_job
)
SELECT finished.*, hr.employee_now FROM finished, hr;

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
), freed AS (
    SELECT release_job_slot(retried.id, $2) FROM retried
), audited AS (
    SELECT audit_append('worker:' || $2, 'job.retry', retried.id::text,
                        jsonb_build_object('attempt', retried.attempts, 'error', $6::text,
                                           'backoff_s', $3::float8))
    FROM retried, (SELECT count(*) FROM freed) AS released
), hr AS (
    SELECT hr_record_outcome(retried.employee, false, $7, $8, 'hr', retried.id) AS employee_now
    FROM retried, (SELECT count(*) FROM audited) AS after_the_job
)
SELECT retried.*, hr.employee_now FROM retried, hr;

-- hand_back_job --
-- The worker is stopping: the job returns to the queue at once, not after its lease expires,
-- and the interrupted attempt does not count: `attempts` goes back down and the next claim
-- runs that attempt number again.
WITH handed AS (
    UPDATE jobs SET status = 'queued', run_after = now(), attempts = attempts - 1,
                    lease_owner = NULL, lease_expires_at = NULL
    WHERE id = $1 AND lease_owner = $2 AND status IN ('running', 'validating')
    RETURNING *
), attempt AS (
    UPDATE job_attempts a SET finished_at = now(), outcome = 'interrupted', error = $3
    FROM handed WHERE a.job_id = handed.id AND a.attempt = handed.attempts + 1
), freed AS (
    SELECT release_job_slot(handed.id, $2) FROM handed
), audited AS (
    SELECT audit_append('worker:' || $2, 'job.handed_back', handed.id::text,
                        jsonb_build_object('reason', $3::text))
    FROM handed, (SELECT count(*) FROM freed) AS released
)
SELECT handed.* FROM handed, audited;

-- lock_expired_leases --
-- Jobs whose lease ran out, or whose worker was declared dead or stopped without handing
-- them back: they are rescued now rather than when the lease would have expired.
SELECT j.id, j.attempts, j.max_attempts, j.lease_owner,
       w.status AS worker_status
FROM jobs j
LEFT JOIN workers w ON w.id = split_part(j.lease_owner, '/', 1)
WHERE j.status IN ('running', 'validating')
  AND (j.lease_expires_at < now() OR w.status IN ('dead', 'stopped'))
ORDER BY j.lease_expires_at
LIMIT $1
FOR NO KEY UPDATE OF j SKIP LOCKED;

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

-- cancel_job --
-- Cancels a job that has not ended ($2 is the actor): queued or waiting jobs at once; a
-- running or validating one loses its lease and its slot here, and its worker, told by the
-- `aura_jobs` NOTIFY (or its next heartbeat), stops the attempt and kills what it started.
WITH target AS (
    SELECT id, status, lease_owner FROM jobs WHERE id = $1 FOR NO KEY UPDATE
), cancelled AS (
    UPDATE jobs j SET status = 'cancelled', finished_at = now(),
                      error = 'cancelled by ' || $2, lease_owner = NULL, lease_expires_at = NULL
    FROM target
    WHERE j.id = target.id
      AND target.status IN ('pending_approval', 'queued', 'running', 'validating')
    RETURNING j.*, target.status AS was, target.lease_owner AS old_lease
), attempt AS (
    UPDATE job_attempts a SET finished_at = now(), outcome = 'cancelled', error = 'cancelled'
    FROM cancelled
    WHERE a.job_id = cancelled.id AND a.attempt = cancelled.attempts AND a.finished_at IS NULL
      AND cancelled.was IN ('running', 'validating')
), freed AS (
    SELECT release_job_slot(cancelled.id, cancelled.old_lease)
    FROM cancelled WHERE cancelled.old_lease IS NOT NULL
), audited AS (
    SELECT audit_append($2, 'job.cancelled', cancelled.id::text,
                        jsonb_build_object('was', cancelled.was))
    FROM cancelled, (SELECT count(*) FROM freed) AS released
)
SELECT cancelled.* FROM cancelled, audited;

-- refuse_job --
-- Admission refused the job's model call ($4: a budget's figures, or NULL when spend could not
-- be read): the job fails now, without a retry (the money is not there) and without touching
-- its employee's record (the refusal is not the employee's doing). Slot freed, attempt closed and the refusal audited, at once.
WITH refused AS (
    UPDATE jobs SET status = 'failed', error = $3, budget_refusal = $4, finished_at = now(),
                    lease_owner = NULL, lease_expires_at = NULL
    WHERE id = $1 AND lease_owner = $2 AND status IN ('running', 'validating')
    RETURNING *
), attempt AS (
    UPDATE job_attempts a SET finished_at = now(), outcome = 'refused', error = $3
    FROM refused WHERE a.job_id = refused.id AND a.attempt = refused.attempts
), freed AS (
    SELECT release_job_slot(refused.id, $2) FROM refused
), audited AS (
    SELECT audit_append('worker:' || $2, 'job.refused', refused.id::text,
                        coalesce($4::jsonb, jsonb_build_object('error', $3::text)))
    FROM refused, (SELECT count(*) FROM freed) AS released
)
SELECT refused.* FROM refused, audited;

-- await_approval_job --
-- A budget refused the job's call and the policy asks the Director ($5: the approval): the job
-- waits in pending_approval holding nothing (lease, slot and reservation go; the attempt does
-- not count, as in hand_back_job, so the resumed run is the same attempt), with the refusal's
-- figures kept ($3, $4) until the Director decides.
WITH waiting AS (
    UPDATE jobs SET status = 'pending_approval', error = $3, budget_refusal = $4,
                    approval_id = $5, attempts = attempts - 1,
                    lease_owner = NULL, lease_expires_at = NULL
    WHERE id = $1 AND lease_owner = $2 AND status = 'running'
    RETURNING *
), attempt AS (
    UPDATE job_attempts a SET finished_at = now(), outcome = 'refused', error = $3
    FROM waiting WHERE a.job_id = waiting.id AND a.attempt = waiting.attempts + 1
), freed AS (
    SELECT release_job_slot(waiting.id, $2) FROM waiting
), audited AS (
    SELECT audit_append('worker:' || $2, 'job.awaiting_approval', waiting.id::text,
                        $4::jsonb || jsonb_build_object('approval', $5::uuid))
    FROM waiting, (SELECT count(*) FROM freed) AS released
)
SELECT waiting.* FROM waiting, audited;

-- count_jobs_by_status --
-- How many jobs are in each status (statuses with none are absent).
SELECT status::text AS status, count(*) AS jobs FROM jobs GROUP BY status;
