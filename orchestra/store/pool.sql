-- list_slots --
SELECT index, state, employee, job_id, since, last_used_at
FROM pool_slots WHERE index < $1 ORDER BY index;

-- take_slot --
-- Best slot for employee $1: its own idle slot, else an empty one, else the least recently
-- used idle slot of another employee (which the caller must unload). Busy and loading slots
-- are never taken. Returns the slot's previous state and employee.
WITH pick AS (
    SELECT index, state AS previous_state, employee AS previous_employee
    FROM pool_slots
    WHERE index < $2 AND state IN ('empty', 'idle')
    ORDER BY (state = 'idle' AND employee = $1) DESC,
             (state = 'empty') DESC,
             last_used_at NULLS FIRST,
             index
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE pool_slots s
SET state = CASE WHEN pick.previous_state = 'idle' AND pick.previous_employee = $1
                 THEN 'busy' ELSE 'loading' END,
    employee = $1, job_id = $3, worker = $4, since = now()
FROM pick
WHERE s.index = pick.index
RETURNING s.index, s.state, pick.previous_state, pick.previous_employee;

-- mark_busy --
UPDATE pool_slots SET state = 'busy', since = now()
WHERE index = $1 AND job_id = $2 AND state = 'loading';

-- release_slot --
UPDATE pool_slots SET state = 'idle', job_id = NULL, worker = NULL, since = now(),
                      last_used_at = now()
WHERE index = $1 AND job_id = $2;

-- empty_slot --
UPDATE pool_slots SET state = 'empty', employee = NULL, job_id = NULL, worker = NULL,
                      since = now()
WHERE index = $1 AND job_id = $2;

-- free_slots_of_jobs --
-- Slots held by jobs whose worker was lost: a loaded model stays resident, a half-loaded slot
-- starts over empty.
UPDATE pool_slots
SET state = CASE WHEN state = 'busy' THEN 'idle' ELSE 'empty' END,
    employee = CASE WHEN state = 'busy' THEN employee END,
    job_id = NULL, worker = NULL, since = now()
WHERE job_id = ANY($1::uuid[])
RETURNING index;
