-- Budgets (DESIGN §8): money is reserved before a model call and settled after it, so no call
-- can overshoot a limit. The ledger stays append-only: a reservation is a ledger row holding
-- the call's worst case; the call's charge (kind 'call') or a release (kind 'release', cost 0)
-- names the reservation it closes. `reservations` lists the reservations not closed yet, so
-- admission does not scan every reservation ever made; it is an index of open holds, never a
-- running total.

CREATE TABLE budgets (
    name        text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    scope       text NOT NULL CHECK (scope IN ('global', 'employee')),
    employee    text REFERENCES employees (name),
    limit_usd   numeric(14, 8) NOT NULL CHECK (limit_usd >= 0),
    period      text NOT NULL DEFAULT 'month' CHECK (period = 'month'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((scope = 'employee') = (employee IS NOT NULL))
);

-- A job's own ceiling (`max_cost_usd` on submit_job/ask): all its calls, every attempt.
ALTER TABLE jobs
    ADD COLUMN max_cost_usd numeric(14, 8) CHECK (max_cost_usd >= 0),
    ADD COLUMN budget_refusal jsonb;

-- The output-token cap sent with every call (Ollama's num_predict, OpenAI's max_tokens, …):
-- with the prompt it bounds a call's cost before the call is made.
ALTER TABLE employees
    ADD COLUMN max_output_tokens integer NOT NULL DEFAULT 4096
        CHECK (max_output_tokens BETWEEN 1 AND 1000000);

ALTER TABLE ledger DROP CONSTRAINT ledger_kind_check;
ALTER TABLE ledger
    ADD CONSTRAINT ledger_kind_check CHECK (kind IN ('call', 'reservation', 'release')),
    ADD COLUMN reservation_id bigint REFERENCES ledger (id);
CREATE UNIQUE INDEX ledger_closes_once ON ledger (reservation_id)
    WHERE reservation_id IS NOT NULL;
-- Admission sums the period's charges on every call: these partial indexes hold only charges
-- and carry their cost, so the sums read the index, not the whole ledger.
CREATE INDEX ledger_calls_by_ts ON ledger (ts) INCLUDE (cost) WHERE kind = 'call';
CREATE INDEX ledger_calls_by_employee ON ledger (employee, ts) INCLUDE (cost)
    WHERE kind = 'call';

CREATE TABLE reservations (
    id        bigint PRIMARY KEY REFERENCES ledger (id),
    job_id    uuid NOT NULL,
    lease     text NOT NULL,
    employee  text NOT NULL,
    amount    numeric(14, 8) NOT NULL CHECK (amount >= 0)
);
CREATE INDEX reservations_job ON reservations (job_id);
CREATE INDEX reservations_employee ON reservations (employee);

-- The calendar month holding `p_at`, in time zone `p_tz`: [start, end) as instants. Month ends
-- and DST changes are the time zone's business: local midnight on the first is the boundary.
CREATE FUNCTION budget_period(p_at timestamptz, p_tz text,
                              OUT period_start timestamptz, OUT period_end timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT date_trunc('month', p_at AT TIME ZONE p_tz) AT TIME ZONE p_tz,
           (date_trunc('month', p_at AT TIME ZONE p_tz) + interval '1 month') AT TIME ZONE p_tz
$$;

-- Spend charged in [p_from, p_to), for one employee or (NULL) everyone. Two branches, each
-- gated by a one-time test on p_employee, so each uses its own index under a generic plan.
CREATE FUNCTION ledger_spent(p_employee text, p_from timestamptz, p_to timestamptz)
RETURNS numeric LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(cost), 0) FROM (
        SELECT cost FROM ledger
        WHERE p_employee IS NULL AND kind = 'call' AND ts >= p_from AND ts < p_to
        UNION ALL
        SELECT cost FROM ledger
        WHERE p_employee IS NOT NULL AND kind = 'call' AND employee = p_employee
          AND ts >= p_from AND ts < p_to
    ) AS charged
$$;

-- Money held by open reservations, for one employee or (NULL) everyone.
CREATE FUNCTION reserved_now(p_employee text) RETURNS numeric LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(amount), 0) FROM reservations
    WHERE p_employee IS NULL OR employee = p_employee
$$;

-- Admission of one model call (the job's lease must be live, and its row stays locked, so a
-- rescue or cancel waits for the admission and then releases what it reserved): the budgets
-- that apply (every global one and the employee's) are locked in name order, one by one as the
-- loop fetches them (so admissions never deadlock and a budget created meanwhile is locked
-- before it is checked), and each is checked as spent + reserved + worst case <= limit; then the
-- job's own ceiling; when all hold, the reservation is inserted. Spent and reserved are read in
-- one statement, after the budget's lock: one snapshot, so a settlement (which moves a call's
-- money from reserved to spent in one transaction) is seen whole or not at all.
-- Refused: no row is written and the refusing budget comes back with its figures.
CREATE FUNCTION admit_call(p_job uuid, p_lease text, p_employee text, p_worst numeric,
                           p_tz text)
RETURNS TABLE (reservation_id bigint, refused_by text, scope text, limit_usd numeric,
               spent_usd numeric, reserved_usd numeric)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_job      jobs;
    v_budget   budgets;
    v_from     timestamptz;
    v_to       timestamptz;
    v_spent    numeric;
    v_reserved numeric;
    v_id       bigint;
BEGIN
    SELECT * INTO v_job FROM jobs
    WHERE id = p_job AND lease_owner = p_lease AND status = 'running'
    FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN;  -- the lease is gone: the caller treats an empty answer as a lost lease
    END IF;
    SELECT p.period_start, p.period_end INTO v_from, v_to FROM budget_period(now(), p_tz) AS p;
    FOR v_budget IN
        SELECT * FROM budgets b WHERE b.scope = 'global' OR b.employee = p_employee
        ORDER BY b.name
        FOR UPDATE
    LOOP
        SELECT ledger_spent(v_budget.employee, v_from, v_to), reserved_now(v_budget.employee)
        INTO v_spent, v_reserved;
        IF v_spent + v_reserved + p_worst > v_budget.limit_usd THEN
            RETURN QUERY SELECT NULL::bigint, v_budget.name, v_budget.scope,
                                v_budget.limit_usd, v_spent, v_reserved;
            RETURN;
        END IF;
    END LOOP;
    IF v_job.max_cost_usd IS NOT NULL THEN
        SELECT (SELECT coalesce(sum(cost), 0) FROM ledger
                WHERE job_id = p_job AND kind = 'call'),
               (SELECT coalesce(sum(amount), 0) FROM reservations WHERE job_id = p_job)
        INTO v_spent, v_reserved;
        IF v_spent + v_reserved + p_worst > v_job.max_cost_usd THEN
            RETURN QUERY SELECT NULL::bigint, 'job'::text, 'job'::text, v_job.max_cost_usd,
                                v_spent, v_reserved;
            RETURN;
        END IF;
    END IF;
    INSERT INTO ledger (job_id, employee, kind, cost, latency_ms)
    VALUES (p_job, p_employee, 'reservation', p_worst, 0)
    RETURNING id INTO v_id;
    INSERT INTO reservations (id, job_id, lease, employee, amount)
    VALUES (v_id, p_job, p_lease, p_employee, p_worst);
    RETURN QUERY SELECT v_id, NULL::text, NULL::text, NULL::numeric, NULL::numeric,
                        NULL::numeric;
END $$;

-- An abandoned reservation is released with its lease: whatever ends or moves a lease (finish,
-- retry, hand-back, cancel, rescue) closes the reservations still open under it, in the same
-- statement. A settled call closed its own reservation already.
CREATE FUNCTION release_lease_reservations() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    WITH closed AS (
        DELETE FROM reservations r
        WHERE r.job_id = OLD.id AND r.lease = OLD.lease_owner
        RETURNING r.id, r.employee
    )
    INSERT INTO ledger (job_id, employee, kind, cost, latency_ms, reservation_id)
    SELECT OLD.id, closed.employee, 'release', 0, 0, closed.id FROM closed;
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_release_reservations
    AFTER UPDATE OF lease_owner ON jobs
    FOR EACH ROW
    WHEN (OLD.lease_owner IS NOT NULL AND OLD.lease_owner IS DISTINCT FROM NEW.lease_owner)
    EXECUTE FUNCTION release_lease_reservations();
