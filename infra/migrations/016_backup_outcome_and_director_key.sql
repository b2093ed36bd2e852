-- A scheduled backup's claim records how it ended, so a failed one is retried instead of
-- blocking the day: `done_at` once the dump and its anchor are written, `failed_at` when
-- pg_dump failed. A claim with neither, older than an hour, is a worker that died mid-dump.
ALTER TABLE backup_runs
    ADD COLUMN done_at   timestamptz,
    ADD COLUMN failed_at timestamptz,
    ADD COLUMN attempts  integer NOT NULL DEFAULT 1;

-- What the API checks the Director key against, for the verbs that act as the Director on the
-- database directly (`aura retention prune --yes`): a salted scrypt digest (never the key),
-- written by the process that serves the API, the only one given the key. One row.
CREATE TABLE director_key_record (
    only_row    boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    digest      text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
