-- append_entries --
INSERT INTO job_runlog (job_id, ts, section, body)
SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[]);

-- entries --
SELECT ts, section, body FROM job_runlog WHERE job_id = $1 ORDER BY seq;

-- last_entry --
SELECT ts, section, body FROM job_runlog WHERE job_id = $1 ORDER BY seq DESC LIMIT 1;
