-- admit_call --
-- See `admit_call()` in migration 006: a reservation id, a refusal's figures, or no row when
-- the lease is gone.
SELECT * FROM admit_call($1, $2, $3, $4, $5);

-- settle_call --
-- The call's actual charge closes its reservation ($7; NULL for a call made without one). A
-- reservation already released (its lease ended meanwhile) is not closed twice: the charge
-- is still recorded, without the link.
WITH closed AS (
    DELETE FROM reservations WHERE id = $7 RETURNING id
)
INSERT INTO ledger (job_id, employee, kind, tokens_in, tokens_out, cost, latency_ms,
                    reservation_id)
VALUES ($1, $2, 'call', $3, $4, $5, $6, (SELECT id FROM closed))
RETURNING id;

-- list_entries --
SELECT id, ts, job_id, employee, kind, tokens_in, tokens_out, cost, latency_ms, reservation_id
FROM ledger ORDER BY id DESC LIMIT $1;
