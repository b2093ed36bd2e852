-- list_slots --
SELECT index, state, employee, job_id, since, last_used_at
FROM pool_slots WHERE index < $1 ORDER BY index;

-- release_job_slot --
-- The slot lease $2 holds for job $1 goes back: idle when loaded, empty when half-loaded.
SELECT release_job_slot($1, $2);

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
