-- HR's record of each employee: good jobs on probation and failures in a row. Updated in the
-- statement that ends each attempt (see `hr_record_outcome`), audited there.
ALTER TABLE employees
    ADD COLUMN good_jobs integer NOT NULL DEFAULT 0 CHECK (good_jobs >= 0),
    ADD COLUMN failures_in_a_row integer NOT NULL DEFAULT 0 CHECK (failures_in_a_row >= 0);

-- One attempt's outcome for its employee: a success counts towards leaving probation (after
-- p_probation_jobs of them the employee becomes active) and clears the failure streak; a
-- failure extends it, and p_failures_to_suspend failures in a row suspend a working employee.
-- Returns the employee's new status when it changed, else NULL. Lock order: the caller has
-- locked the job (and slot) rows; this locks the employee row, then the audit head.
CREATE FUNCTION hr_record_outcome(p_employee text, p_succeeded boolean,
                                  p_probation_jobs integer, p_failures_to_suspend integer,
                                  p_actor text, p_job uuid)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_emp employees;
    v_new text;
BEGIN
    IF p_employee IS NULL THEN
        RETURN NULL;
    END IF;
    UPDATE employees
    SET good_jobs = CASE WHEN p_succeeded THEN good_jobs + 1 ELSE good_jobs END,
        failures_in_a_row = CASE WHEN p_succeeded THEN 0 ELSE failures_in_a_row + 1 END
    WHERE name = p_employee
    RETURNING * INTO v_emp;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF p_succeeded AND v_emp.status = 'probation' AND v_emp.good_jobs >= p_probation_jobs THEN
        v_new := 'active';
    ELSIF NOT p_succeeded AND v_emp.status IN ('probation', 'active')
          AND v_emp.failures_in_a_row >= p_failures_to_suspend THEN
        v_new := 'suspended';
    ELSE
        RETURN NULL;
    END IF;
    UPDATE employees SET status = v_new WHERE name = p_employee;
    PERFORM audit_append(p_actor,
                         CASE WHEN v_new = 'active' THEN 'employee.promoted'
                              ELSE 'employee.suspended' END,
                         p_employee,
                         jsonb_build_object('from', v_emp.status, 'job_id', p_job,
                                            'good_jobs', v_emp.good_jobs,
                                            'failures_in_a_row', v_emp.failures_in_a_row));
    RETURN v_new;
END $$;
