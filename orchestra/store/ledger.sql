-- insert_call --
INSERT INTO ledger (job_id, employee, kind, tokens_in, tokens_out, cost, latency_ms)
VALUES ($1, $2, 'call', $3, $4, $5, $6)
RETURNING id;

-- list_entries --
SELECT id, ts, job_id, employee, kind, tokens_in, tokens_out, cost, latency_ms
FROM ledger ORDER BY id DESC LIMIT $1;
