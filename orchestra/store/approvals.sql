-- insert_approval --
-- One approval and its audit entries in one statement. $8 is 'pending', or 'approved' when the
-- policy lets the action through by itself ($13, `policy:<version>`, is then its approver).
-- The same caller's request_id ($10) twice is one approval: no row back, the caller reads it.
WITH inserted AS (
    INSERT INTO approvals (id, action, subject, summary, params, params_hash, policy_version,
                           status, requested_by, request_id, job_id, expires_at, decided_at,
                           decided_by, note)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
            now() + make_interval(secs => $12::float8),
            CASE WHEN $8 = 'pending' THEN NULL ELSE now() END, $13, $14)
    ON CONFLICT (requested_by, request_id) WHERE request_id IS NOT NULL DO NOTHING
    RETURNING *
), asked AS (
    SELECT audit_append(inserted.requested_by, 'approval.requested', inserted.id::text,
                        jsonb_build_object('action', inserted.action,
                                           'subject', inserted.subject,
                                           'summary', inserted.summary,
                                           'params_hash', inserted.params_hash,
                                           'policy_version', inserted.policy_version,
                                           'job_id', inserted.job_id)) AS seq
    FROM inserted
), decided AS (
    SELECT audit_append(inserted.decided_by, 'approval.' || inserted.status, inserted.id::text,
                        jsonb_build_object('action', inserted.action,
                                           'subject', inserted.subject,
                                           'params_hash', inserted.params_hash,
                                           'policy_version', inserted.policy_version,
                                           'note', inserted.note))
    FROM inserted, asked WHERE inserted.status <> 'pending'
)
SELECT inserted.* FROM inserted, asked, (SELECT count(*) FROM decided) AS after_asked;

-- get_approval --
SELECT * FROM approvals WHERE id = $1;

-- get_approval_by_request --
SELECT * FROM approvals WHERE requested_by = $1 AND request_id = $2;

-- lock_approval --
SELECT * FROM approvals WHERE id = $1 FOR UPDATE;

-- resolve_approval_prefix --
-- Approvals whose id starts with a hex prefix ($1..$2 the lowest and highest such ids).
SELECT * FROM approvals WHERE id BETWEEN $1 AND $2 ORDER BY created_at DESC LIMIT $3;

-- list_approvals --
SELECT * FROM approvals
WHERE ($1::text IS NULL OR status = $1)
ORDER BY created_at DESC, id DESC LIMIT $2;

-- decide_approval --
SELECT * FROM decide_approval($1, $2, $3, $4);

-- expire_approvals --
SELECT expire_approvals();

-- lock_job --
SELECT * FROM jobs WHERE id = $1 FOR NO KEY UPDATE;

-- relink_waiting_job --
-- A job whose approval was asked again (the policy changed) waits for the new one.
UPDATE jobs SET approval_id = $2 WHERE id = $1 AND status = 'pending_approval';

-- working_employees --
SELECT * FROM employees WHERE status IN ('probation', 'active');

-- roster_version --
SELECT version FROM roster_version;
