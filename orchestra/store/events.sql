-- events_after --
-- The next events after id $1, oldest first, at most $2 of them (migration 008: ids are
-- gap-free and in commit order, so this misses nothing that a later read could find).
SELECT id, ts, kind, subject, status, data FROM events
WHERE id > $1 ORDER BY id LIMIT $2;

-- events_window --
-- The newest id, and the oldest id still kept (the newest + 1 when the table is empty).
SELECT h.seq AS newest,
       coalesce((SELECT min(e.id) FROM events e), h.seq + 1) AS oldest
FROM events_head h;

-- prune_events --
SELECT prune_events(make_interval(secs => $1), $2);

-- events_recent --
-- The newest $1 events, newest first (a live view's starting picture; it then follows from
-- the first of them with Last-Event-ID).
SELECT id, ts, kind, subject, status, data FROM events ORDER BY id DESC LIMIT $1;

-- events_of_subject --
-- One object's kept events, oldest first: a job's status history. At most $3 rows.
SELECT id, ts, kind, subject, status, data FROM events
WHERE kind = $1 AND subject = $2 ORDER BY id LIMIT $3;
