-- A client reads its own audit entries (MCP `audit_log`), newest first, by actor.
CREATE INDEX audit_log_actor ON audit_log (actor, seq DESC);
