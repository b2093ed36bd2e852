-- Coding-agent presets (DESIGN §10) and how each charge was priced.
--
-- An employee hired with `--preset` remembers it: the worker reads the agent's stdout with that
-- preset's parser. The column is part of the row, so `roster_version` (migration 010, which
-- compares whole rows) moves when it does.
ALTER TABLE employees
    ADD COLUMN preset text CHECK (preset IN ('claude-code', 'codex', 'gemini-cli', 'aider',
                                             'opencode')),
    ADD CONSTRAINT employees_preset_is_cli CHECK (preset IS NULL OR adapter = 'cli');

-- How a charge was priced: 'reported' (the agent's own cost), 'estimated' (its tokens at the
-- employee's rate card), 'unpriced' (no cost can be derived: cost is NULL, never 0) or
-- 'worst_case' (an unmetered call, charged what was reserved for it). Reservations and
-- releases carry none. The ledger is append-only, so the charges written before this migration
-- keep NULL (not known then); the constraint is NOT VALID so it holds for every new row only.
ALTER TABLE ledger
    ADD COLUMN pricing text CHECK (pricing IN ('reported', 'estimated', 'unpriced',
                                               'worst_case')),
    ALTER COLUMN cost DROP NOT NULL;
ALTER TABLE ledger
    ADD CONSTRAINT ledger_call_pricing CHECK ((kind = 'call') = (pricing IS NOT NULL)) NOT VALID,
    ADD CONSTRAINT ledger_unpriced_has_no_cost
        CHECK ((pricing = 'unpriced') = (cost IS NULL)) NOT VALID;

-- A job's unpriced calls: its `cost` holds what was priced; this says how much of its work
-- has no price, so a job's cost is never read as complete when it is not.
ALTER TABLE jobs ADD COLUMN unpriced_calls integer NOT NULL DEFAULT 0
    CHECK (unpriced_calls >= 0);
