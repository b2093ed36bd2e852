-- Conversation threads for `ask` (DESIGN §5, §9): a thread and its messages live here, so a
-- conversation outlives restarts and any client may continue it. See docs/decisions.md,
-- "Threads".
--
-- A thread is started by the statement that submits its first question (`submit_job`), with
-- its audit entry. Messages are appended only when a threaded question succeeds, by the
-- trigger below, inside the statement that finishes the job: the question and its answer
-- together, exactly once (a job succeeds once), whoever waits for it or not.

CREATE TABLE threads (
    id             uuid PRIMARY KEY,
    title          text NOT NULL CHECK (length(title) BETWEEN 1 AND 80),
    created_by     text NOT NULL,                   -- the client that started it
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),  -- the last message's time
    message_count  integer NOT NULL DEFAULT 0 CHECK (message_count >= 0)
);
CREATE INDEX threads_newest ON threads (created_at DESC, id DESC);

-- The token estimate every part of Aura uses for thread text: UTF-8 bytes / 3, rounded up
-- (conservative: English runs near 4 bytes a token, code and other scripts nearer 3).
-- `orchestra/threads.py` `estimate_tokens` is the same rule.
CREATE FUNCTION estimate_tokens(p_text text) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT (octet_length(p_text) + 2) / 3 $$;

CREATE TABLE thread_messages (
    thread_id   uuid NOT NULL REFERENCES threads (id),
    seq         integer NOT NULL CHECK (seq >= 1),
    role        text NOT NULL CHECK (role IN ('user', 'assistant')),
    text        text NOT NULL,
    -- No foreign key to jobs, as the ledger has none: a thread's history stays whole whatever
    -- happens to job rows.
    job_id      uuid NOT NULL,
    client      text NOT NULL,   -- who asked (for an answer: whose question it answers)
    employee    text,            -- who answered (NULL on the question)
    tokens      integer NOT NULL GENERATED ALWAYS AS (estimate_tokens(text)) STORED,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (thread_id, seq),
    UNIQUE (job_id, role)        -- one question and one answer per job, ever
);

CREATE TRIGGER thread_messages_append_only BEFORE UPDATE OR DELETE ON thread_messages
    FOR EACH ROW EXECUTE FUNCTION refuse_rewrite();
CREATE TRIGGER thread_messages_no_truncate BEFORE TRUNCATE ON thread_messages
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_rewrite();

-- Which thread a question continues (or starts). Only questions belong to threads.
ALTER TABLE jobs ADD COLUMN thread_id uuid REFERENCES threads (id);
ALTER TABLE jobs ADD CONSTRAINT jobs_thread_only_for_asks
    CHECK (thread_id IS NULL OR kind = 'ask');

-- A threaded question succeeded: its prompt and its answer join the thread, numbered after
-- the thread's last message, with one audit entry. Runs at the end of the finishing statement,
-- after that statement took the audit head, so its locks (the thread row) come after the
-- head's: the only other writer of a thread row is this trigger, so no lock cycle can form.
CREATE FUNCTION thread_record_answer() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_last integer;
    v_client text := coalesce(NEW.client, 'stdio');
BEGIN
    UPDATE threads SET message_count = message_count + 2, updated_at = now()
    WHERE id = NEW.thread_id
    RETURNING message_count INTO v_last;
    INSERT INTO thread_messages (thread_id, seq, role, text, job_id, client, employee)
    VALUES (NEW.thread_id, v_last - 1, 'user', NEW.prompt, NEW.id, v_client, NULL),
           (NEW.thread_id, v_last, 'assistant', coalesce(NEW.output, ''), NEW.id, v_client,
            NEW.employee);
    PERFORM audit_append(
        'worker:' || coalesce(OLD.lease_owner, 'unknown'), 'thread.appended',
        NEW.thread_id::text,
        jsonb_build_object('job', NEW.id::text, 'client', v_client, 'employee', NEW.employee,
                           'seq', jsonb_build_array(v_last - 1, v_last)));
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_thread_answer AFTER UPDATE OF status ON jobs
    FOR EACH ROW
    WHEN (NEW.thread_id IS NOT NULL AND NEW.status = 'succeeded'
          AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION thread_record_answer();

-- The employee's context window in tokens: a thread's history is cut to fit it (with the
-- output cap reserved). Part of the roster, so changing it bumps `roster_version`
-- (migration 010 compares whole rows).
ALTER TABLE employees ADD COLUMN context_tokens integer NOT NULL DEFAULT 8192
    CHECK (context_tokens BETWEEN 256 AND 10000000);
