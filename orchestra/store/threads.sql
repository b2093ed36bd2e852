-- get_thread --
SELECT * FROM threads WHERE id = $1;

-- list_threads --
-- Newest first; $2/$3 (created_at, id) of the last thread of the previous page, if any.
-- Started, not last active: a thread that gets a message does not move between pages.
SELECT * FROM threads
WHERE ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3::uuid))
ORDER BY created_at DESC, id DESC LIMIT $1;

-- thread_messages --
-- A thread's messages, oldest first.
SELECT * FROM thread_messages WHERE thread_id = $1 ORDER BY seq;
