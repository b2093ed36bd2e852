-- HR scores and routing by them (issue 8): jobs may ask for skills instead of naming an
-- employee; each employee's record over its last finished jobs is read by one function, which
-- both the roster's scores and the manager's choice use. See docs/decisions.md, "Routing".

-- A job names an employee, or the skills its employee must have, or neither; never both.
-- The skills are short single-line strings, as employees' are (checked by the queue).
ALTER TABLE jobs
    ADD COLUMN skills text[] NOT NULL DEFAULT '{}'
        CHECK (cardinality(skills) <= 8),
    ADD CONSTRAINT jobs_employee_or_skills
        CHECK (requested_employee IS NULL OR cardinality(skills) = 0);

-- An employee's window of finished jobs, newest first, and the manager's recent routing.
CREATE INDEX jobs_finished_by_employee ON jobs (employee, finished_at DESC, id DESC)
    WHERE status IN ('succeeded', 'failed') AND budget_refusal IS NULL;
CREATE INDEX jobs_routed ON jobs (started_at DESC)
    WHERE requested_employee IS NULL AND employee IS NOT NULL;

-- Each employee's record over its last `p_window` finished jobs: the jobs that ended
-- succeeded or failed with it as the job's employee (cancelled and rejected jobs, and jobs a
-- budget refused (migration 006), are not the employee's doing and do not count). `validated` counts the window's jobs that had acceptance
-- checks and reached validation, `validations_passed` those whose checks all passed; latency
-- is the job's first claim to its end (what a caller waits, retries included); `total_cost`
-- is the window's spend in USD. One row per employee on the roster, zeros when it has no
-- finished job (the median is then NULL).
CREATE FUNCTION employee_scores(p_window integer)
RETURNS TABLE (employee text, jobs integer, successes integer, validated integer,
               validations_passed integer, p50_latency_ms bigint, total_cost numeric)
LANGUAGE sql STABLE AS $$
    SELECT e.name,
           count(w.status)::integer,
           count(*) FILTER (WHERE w.status = 'succeeded')::integer,
           count(*) FILTER (WHERE w.validated)::integer,
           count(*) FILTER (WHERE w.validated AND w.passed)::integer,
           round(percentile_cont(0.5) WITHIN GROUP (ORDER BY w.latency_ms))::bigint,
           coalesce(sum(w.cost), 0)
    FROM employees e
    LEFT JOIN LATERAL (
        SELECT j.status, j.cost,
               jsonb_array_length(j.acceptance) > 0 AND j.validation IS NOT NULL AS validated,
               coalesce((j.validation ->> 'passed')::boolean, false) AS passed,
               extract(epoch FROM j.finished_at - j.started_at) * 1000 AS latency_ms
        FROM jobs j
        WHERE j.employee = e.name AND j.status IN ('succeeded', 'failed')
          AND j.budget_refusal IS NULL
        ORDER BY j.finished_at DESC, j.id DESC
        LIMIT p_window
    ) AS w ON true
    GROUP BY e.name
$$;

-- Whether an employee's skills include every wanted one (letter case ignored).
CREATE FUNCTION has_skills(p_has text[], p_wanted text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT NOT EXISTS (
        SELECT 1 FROM unnest(p_wanted) AS wanted (skill)
        WHERE lower(wanted.skill) <> ALL (SELECT lower(has.skill)
                                          FROM unnest(p_has) AS has (skill)))
$$;

-- Who does job `p_job`; NULL when nobody can. A named employee does it if it is working
-- (probation or active). Otherwise the manager routes the job:
--
-- 1. Candidates: working employees having all the job's skills (all working employees when
--    it names none). Suspended and terminated employees are never candidates.
-- 2. Probation turn: when the candidates include both probationers and active employees, the
--    probationers get this job if fewer than 20 % of the last 20 routed jobs (jobs that named
--    no employee, by claim time, this one excluded; all of them while there are fewer) went to
--    employees now on probation, and the active employees get it otherwise. So probationers
--    earn a record without taking more than about a fifth of the routed work.
-- 3. Among those, the highest rank wins: the success rate over the employee's last 50
--    finished jobs with a Laplace prior, (successes + 1) / (jobs + 2) (a new hire starts at
--    0.5), plus 0.10 when the employee is resident in an idle pool slot (no model to load):
--    a resident employee keeps the work unless another's rank is more than 0.10 higher.
--    Ties go to the earlier hire, then the name.
CREATE OR REPLACE FUNCTION choose_employee(p_job jobs, p_pool_size integer) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    c_window          CONSTANT integer := 50;
    c_routed_recent   CONSTANT integer := 20;
    c_probation_pct   CONSTANT integer := 20;
    c_resident_bonus  CONSTANT numeric := 0.10;
    v_probation_turn  boolean;
    v_choice          text;
BEGIN
    IF p_job.requested_employee IS NOT NULL THEN
        RETURN (SELECT e.name FROM employees e
                WHERE e.name = p_job.requested_employee
                  AND e.status IN ('probation', 'active'));
    END IF;

    SELECT count(*) FILTER (WHERE e.status = 'probation') * 100
           < c_probation_pct * greatest(count(*), 1)
    INTO v_probation_turn
    FROM (SELECT j.employee FROM jobs j
          WHERE j.requested_employee IS NULL AND j.employee IS NOT NULL AND j.id <> p_job.id
          ORDER BY j.started_at DESC
          LIMIT c_routed_recent) AS recent
    JOIN employees e ON e.name = recent.employee;

    WITH candidates AS (
        SELECT e.name, e.status, e.created_at,
               (s.successes + 1)::numeric / (s.jobs + 2)
               + CASE WHEN EXISTS (SELECT 1 FROM pool_slots ps
                                   WHERE ps.index < p_pool_size AND ps.state = 'idle'
                                     AND ps.employee = e.name)
                      THEN c_resident_bonus ELSE 0 END AS rank
        FROM employees e
        JOIN employee_scores(c_window) AS s ON s.employee = e.name
        WHERE e.status IN ('probation', 'active') AND has_skills(e.skills, p_job.skills)
    ), mixed AS (
        SELECT count(DISTINCT c.status) = 2 AS both_kinds FROM candidates c
    )
    SELECT c.name INTO v_choice
    FROM candidates c, mixed
    WHERE NOT mixed.both_kinds
       OR c.status = CASE WHEN v_probation_turn THEN 'probation' ELSE 'active' END
    ORDER BY c.rank DESC, c.created_at, c.name
    LIMIT 1;
    RETURN v_choice;
END $$;

-- claim_job() as in migration 002; only the call to choose_employee changed (it now takes the
-- job, for its skills). The old two-argument choose_employee goes.
CREATE OR REPLACE FUNCTION claim_job(p_worker text, p_lease_seconds double precision,
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
        v_employee := choose_employee(v_job, p_pool_size);
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

DROP FUNCTION choose_employee(text, integer);

-- fail_unstaffed_job() as in migration 002, with the reason for a job whose skills no working
-- employee has.
CREATE OR REPLACE FUNCTION fail_unstaffed_job(p_job jobs, p_worker text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_error text;
    v_attempt integer := p_job.attempts + 1;
BEGIN
    v_error := CASE
        WHEN p_job.requested_employee IS NULL AND cardinality(p_job.skills) > 0
            THEN format('no working employee has all the skills %s; hire one with them, or '
                        'give them to an employee (aura employee edit NAME --skills ...)',
                        array_to_string(p_job.skills, ', '))
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
