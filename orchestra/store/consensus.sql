-- insert_consensus --
-- $3: seconds the caller waits for the answers; the deadline is counted from now().
INSERT INTO consensus (client, skills, deadline)
VALUES ($1, $2, now() + make_interval(secs => $3))
RETURNING *;

-- insert_member --
INSERT INTO consensus_members (consensus_id, position, job_id) VALUES ($1, $2, $3);

-- best_employees --
-- The $3 best-ranked working employees having all the skills $1 (routing's rank, migration
-- 014), with $2 the pool's size; $4 is each member job's own ceiling (NULL: none), so those
-- admission would refuse as unpriceable are left out (migration 017).
SELECT r.name FROM employee_ranks($1, $2, $4) AS r
ORDER BY r.rank DESC, r.created_at, r.name
LIMIT $3;

-- get_consensus --
SELECT * FROM consensus WHERE id = $1;

-- consensus_members --
-- The member jobs in order, each with its latency: from the consensus's start to the job's
-- end, or to now while it is not finished.
SELECT j.*,
       round(extract(epoch FROM coalesce(j.finished_at, clock_timestamp()) - c.created_at)
             * 1000)::bigint AS latency_ms
FROM consensus_members m
JOIN consensus c ON c.id = m.consensus_id
JOIN jobs j ON j.id = m.job_id
WHERE m.consensus_id = $1
ORDER BY m.position;
