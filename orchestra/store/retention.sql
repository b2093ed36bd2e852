-- old_jobs --
-- Finished jobs last touched before the cutoff: their ids, and whether they still hold the
-- bulky fields (output, diff, validation) and how many bytes those take.
SELECT id,
       (output IS NOT NULL OR diff IS NOT NULL OR validation IS NOT NULL) AS bulky,
       coalesce(octet_length(output), 0) + coalesce(octet_length(diff), 0)
         + coalesce(octet_length(validation::text), 0) AS bytes
FROM jobs
WHERE status IN ('succeeded', 'failed', 'cancelled', 'rejected')
  AND coalesce(finished_at, updated_at) < $1;

-- old_runlog --
SELECT count(*) AS entries, coalesce(sum(octet_length(r.body)), 0)::bigint AS bytes
FROM job_runlog r JOIN jobs j ON j.id = r.job_id
WHERE j.status IN ('succeeded', 'failed', 'cancelled', 'rejected')
  AND coalesce(j.finished_at, j.updated_at) < $1;

-- clear_jobs --
-- The row stays (the ledger, threads and the audit log name it); what it produced goes.
UPDATE jobs SET output = NULL, diff = NULL, validation = NULL
WHERE status IN ('succeeded', 'failed', 'cancelled', 'rejected')
  AND coalesce(finished_at, updated_at) < $1
  AND (output IS NOT NULL OR diff IS NOT NULL OR validation IS NOT NULL);

-- delete_runlog --
DELETE FROM job_runlog r USING jobs j
WHERE j.id = r.job_id AND j.status IN ('succeeded', 'failed', 'cancelled', 'rejected')
  AND coalesce(j.finished_at, j.updated_at) < $1;
