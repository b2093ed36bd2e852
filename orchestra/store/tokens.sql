-- insert_token --
-- No row back when a working token already has this name (a revoked one does not count).
INSERT INTO api_tokens (name, token_hash) VALUES ($1, $2)
ON CONFLICT (name) WHERE revoked_at IS NULL DO NOTHING
RETURNING name, created_at;

-- find_token --
SELECT name FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL;

-- list_tokens --
SELECT name, created_at, revoked_at FROM api_tokens ORDER BY created_at, id;

-- revoke_token --
UPDATE api_tokens SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL
RETURNING name, revoked_at;
