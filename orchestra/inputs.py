"""Rules for values a caller sends, shared by the core and its edges (HTTP, MCP, CLI).

PostgreSQL cannot store a NUL character in `text` or `jsonb`, and UTF-8 cannot encode an
unpaired surrogate, so either would fail deep in the database driver; names, keys and paths make
no sense with control characters in them. These checks let every layer refuse such input with
a message that names the field, instead of a driver error.
"""

from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal, InvalidOperation

from orchestra.errors import InvalidInput

# Free text (prompts, commands) may hold tabs and newlines; NUL and lone surrogates never.
_NOT_IN_FREE_TEXT = re.compile("[\x00\ud800-\udfff]")
# A single-line value (a name, a key, a path, a model tag) holds no control character at all.
_NOT_IN_LINE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")

# Prices are USD per million tokens in `numeric(14, 6)` columns. A million dollars per million
# tokens is far above any real price and far inside the column's 8 integer digits.
MAX_PRICE = Decimal(1_000_000)
PRICE_PLACES = 6
# Amounts of money (budget limits, a job's ceiling) are `numeric(14, 8)`.
MAX_USD = Decimal(999_999)
USD_PLACES = 8

_NOT_A_PRICE = 'must be a number or a decimal string such as "0.15", not {}'
_QUOTE_CHARS = 40


def bad_character(text: str, *, free_text: bool = False) -> str | None:
    """The first character `text` may not hold, described for a message; None when clean."""
    found = (_NOT_IN_FREE_TEXT if free_text else _NOT_IN_LINE).search(text)
    if found is None:
        return None
    char = found.group()
    code = f"\\u{ord(char):04x}"
    if char == "\x00":
        return f"a NUL character ({code}), which cannot be stored"
    if "\ud800" <= char <= "\udfff":
        return f"an unpaired surrogate ({code}), which is not valid Unicode"
    return f"a control character ({code})"


def describe(value: object) -> str:
    """A wrong value named for a message by its JSON type, quoting a short string or number."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        text = str(value)
        return f"the number {text[:_QUOTE_CHARS]}" + ("…" if len(text) > _QUOTE_CHARS else "")
    if isinstance(value, str):
        # json.dumps escapes control characters and lone surrogates (which no UTF-8 response
        # could carry), so the message stays printable and encodable.
        quoted = json.dumps(value[:_QUOTE_CHARS])
        return f"the string {quoted}" + ("…" if len(value) > _QUOTE_CHARS else "")
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a value of type {type(value).__name__}"


def parse_price(value: object) -> Decimal:
    """A price from a JSON number or a decimal string; `ValueError` says what is wrong.

    The message is a predicate ("must be …") for the caller to prefix with the field's name.
    """
    return _parse_amount(value, MAX_PRICE, PRICE_PLACES)


def parse_usd(value: object) -> Decimal:
    """An amount of money (a budget's limit, a job's max_cost_usd), like `parse_price`."""
    return _parse_amount(value, MAX_USD, USD_PLACES)


def _parse_amount(value: object, maximum: Decimal, places: int) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise ValueError(_NOT_A_PRICE.format(describe(value)))
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise ValueError(_NOT_A_PRICE.format(describe(value))) from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"must be a non-negative number, not {describe(value)}")
    if amount > maximum:
        raise ValueError(f"must be at most {maximum}, not {describe(value)}")
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -places:
        raise ValueError(f"must have at most {places} decimal places")
    return amount


def parse_id(value: uuid.UUID | str, what: str) -> uuid.UUID:
    """`value` as a UUID; `InvalidInput` naming `what` ("job id", "thread id") if it is none."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput(f"{what} {value!r} is not a UUID") from None
