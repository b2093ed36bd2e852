-- The spine's schema: roster, jobs and their attempts, the pool, the ledger, the audit chain
-- and the MCP client tokens. Applied once, in a transaction, by orchestra/migrations.py.

CREATE TABLE employees (
    name         text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
    adapter      text NOT NULL CHECK (adapter IN ('ollama', 'openai', 'gemini', 'cli')),
    model        text,
    base_url     text,
    api_key_env  text CHECK (api_key_env ~ '^[A-Za-z_][A-Za-z0-9_]*$'),
    command      jsonb CHECK (command IS NULL OR jsonb_typeof(command) = 'array'),
    network      boolean NOT NULL DEFAULT false,
    skills       text[] NOT NULL DEFAULT '{}',
    price_in     numeric(14, 6) NOT NULL DEFAULT 0 CHECK (price_in >= 0),
    price_out    numeric(14, 6) NOT NULL DEFAULT 0 CHECK (price_out >= 0),
    status       text NOT NULL DEFAULT 'probation'
                 CHECK (status IN ('probation', 'active', 'suspended', 'terminated')),
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TYPE job_status AS ENUM (
    'pending_approval', 'queued', 'running', 'validating',
    'succeeded', 'failed', 'cancelled', 'rejected'
);

CREATE TABLE jobs (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind               text NOT NULL CHECK (kind IN ('task', 'ask')),
    status             job_status NOT NULL DEFAULT 'queued',
    prompt             text NOT NULL CHECK (length(prompt) > 0),
    project            text,
    requested_employee text REFERENCES employees (name),
    employee           text REFERENCES employees (name),
    acceptance         jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(acceptance) = 'array'),
    priority           integer NOT NULL DEFAULT 0,
    attempts           integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts       integer NOT NULL DEFAULT 1 CHECK (max_attempts BETWEEN 1 AND 10),
    client             text,
    idempotency_key    text,
    lease_owner        text,
    lease_expires_at   timestamptz,
    run_after          timestamptz NOT NULL DEFAULT now(),
    output             text,
    diff               text,
    validation         jsonb,
    error              text,
    tokens_in          bigint NOT NULL DEFAULT 0,
    tokens_out         bigint NOT NULL DEFAULT 0,
    cost               numeric(14, 8) NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    started_at         timestamptz,
    finished_at        timestamptz
);

-- One job per (client, idempotency key): the database decides, not check-then-insert.
CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (client, idempotency_key) NULLS NOT DISTINCT
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_claimable ON jobs (priority DESC, created_at) WHERE status = 'queued';
CREATE INDEX jobs_leased ON jobs (lease_expires_at) WHERE status IN ('running', 'validating');
CREATE INDEX jobs_created ON jobs (created_at DESC);

-- The state machine lives here as well as in orchestra/models.py, so no writer can skip it.
CREATE FUNCTION jobs_status_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = OLD.status THEN
        RETURN NEW;
    END IF;
    IF NOT (
        (OLD.status = 'pending_approval' AND NEW.status IN ('queued', 'rejected', 'cancelled')) OR
        (OLD.status = 'queued' AND NEW.status IN ('running', 'cancelled')) OR
        (OLD.status = 'running' AND NEW.status IN ('validating', 'queued', 'failed', 'cancelled')) OR
        (OLD.status = 'validating' AND NEW.status IN ('succeeded', 'failed', 'queued', 'cancelled'))
    ) THEN
        RAISE EXCEPTION 'illegal job transition % -> % for job %', OLD.status, NEW.status, OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END $$;

CREATE TRIGGER jobs_status_guard BEFORE UPDATE OF status ON jobs
    FOR EACH ROW EXECUTE FUNCTION jobs_status_guard();

CREATE TABLE job_attempts (
    job_id       uuid NOT NULL REFERENCES jobs (id),
    attempt      integer NOT NULL,
    worker       text NOT NULL,
    employee     text REFERENCES employees (name),
    slot_index   integer,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    outcome      text,
    error        text,
    PRIMARY KEY (job_id, attempt)
);

CREATE TABLE pool_slots (
    index         integer PRIMARY KEY CHECK (index BETWEEN 0 AND 2),
    state         text NOT NULL DEFAULT 'empty' CHECK (state IN ('empty', 'idle', 'busy', 'loading')),
    employee      text REFERENCES employees (name),
    job_id        uuid REFERENCES jobs (id),
    worker        text,
    since         timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    CHECK ((state = 'empty') = (employee IS NULL)),
    CHECK ((state IN ('busy', 'loading')) = (job_id IS NOT NULL))
);
INSERT INTO pool_slots (index) VALUES (0), (1), (2);

CREATE TABLE ledger (
    id          bigserial PRIMARY KEY,
    ts          timestamptz NOT NULL DEFAULT now(),
    job_id      uuid REFERENCES jobs (id),
    employee    text NOT NULL REFERENCES employees (name),
    kind        text NOT NULL CHECK (kind IN ('call')),
    tokens_in   bigint NOT NULL DEFAULT 0 CHECK (tokens_in >= 0),
    tokens_out  bigint NOT NULL DEFAULT 0 CHECK (tokens_out >= 0),
    cost        numeric(14, 8) NOT NULL DEFAULT 0,
    latency_ms  integer NOT NULL CHECK (latency_ms >= 0)
);
CREATE INDEX ledger_job ON ledger (job_id);

CREATE TABLE audit_log (
    seq        bigint PRIMARY KEY,
    ts         timestamptz NOT NULL,
    actor      text NOT NULL,
    action     text NOT NULL,
    subject    text,
    details    jsonb NOT NULL DEFAULT '{}',
    prev_hash  text NOT NULL,
    hash       text NOT NULL
);

CREATE TABLE audit_head (
    id    boolean PRIMARY KEY DEFAULT true CHECK (id),
    seq   bigint NOT NULL,
    hash  text NOT NULL
);
-- The chain starts from a known genesis hash: 64 zeros.
INSERT INTO audit_head (seq, hash) VALUES (0, repeat('0', 64));

-- Append-only tables refuse every rewrite, row by row and wholesale.
CREATE FUNCTION refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION refuse_rewrite();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_rewrite();
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger
    FOR EACH ROW EXECUTE FUNCTION refuse_rewrite();
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_rewrite();

CREATE TABLE api_tokens (
    name        text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    token_hash  text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- Every job insert and status change is announced on one channel; workers wake on `queued`,
-- waiters (`wait_job`, `ask`) on anything. A trigger, so no writer can forget to notify.
CREATE FUNCTION jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('aura_jobs', NEW.id::text || ' ' || NEW.status::text);
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_notify AFTER INSERT OR UPDATE OF status ON jobs
    FOR EACH ROW EXECUTE FUNCTION jobs_notify();

-- A slot that frees up is announced on `aura_pool`, so workers waiting for a slot on any host
-- wake at once instead of polling.
CREATE FUNCTION pool_slots_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('aura_pool', NEW.index::text || ' ' || NEW.state);
    RETURN NULL;
END $$;

CREATE TRIGGER pool_slots_notify AFTER UPDATE OF state ON pool_slots
    FOR EACH ROW WHEN (NEW.state IN ('idle', 'empty')) EXECUTE FUNCTION pool_slots_notify();

-- Appends one audit entry in one round trip: takes the head's row lock (gap-free seq, one
-- appender at a time), hashes, inserts, moves the head. The hashed text is the jsonb array
-- [seq, ts, actor, action, subject, details] as PostgreSQL renders it, prefixed by the previous
-- hash; `governance/auditor.py` rebuilds the same text from the stored columns to verify.
CREATE FUNCTION audit_append(p_actor text, p_action text, p_subject text, p_details jsonb)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_seq   bigint;
    v_prev  text;
    v_ts    timestamptz := date_trunc('microseconds', clock_timestamp());
    v_hash  text;
BEGIN
    UPDATE audit_head SET seq = seq + 1 RETURNING seq, hash INTO v_seq, v_prev;
    v_hash := encode(sha256(convert_to(v_prev || jsonb_build_array(
        v_seq,
        to_char(v_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        p_actor, p_action, p_subject, coalesce(p_details, '{}'::jsonb))::text, 'UTF8')), 'hex');
    INSERT INTO audit_log (seq, ts, actor, action, subject, details, prev_hash, hash)
    VALUES (v_seq, v_ts, p_actor, p_action, p_subject, coalesce(p_details, '{}'::jsonb),
            v_prev, v_hash);
    UPDATE audit_head SET hash = v_hash;
    RETURN v_seq;
END $$;
