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
-- keep NULL (not known then); every charge the accountant writes names its pricing. Only an
-- unpriced charge may lack a cost, and it always does.
ALTER TABLE ledger
    ADD COLUMN pricing text CHECK (pricing IN ('reported', 'estimated', 'unpriced',
                                               'worst_case')),
    ALTER COLUMN cost DROP NOT NULL;
ALTER TABLE ledger
    ADD CONSTRAINT ledger_pricing_of_calls CHECK (pricing IS NULL OR kind = 'call'),
    ADD CONSTRAINT ledger_no_cost_only_unpriced
        CHECK ((cost IS NULL) = coalesce(pricing = 'unpriced', false));

-- A job's unpriced calls: its `cost` holds what was priced; this says how much of its work
-- has no price, so a job's cost is never read as complete when it is not.
ALTER TABLE jobs ADD COLUMN unpriced_calls integer NOT NULL DEFAULT 0
    CHECK (unpriced_calls >= 0);
