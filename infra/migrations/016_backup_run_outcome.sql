-- A scheduled backup's claim records how it ended, so a failed one is retried instead of
-- blocking the day: `done_at` once the dump and its anchor are written, `failed_at` when
-- pg_dump failed. A claim with neither, older than an hour, is a worker that died mid-dump.
ALTER TABLE backup_runs
    ADD COLUMN done_at   timestamptz,
    ADD COLUMN failed_at timestamptz,
    ADD COLUMN attempts  integer NOT NULL DEFAULT 1;
