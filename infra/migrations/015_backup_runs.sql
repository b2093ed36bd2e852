-- Scheduled backups: one row per scheduled moment, claimed by the first worker to reach it,
-- so several workers (on several hosts) against one database take one backup, not one each.
CREATE TABLE backup_runs (
    due_at      timestamptz PRIMARY KEY,
    worker      text NOT NULL,
    claimed_at  timestamptz NOT NULL DEFAULT now()
);
