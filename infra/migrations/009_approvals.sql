-- Approvals (DESIGN §8): what waits for the Director. An approval is bound to a hash of
-- exactly what was asked (`params_hash`) and to the policy's version; it moves once,
-- pending → approved | denied | expired (expiry means deny), and every move is audited in the
-- same transaction. What the policy lets through by itself is recorded too, decided by
-- `policy:<version>`.

CREATE TABLE approvals (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    action          text NOT NULL CHECK (action ~ '^[a-z][a-z_]{0,39}$'),
    subject         text NOT NULL,
    summary         text NOT NULL,
    params          jsonb NOT NULL DEFAULT '{}',
    params_hash     text NOT NULL,
    policy_version  text NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'approved', 'denied', 'expired')),
    requested_by    text NOT NULL,
    request_id      text,
    job_id          uuid REFERENCES jobs (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    decided_at      timestamptz,
    decided_by      text,
    note            text,
    CHECK ((status = 'pending') = (decided_at IS NULL)),
    -- A denial carries the Director's note, which goes back to the caller as data.
    CHECK (status <> 'denied' OR length(btrim(note)) > 0)
);

-- The same caller's request_id twice is one approval: the database decides.
CREATE UNIQUE INDEX approvals_request ON approvals (requested_by, request_id)
    WHERE request_id IS NOT NULL;
CREATE INDEX approvals_pending ON approvals (expires_at) WHERE status = 'pending';
CREATE INDEX approvals_created ON approvals (created_at DESC, id DESC);
CREATE INDEX approvals_job ON approvals (job_id) WHERE job_id IS NOT NULL;

-- The approval a job waits for (or last waited for). No foreign key: the job row is written
-- first, in the same statement or transaction as its approval.
ALTER TABLE jobs ADD COLUMN approval_id uuid;

-- An approval is decided once; its decision never changes.
CREATE FUNCTION approvals_status_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = OLD.status THEN
        IF OLD.status <> 'pending' AND (NEW.decided_by IS DISTINCT FROM OLD.decided_by
                                        OR NEW.note IS DISTINCT FROM OLD.note) THEN
            RAISE EXCEPTION 'approval % is % and cannot change', OLD.id, OLD.status
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END IF;
    IF OLD.status <> 'pending' THEN
        RAISE EXCEPTION 'approval % is % and cannot become %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER approvals_status_guard BEFORE UPDATE ON approvals
    FOR EACH ROW EXECUTE FUNCTION approvals_status_guard();

-- A budget refusal may now wait for the Director (policy `[budgets] on_exhausted = "ask"`):
-- a running job goes back to pending_approval, holding nothing. Otherwise the same table as
-- migration 001 (and orchestra/models.py's JOB_TRANSITIONS).
CREATE OR REPLACE FUNCTION jobs_status_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = OLD.status THEN
        RETURN NEW;
    END IF;
    IF NOT (
        (OLD.status = 'pending_approval' AND NEW.status IN ('queued', 'rejected', 'cancelled')) OR
        (OLD.status = 'queued' AND NEW.status IN ('running', 'cancelled')) OR
        (OLD.status = 'running' AND NEW.status IN ('validating', 'queued', 'failed', 'cancelled',
                                                   'pending_approval')) OR
        (OLD.status = 'validating' AND NEW.status IN ('succeeded', 'failed', 'queued', 'cancelled'))
    ) THEN
        RAISE EXCEPTION 'illegal job transition % -> % for job %', OLD.status, NEW.status, OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END $$;

-- The one place a waiting job learns its approval's decision: approved → queued (runnable
-- now), denied or expired → rejected with the note as its error. Only the job waiting for
-- this very approval moves. Audited in the caller's transaction.
CREATE FUNCTION settle_waiting_job(p_job uuid, p_approval uuid, p_approved boolean,
                                   p_error text, p_actor text)
RETURNS SETOF jobs LANGUAGE plpgsql AS $$
DECLARE
    v_job jobs;
BEGIN
    UPDATE jobs SET status = CASE WHEN p_approved THEN 'queued' ELSE 'rejected' END::job_status,
                    run_after = now(),
                    -- Resumed after a budget refusal: the refusal no longer describes the job.
                    error = CASE WHEN p_approved THEN NULL ELSE p_error END,
                    budget_refusal = CASE WHEN p_approved THEN NULL ELSE budget_refusal END,
                    finished_at = CASE WHEN p_approved THEN NULL ELSE now() END
    WHERE id = p_job AND approval_id = p_approval AND status = 'pending_approval'
    RETURNING * INTO v_job;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    PERFORM audit_append(p_actor, CASE WHEN p_approved THEN 'job.approved' ELSE 'job.rejected' END,
                         p_job::text, jsonb_build_object('approval', p_approval,
                                                         'error', v_job.error));
    RETURN NEXT v_job;
END $$;

-- Decide one pending approval (approved, denied or expired) with its audit entry and, for an
-- approval a job waits for, the job's move. Lock order: the approval, the job, the audit head.
-- No row back: the approval was not pending (decided already, or expired first).
CREATE FUNCTION decide_approval(p_id uuid, p_status text, p_actor text, p_note text)
RETURNS SETOF approvals LANGUAGE plpgsql AS $$
DECLARE
    v_approval approvals;
    v_job      jobs;
BEGIN
    UPDATE approvals SET status = p_status, decided_at = now(), decided_by = p_actor,
                         note = p_note
    WHERE id = p_id AND status = 'pending'
    RETURNING * INTO v_approval;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF v_approval.job_id IS NOT NULL THEN
        SELECT * INTO v_job FROM jobs WHERE id = v_approval.job_id FOR NO KEY UPDATE;
    END IF;
    PERFORM audit_append(p_actor, 'approval.' || p_status, p_id::text, jsonb_build_object(
        'action', v_approval.action, 'subject', v_approval.subject,
        'params_hash', v_approval.params_hash, 'policy_version', v_approval.policy_version,
        'note', p_note));
    IF v_approval.job_id IS NOT NULL THEN
        PERFORM settle_waiting_job(
            v_approval.job_id, p_id, p_status = 'approved',
            CASE WHEN p_status = 'expired' THEN p_note
                 ELSE 'denied by ' || p_actor || ': ' || coalesce(p_note, '') END,
            p_actor);
    END IF;
    RETURN NEXT v_approval;
END $$;

-- Expiry means deny: every pending approval past its time is expired (with a note saying so)
-- and the jobs waiting for them are rejected. Run on read and by the sweep.
CREATE FUNCTION expire_approvals() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_id    uuid;
    v_count integer := 0;
BEGIN
    FOR v_id IN
        SELECT id FROM approvals WHERE status = 'pending' AND expires_at <= now()
        ORDER BY expires_at FOR UPDATE SKIP LOCKED
    LOOP
        PERFORM decide_approval(v_id, 'expired', 'policy',
                                'expired: the Director did not decide in time');
        v_count := v_count + 1;
    END LOOP;
    RETURN v_count;
END $$;

-- The live feed (migration 008): an approval asked, decided or expired is an event, published
-- at commit like the job, slot, employee and budget events.
CREATE FUNCTION approvals_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM publish_event('approval', NEW.id::text, NEW.status,
                          jsonb_build_object('action', NEW.action, 'subject', NEW.subject,
                                             'job_id', NEW.job_id,
                                             'expires_at', NEW.expires_at));
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER approvals_event AFTER INSERT OR UPDATE OF status ON approvals
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION approvals_event();
