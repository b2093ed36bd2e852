-- The job path across workers: registered workers with heartbeats, jobs claimed together with
-- a pool slot, run logs in the database, and a ledger that outlives pruned jobs.

-- Workers know each other: each registers, heartbeats, and is declared dead by the others
-- when silent for three of its heartbeat intervals (its jobs are then rescued at once).
CREATE TABLE workers (
    id                 text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 200 AND id !~ '/'),
    host               text NOT NULL,
    pid                integer NOT NULL,
    concurrency        integer NOT NULL CHECK (concurrency BETWEEN 1 AND 3),
    heartbeat_seconds  double precision NOT NULL CHECK (heartbeat_seconds > 0),
    status             text NOT NULL DEFAULT 'running'
                       CHECK (status IN ('running', 'stopped', 'dead')),
    started_at         timestamptz NOT NULL DEFAULT now(),
    heartbeat_at       timestamptz NOT NULL DEFAULT now(),
    stopped_at         timestamptz
);
CREATE INDEX workers_running ON workers (heartbeat_at) WHERE status = 'running';

-- The ledger is append-only and outlives the jobs it charges: pruning a job row must stay
-- possible, so the ledger keeps the job's id without a foreign key.
ALTER TABLE ledger DROP CONSTRAINT ledger_job_id_fkey;
-- A job's attempts go with it.
ALTER TABLE job_attempts DROP CONSTRAINT job_attempts_job_id_fkey,
    ADD CONSTRAINT job_attempts_job_id_fkey FOREIGN KEY (job_id) REFERENCES jobs (id)
        ON DELETE CASCADE;

-- The run log, readable from any host: the worker ships every entry here (the file under
-- AURA_SNAPSHOT_DIR/<job-id>/runlog.txt stays the worker's local copy).
CREATE TABLE job_runlog (
    job_id   uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq      bigint GENERATED ALWAYS AS IDENTITY,
    ts       timestamptz NOT NULL,
    section  text NOT NULL,
    body     text NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, seq)
);

-- For a job that names no employee: a working employee, preferring one resident in an idle
-- slot (no load needed), then the oldest hire. NULL when nobody can work. (HR's scores will
-- refine this choice.)
CREATE FUNCTION choose_employee(p_requested text, p_pool_size integer) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT e.name FROM employees e
    WHERE e.status IN ('probation', 'active')
      AND (p_requested IS NULL OR e.name = p_requested)
    ORDER BY EXISTS (SELECT 1 FROM pool_slots s
                     WHERE s.index < p_pool_size AND s.state = 'idle' AND s.employee = e.name)
             DESC,
             e.created_at, e.name
    LIMIT 1
$$;

-- Claims the best runnable job together with a slot it can run in, in one transaction:
-- the job becomes `running` under lease `<worker>/<attempt>`, the slot `busy` (its employee is
-- resident) or `loading` (the caller loads it, unloading `evicted` first), the attempt row is
-- opened, and each move is audited. When no slot is free nothing is claimed: the job stays
-- queued, so no worker holds a job it cannot run and waiting jobs keep their order.
--
-- Claims are serialised by a transaction-scoped advisory lock (a claim takes milliseconds), so
-- the best job always gets the next free slot: with SKIP LOCKED alone, two workers racing for
-- one freed slot could give it to the second-best job. A job that nobody can take (its
-- employee is suspended, or no one is on the roster) fails here with the reason.
--
-- Lock order, as everywhere: job row, then slot row, then the audit head.
CREATE FUNCTION claim_job(p_worker text, p_lease_seconds double precision,
                          p_pool_size integer)
RETURNS TABLE (job jobs, slot_index integer, slot_state text, evicted text)
LANGUAGE plpgsql AS $$
DECLARE
    v_job       jobs;
    v_employee  text;
    v_slot      pool_slots;
    v_state     text;
    v_lease     text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('aura.claim_job'));
    -- A worker its peers declared dead (or that stopped) claims nothing until it registers
    -- again: its earlier jobs are being rescued, and it must learn of that first.
    IF EXISTS (SELECT 1 FROM workers w WHERE w.id = p_worker AND w.status <> 'running') THEN
        RETURN;
    END IF;
    LOOP
        SELECT * INTO v_job FROM jobs j
        WHERE j.status = 'queued' AND j.run_after <= now()
        ORDER BY j.priority DESC,
                 (j.requested_employee IS NOT NULL AND j.requested_employee IN (
                     SELECT s.employee FROM pool_slots s
                     WHERE s.index < p_pool_size AND s.state = 'idle')) DESC,
                 j.created_at
        LIMIT 1
        FOR NO KEY UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        v_employee := choose_employee(v_job.requested_employee, p_pool_size);
        EXIT WHEN v_employee IS NOT NULL;
        PERFORM fail_unstaffed_job(v_job, p_worker);
    END LOOP;

    SELECT * INTO v_slot FROM pool_slots s
    WHERE s.index < p_pool_size AND s.state IN ('empty', 'idle')
    ORDER BY (s.state = 'idle' AND s.employee = v_employee) DESC,
             (s.state = 'empty') DESC,
             s.last_used_at NULLS FIRST,
             s.index
    LIMIT 1
    FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN;
    END IF;

    v_lease := p_worker || '/' || (v_job.attempts + 1);
    UPDATE jobs SET status = 'running', attempts = attempts + 1, employee = v_employee,
                    lease_owner = v_lease,
                    lease_expires_at = now() + make_interval(secs => p_lease_seconds),
                    started_at = coalesce(started_at, now())
    WHERE id = v_job.id
    RETURNING * INTO v_job;

    v_state := CASE WHEN v_slot.state = 'idle' AND v_slot.employee = v_employee
                    THEN 'busy' ELSE 'loading' END;
    UPDATE pool_slots SET state = v_state, employee = v_employee, job_id = v_job.id,
                          worker = v_lease, since = now()
    WHERE index = v_slot.index;

    -- A handed-back attempt is run again under its own number (see hand_back_job).
    INSERT INTO job_attempts (job_id, attempt, worker, employee, slot_index)
    VALUES (v_job.id, v_job.attempts, p_worker, v_employee, v_slot.index)
    ON CONFLICT (job_id, attempt) DO UPDATE
    SET worker = EXCLUDED.worker, started_at = now(), finished_at = NULL, outcome = NULL,
        error = NULL, employee = EXCLUDED.employee, slot_index = EXCLUDED.slot_index;

    PERFORM audit_append('worker:' || v_lease, 'job.claimed', v_job.id::text,
                         jsonb_build_object('attempt', v_job.attempts, 'employee', v_employee,
                                            'slot', v_slot.index));
    PERFORM audit_append('worker:' || v_lease,
                         CASE WHEN v_state = 'busy' THEN 'pool.reuse' ELSE 'pool.load' END,
                         v_employee,
                         jsonb_build_object('slot', v_slot.index, 'job_id', v_job.id,
                                            'evicted', CASE WHEN v_slot.state = 'idle'
                                                AND v_slot.employee <> v_employee
                                                THEN v_slot.employee END));
    job := v_job;
    slot_index := v_slot.index;
    slot_state := v_state;
    evicted := CASE WHEN v_slot.state = 'idle' AND v_slot.employee <> v_employee
                    THEN v_slot.employee END;
    RETURN NEXT;
END $$;

-- A queued job that no working employee can take fails with the reason (through `running`,
-- as the state machine requires), its attempt recorded.
CREATE FUNCTION fail_unstaffed_job(p_job jobs, p_worker text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_error text;
    v_attempt integer := p_job.attempts + 1;
BEGIN
    v_error := CASE
        WHEN p_job.requested_employee IS NULL
            THEN 'no working employee on the roster; hire one first'
        ELSE format('employee %L is %s and takes no work', p_job.requested_employee,
                    coalesce((SELECT status FROM employees
                              WHERE name = p_job.requested_employee), 'gone'))
    END;
    UPDATE jobs SET status = 'running', attempts = v_attempt WHERE id = p_job.id;
    UPDATE jobs SET status = 'failed', error = v_error, finished_at = now(),
                    lease_owner = NULL, lease_expires_at = NULL
    WHERE id = p_job.id;
    INSERT INTO job_attempts (job_id, attempt, worker, finished_at, outcome, error)
    VALUES (p_job.id, v_attempt, p_worker, now(), 'failed', v_error)
    ON CONFLICT (job_id, attempt) DO UPDATE
    SET worker = EXCLUDED.worker, started_at = now(), finished_at = now(), outcome = 'failed',
        error = EXCLUDED.error;
    PERFORM audit_append('worker:' || p_worker, 'job.failed', p_job.id::text,
                         jsonb_build_object('attempt', v_attempt, 'error', v_error));
END $$;

-- Frees the slot that lease `p_lease` holds for job `p_job`, if any: a loaded employee stays
-- resident (`idle`), a half-loaded slot starts over `empty`. Audited. Returns the slot index.
-- Called after the job row is locked (lock order: job, slot, audit head).
CREATE FUNCTION release_job_slot(p_job uuid, p_lease text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_slot pool_slots;
BEGIN
    SELECT * INTO v_slot FROM pool_slots WHERE job_id = p_job AND worker = p_lease FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    UPDATE pool_slots
    SET state = CASE WHEN v_slot.state = 'busy' THEN 'idle' ELSE 'empty' END,
        employee = CASE WHEN v_slot.state = 'busy' THEN v_slot.employee END,
        last_used_at = CASE WHEN v_slot.state = 'busy' THEN now() ELSE last_used_at END,
        job_id = NULL, worker = NULL, since = now()
    WHERE index = v_slot.index;
    PERFORM audit_append('worker:' || p_lease,
                         CASE WHEN v_slot.state = 'busy' THEN 'pool.released'
                              ELSE 'pool.emptied' END,
                         v_slot.employee,
                         jsonb_build_object('slot', v_slot.index, 'job_id', p_job));
    RETURN v_slot.index;
END $$;
