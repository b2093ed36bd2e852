-- `consensus` (issue 10): one question to two or three employees side by side. Each member
-- is an ordinary `ask` job pinned to its employee; a consensus is the group, with one durable
-- id, so its state can be read again later (after a restart too): the member jobs, and the
-- deadline its caller waited until. See docs/decisions.md, "Consensus".

CREATE TABLE consensus (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client      text,
    -- What the members were chosen by when the caller named none ('{}' when it named them).
    skills      text[] NOT NULL DEFAULT '{}' CHECK (cardinality(skills) <= 8),
    created_at  timestamptz NOT NULL DEFAULT now(),
    deadline    timestamptz NOT NULL,
    CHECK (deadline >= created_at)
);

CREATE TABLE consensus_members (
    consensus_id  uuid NOT NULL REFERENCES consensus (id),
    position      smallint NOT NULL CHECK (position BETWEEN 1 AND 3),
    job_id        uuid NOT NULL UNIQUE REFERENCES jobs (id),
    PRIMARY KEY (consensus_id, position)
);

-- Routing's rank of every working employee having all of `p_skills` (all working employees
-- when it is empty), as migration 007's `choose_employee()` ranked them: the success rate
-- over the last 50 finished jobs with a Laplace prior, plus 0.10 when resident in an idle
-- slot. Higher is better; ties go to the earlier hire, then the name. Shared by routing (one
-- employee) and consensus (the best two or three).
CREATE FUNCTION employee_ranks(p_skills text[], p_pool_size integer)
RETURNS TABLE (name text, status text, created_at timestamptz, rank numeric)
LANGUAGE sql STABLE AS $$
    SELECT e.name, e.status, e.created_at,
           (s.successes + 1)::numeric / (s.jobs + 2)
           + CASE WHEN EXISTS (SELECT 1 FROM pool_slots ps
                               WHERE ps.index < p_pool_size AND ps.state = 'idle'
                                 AND ps.employee = e.name)
                  THEN 0.10 ELSE 0 END
    FROM employees e
    JOIN employee_scores(50) AS s ON s.employee = e.name
    WHERE e.status IN ('probation', 'active') AND has_skills(e.skills, p_skills)
$$;

-- choose_employee() as in migration 007, its candidates now read from employee_ranks().
CREATE OR REPLACE FUNCTION choose_employee(p_job jobs, p_pool_size integer) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    c_routed_recent   CONSTANT integer := 20;
    c_probation_pct   CONSTANT integer := 20;
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
        SELECT r.name, r.status, r.created_at, r.rank
        FROM employee_ranks(p_job.skills, p_pool_size) AS r
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
