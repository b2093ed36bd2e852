-- register_worker --
-- A worker starts (or comes back after being declared dead): its row says it runs.
WITH registered AS (
    INSERT INTO workers (id, host, pid, concurrency, heartbeat_seconds)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (id) DO UPDATE
    SET status = 'running', heartbeat_at = now(), stopped_at = NULL,
        concurrency = EXCLUDED.concurrency, heartbeat_seconds = EXCLUDED.heartbeat_seconds
    RETURNING *
), audited AS (
    SELECT audit_append('worker:' || registered.id, 'worker.started', registered.id,
                        jsonb_build_object('host', registered.host, 'pid', registered.pid,
                                           'concurrency', registered.concurrency))
    FROM registered
)
SELECT registered.* FROM registered, audited;

-- heartbeat_worker --
-- One round trip per beat: the worker's own row, and the leases of the jobs it runs (job ids
-- $2 with their leases $3). `alive` is false when the worker was declared dead meanwhile;
-- `held` lists the jobs still held (one missing from it was rescued: that attempt must stop).
WITH beat AS (
    UPDATE workers SET heartbeat_at = now()
    WHERE id = $1 AND status = 'running'
    RETURNING id
), extended AS (
    UPDATE jobs j SET lease_expires_at = now() + make_interval(secs => $4)
    FROM unnest($2::uuid[], $3::text[]) AS mine (job_id, lease)
    WHERE j.id = mine.job_id AND j.lease_owner = mine.lease
      AND j.status IN ('running', 'validating') AND EXISTS (SELECT 1 FROM beat)
    RETURNING j.id
)
SELECT EXISTS (SELECT 1 FROM beat) AS alive,
       coalesce(array(SELECT id FROM extended), '{}') AS held;

-- stop_worker --
WITH stopped AS (
    UPDATE workers SET status = 'stopped', stopped_at = now()
    WHERE id = $1 AND status = 'running'
    RETURNING id
)
SELECT audit_append('worker:' || stopped.id, 'worker.stopped', stopped.id, '{}'::jsonb)
FROM stopped;

-- declare_dead_workers --
-- Workers silent for three of their heartbeat intervals are dead; their jobs are rescued by
-- `lock_expired_leases` without waiting for the leases to run out.
WITH dead AS (
    UPDATE workers SET status = 'dead', stopped_at = now()
    WHERE status = 'running' AND id <> $2
      AND heartbeat_at < now() - make_interval(secs => heartbeat_seconds * 3)
    RETURNING id, heartbeat_at
)
SELECT d.id, d.heartbeat_at,
       audit_append($1, 'worker.dead', d.id,
                    jsonb_build_object('last_heartbeat', d.heartbeat_at))
FROM (SELECT * FROM dead ORDER BY id) AS d;
