"""The checked value types of the Director API's wire models: names, text, prices, job ids.

A leaf: pydantic and the standard library only, so the CLI and the console can import the API's
models without the server. The rules are the core's (`orchestra.inputs`, `orchestra.roster`,
`governance.access`, `tools.inputs`) restated here; `tests/unit/test_api_fields.py` holds the
two copies equal, value by value and message by message (docs/decisions.md, "The API's wire
models are a leaf").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    TypeAdapter,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

# orchestra.roster / governance.access: the database's CHECK patterns.
EMPLOYEE_NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
TOKEN_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
MAX_MODEL_CHARS = 200
MAX_URL_CHARS = 2048
MAX_ENV_NAME_CHARS = 128
MAX_COMMAND_PARTS = 64
MAX_COMMAND_PART_CHARS = 4_000
MAX_SKILLS = 32
MAX_SKILL_CHARS = 64
MAX_PAGE = 500
MAX_OUTPUT_TOKENS = 1_000_000
# An employee's context window (orchestra/roster.py's bounds).
MIN_CONTEXT_TOKENS = 256
MAX_CONTEXT_TOKENS = 10_000_000
# numeric(14, 6) columns: a million USD per million tokens is far above any real price.
MAX_PRICE = Decimal(1_000_000)
PRICE_PLACES = 6
# numeric(14, 8) columns: amounts of money (a budget's limit).
MAX_USD = Decimal(999_999)
USD_PLACES = 8
BUDGET_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"

# The core's enums, as the wire spells them (orchestra.models).
JobStatusName = Literal["pending_approval", "queued", "running", "validating", "succeeded",
                        "failed", "cancelled", "rejected"]
JobKindName = Literal["task", "ask"]
AdapterName = Literal["ollama", "openai", "gemini", "cli"]
EmployeeStatusName = Literal["probation", "active", "suspended", "terminated"]
SlotStateName = Literal["empty", "idle", "busy", "loading"]
BreakKindName = Literal["gap", "link", "content", "head_mismatch"]
LedgerKindName = Literal["call", "reservation", "release"]
PricingName = Literal["reported", "estimated", "unpriced", "worst_case"]
PresetName = Literal["claude-code", "codex", "gemini-cli", "aider", "opencode"]
BudgetScopeName = Literal["global", "employee"]
ApprovalStatusName = Literal["pending", "approved", "denied", "expired"]

# Free text (commands) may hold tabs and newlines; NUL and lone surrogates never.
_NOT_IN_FREE_TEXT = re.compile("[\x00\ud800-\udfff]")
# A single-line value (a name, a path, a model tag) holds no control character at all.
_NOT_IN_LINE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
# What the JSON schema says about characters; `CleanText` checks more (lone surrogates too).
_FREE_TEXT_PATTERN = r"^[^\u0000]*$"
_LINE_PATTERN = r"^[^\u0000-\u001f\u007f]*$"
_QUOTE_CHARS = 40
_NOT_A_PRICE = 'must be a number or a decimal string such as "0.15", not {}'


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
    """A wrong value named by its JSON type, quoting a short string or number."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        text = str(value)
        return f"the number {text[:_QUOTE_CHARS]}" + ("…" if len(text) > _QUOTE_CHARS else "")
    if isinstance(value, str):
        # json.dumps escapes control characters and lone surrogates: the message stays sendable.
        quoted = json.dumps(value[:_QUOTE_CHARS])
        return f"the string {quoted}" + ("…" if len(value) > _QUOTE_CHARS else "")
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a value of type {type(value).__name__}"


def parse_price(value: object) -> Decimal:
    """A price from a JSON number or a decimal string; `ValueError` says what is wrong."""
    return _parse_amount(value, MAX_PRICE, PRICE_PLACES)


def parse_usd(value: object) -> Decimal:
    """An amount of money, like `parse_price`."""
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


@dataclass(frozen=True, slots=True)
class CleanText:
    """A string rule for pydantic: no NUL or unpaired surrogate, and in a single-line value
    (`free_text=False`) no control character; optionally a pattern, with the `rule` it stands
    for in words ("must be …"), which is what a refusal says."""

    free_text: bool = False
    pattern: str | None = None
    rule: str = "must match the pattern in the schema"

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        default = _FREE_TEXT_PATTERN if self.free_text else _LINE_PATTERN
        json_schema["pattern"] = self.pattern or default
        return json_schema

    def _check(self, value: str) -> str:
        bad = bad_character(value, free_text=self.free_text)
        if bad is not None:
            raise PydanticCustomError("bad_character", "contains {bad}", {"bad": bad})
        if self.pattern is not None and not re.match(self.pattern, value):
            raise PydanticCustomError("pattern", self.rule)
        return value


def _price(value: object) -> Decimal:
    try:
        return parse_price(value)
    except ValueError as exc:
        raise PydanticCustomError("price", str(exc)) from None


def _usd(value: object) -> Decimal:
    try:
        return parse_usd(value)
    except ValueError as exc:
        raise PydanticCustomError("usd", str(exc)) from None


FreeText = Annotated[str, CleanText(free_text=True)]
Line = Annotated[str, CleanText()]
EmployeeName = Annotated[str, CleanText(
    pattern=EMPLOYEE_NAME_PATTERN,
    rule="must be 1-63 characters of a-z, 0-9, '_', '.', '-', starting with a letter or digit",
)]
TokenName = Annotated[str, CleanText(
    pattern=TOKEN_NAME_PATTERN,
    rule="must be 1-63 characters of letters, digits, '_', '.', '-', "
    "starting with a letter or digit",
)]
EnvName = Annotated[str, Field(max_length=MAX_ENV_NAME_CHARS), CleanText(
    pattern=ENV_NAME_PATTERN, rule="must name an environment variable, not hold a key",
)]
ModelTag = Annotated[Line, Field(min_length=1, max_length=MAX_MODEL_CHARS)]
Url = Annotated[Line, Field(min_length=1, max_length=MAX_URL_CHARS)]
# An argument may span lines; NUL is what neither an argv nor the database can hold.
CommandPart = Annotated[FreeText, Field(min_length=1, max_length=MAX_COMMAND_PART_CHARS)]
Skill = Annotated[Line, Field(min_length=1, max_length=MAX_SKILL_CHARS)]
Commands = Annotated[list[CommandPart], Field(min_length=1, max_length=MAX_COMMAND_PARTS)]
Skills = Annotated[list[Skill], Field(max_length=MAX_SKILLS)]
# A whole job id, or its first hex digits as listings show them; `JobQueue.resolve` decides.
JobRef = Annotated[str, CleanText(
    pattern=r"^[0-9a-fA-F-]{4,36}$",
    rule="must be a job id (a UUID) or at least its first 4 hex digits, such as 8fe6d434",
)]
# An approval id, or its first hex digits (`governance.approvals` resolves a prefix).
ApprovalRef = Annotated[str, CleanText(
    pattern=r"^[0-9a-fA-F-]{4,36}$",
    rule="must be an approval id (a UUID) or at least its first 4 hex digits",
)]
# The Director's note on a decision: free text, returned to the caller as data.
Note = Annotated[FreeText, Field(min_length=1, max_length=2_000)]
# USD per million tokens: a JSON number or a decimal string; never a float inside.
Price = Annotated[Decimal, BeforeValidator(_price), WithJsonSchema({"anyOf": [
    {"type": "number", "minimum": 0, "maximum": int(MAX_PRICE)},
    {"type": "string", "pattern": r"^[0-9]{1,7}(\.[0-9]{1,6})?$"},
]})]
# An amount in USD (a budget's limit), the same way.
Usd = Annotated[Decimal, BeforeValidator(_usd), WithJsonSchema({"anyOf": [
    {"type": "number", "minimum": 0, "maximum": int(MAX_USD)},
    {"type": "string", "pattern": r"^[0-9]{1,6}(\.[0-9]{1,8})?$"},
]})]
BudgetName = Annotated[str, CleanText(
    pattern=BUDGET_NAME_PATTERN,
    rule="must be 1-63 characters of letters, digits, '_', '.', '-', "
    "starting with a letter or digit",
)]
JobId = Annotated[str, CleanText(
    pattern=UUID_PATTERN,
    rule="must be a job id: a UUID such as 0b5c4f9e-3f1a-4d2b-9c8e-1a2b3c4d5e6f",
)]
Cursor = Annotated[str, CleanText(
    pattern=r"^[0-9]{1,18}$", rule="must be the next_cursor of a previous page")]
# Money in answers: USD as a decimal string, exact (DESIGN §10), e.g. "0.001250".
Money = Annotated[str, Field(description="USD as a decimal string", examples=["0.001250"])]

# Path parameters, checked the same way as body fields.
JOB_REF: TypeAdapter[str] = TypeAdapter(JobRef)
THREAD_ID: TypeAdapter[str] = TypeAdapter(Annotated[str, CleanText(
    pattern=UUID_PATTERN,
    rule="must be a thread id: a UUID such as 0b5c4f9e-3f1a-4d2b-9c8e-1a2b3c4d5e6f",
)])
EMPLOYEE_NAME: TypeAdapter[str] = TypeAdapter(EmployeeName)
TOKEN_NAME: TypeAdapter[str] = TypeAdapter(TokenName)
BUDGET_NAME: TypeAdapter[str] = TypeAdapter(BudgetName)
APPROVAL_REF: TypeAdapter[str] = TypeAdapter(ApprovalRef)
