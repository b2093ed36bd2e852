-- Live events (DESIGN §10, `GET /api/v1/events`): what changed, in commit order, for the
-- console and other live views. See docs/decisions.md, "Live events".
--
-- An event is numbered when its transaction commits, not when the change is made: deferred
-- constraint triggers run at commit, take the `events_head` row lock (the last lock any
-- transaction takes, so it cannot join a deadlock), number the event gap-free and append it.
-- A later number therefore always belongs to a later commit, and a reader that has seen N
-- has seen everything up to N: `id > Last-Event-ID` replays exactly what a client missed.
-- NOTIFY `aura_events` carries only the id; the table is the truth, the NOTIFY a wake-up.
-- Events are not the audit log: old ones are pruned (`prune_events`).

CREATE TABLE events (
    id       bigint PRIMARY KEY,
    ts       timestamptz NOT NULL,
    kind     text NOT NULL CHECK (kind ~ '^[a-z][a-z_]{0,31}$'),
    subject  text NOT NULL,
    status   text,
    data     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(data) = 'object')
);

CREATE TABLE events_head (
    id   boolean PRIMARY KEY DEFAULT true CHECK (id),
    seq  bigint NOT NULL
);
INSERT INTO events_head (seq) VALUES (0);

-- Numbers and appends one event, and wakes the listeners. Only for callers running at commit
-- (the deferred triggers below): called earlier, the head's lock would be held while the
-- transaction takes other locks. Everyone else calls `emit_event`.
CREATE FUNCTION publish_event(p_kind text, p_subject text, p_status text, p_data jsonb)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    UPDATE events_head SET seq = seq + 1 RETURNING seq INTO v_id;
    INSERT INTO events (id, ts, kind, subject, status, data)
    VALUES (v_id, clock_timestamp(), p_kind, p_subject, p_status,
            coalesce(p_data, '{}'::jsonb)
            || jsonb_build_object('id', p_subject, 'status', p_status));
    PERFORM pg_notify('aura_events', v_id::text);
    RETURN v_id;
END $$;

-- THE WAY TO EMIT AN EVENT FROM SQL, anywhere in a transaction, in any lock order:
--
--     PERFORM emit_event('approval', v_approval.id::text, v_approval.status, jsonb_build_object(
--         'action', v_approval.action));
--
-- `kind` names the object (`job`, `slot`, `employee`, `budget`, `approval`…; lower case),
-- `subject` its id, `status` its new status; `data` adds fields (`id` and `status` are always
-- there). The event is numbered and published when the transaction commits, and vanishes
-- with it on rollback. It is staged in `events_pending`, whose deferred trigger publishes it:
-- a few writes more than the triggers on the job path use, for callers that are not hot.
CREATE TABLE events_pending (
    seq      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind     text NOT NULL,
    subject  text NOT NULL,
    status   text,
    data     jsonb
);

CREATE FUNCTION emit_event(p_kind text, p_subject text, p_status text,
                           p_data jsonb DEFAULT NULL)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO events_pending (kind, subject, status, data)
    VALUES (p_kind, p_subject, p_status, p_data)
$$;

CREATE FUNCTION events_pending_publish() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM publish_event(NEW.kind, NEW.subject, NEW.status, NEW.data);
    DELETE FROM events_pending WHERE seq = NEW.seq;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER events_pending_publish AFTER INSERT ON events_pending
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION events_pending_publish();

-- Jobs: an insert and every status change; never a heartbeat (it moves `lease_expires_at`
-- only, and the WHEN clause keeps it from even queueing a trigger). A deferred trigger sees
-- the row as that statement left it, so a job moved twice in one transaction (queued →
-- running → failed) gives both events, in order.
CREATE FUNCTION jobs_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM publish_event('job', NEW.id::text, NEW.status::text, jsonb_build_object(
        'kind', NEW.kind, 'employee', NEW.employee, 'attempts', NEW.attempts,
        'previous', CASE WHEN TG_OP = 'UPDATE' THEN OLD.status::text END));
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER jobs_event_insert AFTER INSERT ON jobs
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION jobs_event();
CREATE CONSTRAINT TRIGGER jobs_event_update AFTER UPDATE OF status ON jobs
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION jobs_event();

-- Pool slots: a move of state, resident employee or job. The status is the slot's state.
CREATE FUNCTION pool_slots_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM publish_event('slot', NEW.index::text, NEW.state, jsonb_build_object(
        'index', NEW.index, 'employee', NEW.employee, 'job_id', NEW.job_id));
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER pool_slots_event AFTER UPDATE ON pool_slots
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    WHEN ((OLD.state, OLD.employee, OLD.job_id) IS DISTINCT FROM
          (NEW.state, NEW.employee, NEW.job_id))
    EXECUTE FUNCTION pool_slots_event();

-- Employees: a hire, a status change or an edit. HR's counters (`good_jobs`,
-- `failures_in_a_row`) move with every finished job and are left out, or each job would
-- carry an employee event too; a promotion or suspension is a status change and is sent.
CREATE FUNCTION employees_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM publish_event('employee', NEW.name, NEW.status, jsonb_build_object(
        'previous', CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END));
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER employees_event_insert AFTER INSERT ON employees
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION employees_event();
CREATE CONSTRAINT TRIGGER employees_event_update AFTER UPDATE ON employees
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    WHEN ((to_jsonb(OLD) - '{good_jobs,failures_in_a_row}'::text[])
          IS DISTINCT FROM (to_jsonb(NEW) - '{good_jobs,failures_in_a_row}'::text[]))
    EXECUTE FUNCTION employees_event();

-- Budgets: set (created or changed) or removed. Spending moves no budget row; a live view
-- refreshes its figures on job events.
CREATE FUNCTION budgets_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_row budgets := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
BEGIN
    PERFORM publish_event('budget', v_row.name,
                          CASE TG_OP WHEN 'INSERT' THEN 'created' WHEN 'UPDATE' THEN 'changed'
                                     ELSE 'removed' END,
                          jsonb_build_object('scope', v_row.scope, 'employee', v_row.employee,
                                             'limit_usd', v_row.limit_usd::text));
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER budgets_event AFTER INSERT OR UPDATE OR DELETE ON budgets
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION budgets_event();

-- Keeps the feed bounded: drops events older than `p_max_age`, and all but the newest
-- `p_keep` events. Ids and times grow together (both are taken at commit under the head's
-- lock), so the cut is one id: the scan stops at the first event young enough to keep.
CREATE FUNCTION prune_events(p_max_age interval, p_keep bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_cut    bigint;
    v_count  bigint;
BEGIN
    SELECT greatest(
        coalesce((SELECT e.id FROM events e WHERE e.ts >= now() - p_max_age
                  ORDER BY e.id LIMIT 1), (SELECT seq + 1 FROM events_head)),
        (SELECT seq + 1 FROM events_head) - p_keep)
    INTO v_cut;
    DELETE FROM events WHERE id < v_cut;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END $$;
