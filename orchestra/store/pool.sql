-- list_slots --
SELECT index, state, employee, job_id, since, last_used_at
FROM pool_slots WHERE index < $1 ORDER BY index;

-- take_slot --
-- Best slot for employee $1: its own idle slot, else an empty one, else the least recently
-- used idle slot of another employee (which the caller must unload). Busy and loading slots
-- are never taken, and only for a job still leased to the asking worker (a worker that lost
-- its lease must not take a slot for a job that is running elsewhere). The move is audited in
-- the same statement.
WITH pick AS (
    SELECT index, state AS previous_state, employee AS previous_employee
    FROM pool_slots
    WHERE index < $2 AND state IN ('empty', 'idle')
      AND EXISTS (SELECT 1 FROM jobs WHERE id = $3 AND lease_owner = $4
                  AND status IN ('running', 'validating'))
    ORDER BY (state = 'idle' AND employee = $1) DESC,
             (state = 'empty') DESC,
             last_used_at NULLS FIRST,
             index
    LIMIT 1
    FOR UPDATE SKIP LOCKED
), taken AS (
    UPDATE pool_slots s
    SET state = CASE WHEN pick.previous_state = 'idle' AND pick.previous_employee = $1
                     THEN 'busy' ELSE 'loading' END,
        employee = $1, job_id = $3, worker = $4, since = now()
    FROM pick
    WHERE s.index = pick.index
    RETURNING s.index, s.state, pick.previous_state, pick.previous_employee
), audited AS (
    SELECT audit_append('worker:' || $4, 'pool.' || CASE WHEN taken.state = 'busy'
                        THEN 'reuse' ELSE 'load' END, $1,
                        jsonb_build_object('slot', taken.index, 'job_id', $3::uuid,
                                           'evicted', CASE WHEN taken.previous_state = 'idle'
                                               AND taken.previous_employee <> $1
                                               THEN taken.previous_employee END))
    FROM taken
)
SELECT taken.* FROM taken, audited;

-- mark_busy --
-- $3 is the lease (`<worker>/<attempt>`) that took the slot: only it moves the slot on.
WITH moved AS (
    UPDATE pool_slots SET state = 'busy', since = now()
    WHERE index = $1 AND job_id = $2 AND worker = $3 AND state = 'loading'
    RETURNING index, employee
)
SELECT audit_append('worker:' || $3, 'pool.loaded', moved.employee,
                    jsonb_build_object('slot', moved.index, 'job_id', $2::uuid))
FROM moved;

-- release_slot --
WITH moved AS (
    UPDATE pool_slots SET state = 'idle', job_id = NULL, worker = NULL, since = now(),
                          last_used_at = now()
    WHERE index = $1 AND job_id = $2 AND worker = $3
    RETURNING index, employee
)
SELECT audit_append('worker:' || $3, 'pool.released', moved.employee,
                    jsonb_build_object('slot', moved.index, 'job_id', $2::uuid))
FROM moved;

-- empty_slot --
WITH moved AS (
    UPDATE pool_slots s SET state = 'empty', employee = NULL, job_id = NULL, worker = NULL,
                            since = now()
    FROM (SELECT index, employee FROM pool_slots
          WHERE index = $1 AND job_id = $2 AND worker = $3 FOR UPDATE) AS before
    WHERE s.index = before.index
    RETURNING s.index, before.employee
)
SELECT audit_append('worker:' || $3, 'pool.emptied', moved.employee,
                    jsonb_build_object('slot', moved.index, 'job_id', $2::uuid,
                                       'reason', $4::text))
FROM moved;

-- free_slots_of_jobs --
-- Slots held by jobs whose worker was lost: a loaded model stays resident, a half-loaded slot
-- starts over empty. The slot rows are locked before the audit head (`freed` is read in full
-- first), the same order as every other slot statement, so no two of them can deadlock.
WITH freed AS (
    UPDATE pool_slots
    SET state = CASE WHEN state = 'busy' THEN 'idle' ELSE 'empty' END,
        employee = CASE WHEN state = 'busy' THEN employee END,
        last_used_at = CASE WHEN state = 'busy' THEN now() ELSE last_used_at END,
        job_id = NULL, worker = NULL, since = now()
    WHERE job_id = ANY($1::uuid[])
    RETURNING index, employee
)
SELECT audit_append($2, 'pool.rescued', f.employee, jsonb_build_object('slot', f.index))
FROM (SELECT * FROM freed ORDER BY index) AS f;

-- free_orphaned_slots --
-- Slots held for a job that is no longer running anywhere (it finished or was requeued while
-- a slot operation was cut short).
WITH freed AS (
    UPDATE pool_slots s
    SET state = CASE WHEN s.state = 'busy' THEN 'idle' ELSE 'empty' END,
        employee = CASE WHEN s.state = 'busy' THEN s.employee END,
        job_id = NULL, worker = NULL, since = now()
    FROM jobs j
    WHERE s.job_id = j.id AND j.status NOT IN ('running', 'validating')
    RETURNING s.index, j.id AS job_id
)
SELECT audit_append($1, 'pool.orphan_freed', NULL,
                    jsonb_build_object('slot', f.index, 'job_id', f.job_id))
FROM (SELECT * FROM freed ORDER BY index) AS f;

-- still_resident --
-- Is employee $1's model still needed in some slot (the same employee elsewhere, or another
-- employee on the same model and server)? Then evicting $1 must not unload the model.
SELECT EXISTS (
    SELECT 1
    FROM pool_slots s
    JOIN employees e ON e.name = s.employee
    JOIN employees gone ON gone.name = $1
    WHERE s.index < $2 AND s.state <> 'empty'
      AND (s.employee = gone.name
           OR (e.adapter = gone.adapter AND e.model IS NOT DISTINCT FROM gone.model
               AND e.base_url IS NOT DISTINCT FROM gone.base_url))
);
