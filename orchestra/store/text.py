"""Text made storable in PostgreSQL, which refuses NUL in text and jsonb and cannot encode an
unpaired surrogate (which a provider's JSON, say, may carry). Both become replacement
characters rather than failing the write of a whole job or batch."""

from __future__ import annotations

from typing import Any


def storable(text: str) -> str:
    clean = text.encode("utf-8", errors="replace").decode("utf-8")
    return clean.replace("\x00", "\ufffd")


def storable_json(value: Any) -> Any:
    """The same for every string, key and value of a JSON-like value."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable_json(k): storable_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable_json(v) for v in value]
    return value
