-- Routing and consensus choose by skills only among employees admission would let run: an
-- unpriceable employee (a cli employee with no rate card, `governance.accountant.unpriceable`)
-- is refused at admission whenever a budget applies to the call, and that refusal fails the job
-- for good; so under such a budget it is no candidate. A job that names its employee is not
-- routed and keeps admission's refusal, which says why. See docs/decisions.md, "Routing".

-- Whether admission would refuse every call of `p_employee` as unpriceable, for a job whose own
-- ceiling is `p_max_cost_usd` (NULL: none): it is unpriceable and a budget applies to it. Every
-- global budget and its own employee budget apply, whatever their figures, as in the ledger's
-- `budget_applying` query (`Accountant.admit`); so does the job's ceiling.
CREATE FUNCTION refused_as_unpriceable(p_employee employees, p_max_cost_usd numeric)
RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT p_employee.adapter = 'cli' AND p_employee.price_in = 0 AND p_employee.price_out = 0
       AND (p_max_cost_usd IS NOT NULL
            OR EXISTS (SELECT 1 FROM budgets b
                       WHERE b.scope = 'global' OR b.employee = p_employee.name))
$$;

-- employee_ranks() as in migration 014, for a job whose own ceiling is `p_max_cost_usd` (NULL:
-- none): employees admission would refuse as unpriceable are left out. A new argument, so the
-- two-argument function goes (nothing else reads it; `choose_employee()` is restated below and
-- consensus's `best_employees` query passes the ceiling).
DROP FUNCTION employee_ranks(text[], integer);

CREATE FUNCTION employee_ranks(p_skills text[], p_pool_size integer, p_max_cost_usd numeric)
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
      AND NOT refused_as_unpriceable(e, p_max_cost_usd)
$$;

-- choose_employee() as in migration 014, its candidates read from employee_ranks() with the
-- job's ceiling. With no candidate left it returns NULL as before, and `claim_job()` fails the
-- job through `fail_unstaffed_job()`.
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
        FROM employee_ranks(p_job.skills, p_pool_size, p_job.max_cost_usd) AS r
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
