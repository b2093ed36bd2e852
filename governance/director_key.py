"""The Director key's record in the database, for verbs that act as the Director without the API.

The API holds the key in memory and compares what a caller presents (`director_key_matches`).
`aura retention prune --yes` runs on the database directly, where a process with only the
database's credentials (the worker's container) could otherwise call itself the Director; it
checks the key it was given against this record instead. The record is a salted scrypt digest:
a key the Director chose may be guessable, and the database must not help anyone guess it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from orchestra.hooks import AuditTrail
from orchestra.store.db import Connection
from orchestra.store.queries import load

_Q = load("director_key")
_SCHEME = "scrypt"
# scrypt's interactive-login cost (RFC 7914 §2): tens of milliseconds, once per start or verb.
_N, _R, _P = 2**14, 8, 1


def _derive(key: str, salt: bytes) -> bytes:
    return hashlib.scrypt(key.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)


def digest(key: str) -> str:
    salt = secrets.token_bytes(16)
    return f"{_SCHEME}${salt.hex()}${_derive(key, salt).hex()}"


def matches(key: str, recorded: str) -> bool:
    scheme, _, rest = recorded.partition("$")
    salt, _, expected = rest.partition("$")
    if scheme != _SCHEME or not salt or not expected:
        return False
    return hmac.compare_digest(_derive(key, bytes.fromhex(salt)).hex(), expected)


async def record(conn: Connection, key: str, audit: AuditTrail) -> bool:
    """Record `key` as the Director key unless the record already matches it (a restart);
    True when written, audited in the caller's transaction."""
    current = await conn.fetchval(_Q["read_director_key"])
    if current is not None and matches(key, current):
        return False
    await conn.execute(_Q["write_director_key"], digest(key))
    await audit.record(conn, actor="system:api", action="director_key.recorded",
                       subject="director_key_record")
    return True


async def verified(conn: Connection, presented: str) -> bool | None:
    """Whether `presented` is the recorded Director key; None when none is recorded."""
    current = await conn.fetchval(_Q["read_director_key"])
    return None if current is None else matches(presented, current)
