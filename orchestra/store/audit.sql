-- advance_head --
-- Takes the head's row lock for the rest of the transaction: one appender at a time, no gaps.
UPDATE audit_head SET seq = seq + 1
RETURNING seq, hash;

-- append_entry --
WITH entry AS (
    INSERT INTO audit_log (seq, ts, actor, action, subject, details, prev_hash, hash)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
)
UPDATE audit_head SET hash = $8;

-- read_head --
SELECT seq, hash FROM audit_head;

-- read_entries --
SELECT seq, ts, actor, action, subject, details, prev_hash, hash
FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2;

-- tail --
SELECT seq, ts, actor, action, subject, details, hash
FROM audit_log ORDER BY seq DESC LIMIT $1;
