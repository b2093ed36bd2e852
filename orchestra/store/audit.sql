-- append_entry --
SELECT audit_append($1, $2, $3, $4);

-- read_head --
SELECT seq, hash FROM audit_head;

-- read_entries --
-- details as text: the verifier hashes exactly what jsonb renders, not a Python re-encoding.
SELECT seq, ts, actor, action, subject, details::text AS details_text, prev_hash, hash
FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2;

-- append_entries --
-- Several entries in one round trip, in array order (unnest yields in order, and each
-- audit_append takes the head in turn).
SELECT audit_append(e.actor, e.action, e.subject, e.details)
FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[]) AS e(actor, action, subject, details);

-- entries_of_actor --
-- One actor's entries, newest first, before seq $2 when paging.
SELECT seq, ts, action, subject, details FROM audit_log
WHERE actor = $1 AND ($2::bigint IS NULL OR seq < $2)
ORDER BY seq DESC LIMIT $3;

-- tail --
-- The newest entries first, each filter optional: actor ($1), action ($2), subject ($3), and
-- seq below $4 when paging; $5 rows. An exact seq ($6) finds one entry (verify's first bad).
SELECT seq, ts, actor, action, subject, details FROM audit_log
WHERE ($1::text IS NULL OR actor = $1) AND ($2::text IS NULL OR action = $2)
  AND ($3::text IS NULL OR subject = $3) AND ($4::bigint IS NULL OR seq < $4)
  AND ($6::bigint IS NULL OR seq = $6)
ORDER BY seq DESC LIMIT $5;
