"""Who may call: MCP client tokens (stored hashed) and the Director key."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from orchestra.errors import Conflict, InvalidInput, NotFound
from orchestra.hooks import AuditTrail
from orchestra.store.db import Database
from orchestra.store.queries import load

_T = load("tokens")
# The `api_tokens` table's CHECK constraint (migration 001).
TOKEN_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
_NAME = re.compile(TOKEN_NAME_PATTERN)
TOKEN_PREFIX = "aura_mcp_"


def hash_token(token: str) -> str:
    # Tokens are 256 random bits, so a fast hash is enough; nothing to brute-force.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedToken:
    name: str
    token: str  # shown once, never stored


class TokenRegistry:
    """Creates, verifies, lists and revokes MCP client tokens.

    Verification results are cached for `cache_seconds` so a tool call does not pay a database
    round trip for its credentials; a revocation takes effect within that time.
    """

    def __init__(self, db: Database, audit: AuditTrail, *, cache_seconds: float = 10.0) -> None:
        self.db = db
        self.audit = audit
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[str | None, float]] = {}

    async def create(self, name: str, *, actor: str) -> IssuedToken:
        if not _NAME.match(name or ""):
            raise InvalidInput(
                "token name must be 1-63 characters of letters, digits, '_', '.', '-'"
            )
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        async with self.db.transaction() as conn:
            row = await conn.fetchrow(_T["insert_token"], name, hash_token(token))
            if row is None:
                raise Conflict(
                    f"a token named {name!r} already exists; revoke it first "
                    "(the name can then be used again) or choose another name"
                )
            await self.audit.record(conn, actor=actor, action="token.created", subject=name)
        return IssuedToken(name, token)

    async def verify(self, token: str) -> str | None:
        """The token's name, or None when it is unknown or revoked."""
        digest = hash_token(token)
        cached = self._cache.get(digest)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        async with self.db.connection() as conn:
            name = await conn.fetchval(_T["find_token"], digest)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (name, now + self.cache_seconds)
        return name  # type: ignore[no-any-return]

    async def list_tokens(self) -> list[dict[str, Any]]:
        async with self.db.connection() as conn:
            rows = await conn.fetch(_T["list_tokens"])
        return [
            {"name": r["name"], "created_at": r["created_at"].isoformat(),
             "revoked_at": r["revoked_at"].isoformat() if r["revoked_at"] else None}
            for r in rows
        ]

    async def revoke(self, name: str, *, actor: str) -> None:
        async with self.db.transaction() as conn:
            row = await conn.fetchrow(_T["revoke_token"], name)
            if row is None:
                raise NotFound(f"no active token named {name!r}")
            await self.audit.record(conn, actor=actor, action="token.revoked", subject=name)
        self._cache.clear()


def director_key_matches(presented: str, expected: str) -> bool:
    return hmac.compare_digest(presented.encode(), expected.encode())
