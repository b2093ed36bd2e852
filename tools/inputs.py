"""What a caller may send, as pydantic types, and how a refusal is worded.

Both edges use these: the MCP tools declare their arguments with them (the JSON schema then
shows each constraint), and the HTTP API builds its request models from them. A refusal names
each field and says what was wrong with it, in words a model or a person can act on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationError,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import ErrorDetails, PydanticCustomError, core_schema

from orchestra.errors import InvalidInput
from orchestra.inputs import MAX_PRICE, MAX_USD, bad_character, describe, parse_price, parse_usd
from orchestra.queue import MAX_COMMAND_CHARS, MAX_JOB_SKILLS, MAX_PROMPT_CHARS
from orchestra.roster import (
    ENV_NAME_PATTERN,
    MAX_ENV_NAME_CHARS,
    MAX_MODEL_CHARS,
    MAX_OUTPUT_TOKENS,
    MAX_SKILL_CHARS,
    MAX_URL_CHARS,
    NAME_PATTERN,
)

# What the JSON schema says about characters; `CleanText` checks more (lone surrogates too).
_FREE_TEXT_PATTERN = r"^[^\u0000]*$"
_LINE_PATTERN = r"^[^\u0000-\u001f\u007f]*$"
UUID_PATTERN = r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$"

MAX_KEY_CHARS = 200  # the queue refuses longer idempotency keys
MAX_PATH_CHARS = 4096  # PATH_MAX on Linux


@dataclass(frozen=True, slots=True)
class CleanText:
    """A string rule for pydantic: no NUL or unpaired surrogate, and in a single-line value
    (`free_text=False`) no control character; optionally a pattern, with the `rule` it stands
    for in words ("must be …"), which is what a refusal says."""

    free_text: bool = False
    pattern: str | None = None
    rule: str = "must match the pattern in the schema"  # what `pattern` means, in words

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
Prompt = Annotated[FreeText, Field(min_length=1, max_length=MAX_PROMPT_CHARS)]
Command = Annotated[FreeText, Field(min_length=1, max_length=MAX_COMMAND_CHARS)]
EmployeeName = Annotated[str, CleanText(
    pattern=NAME_PATTERN,
    rule="must be 1-63 characters of a-z, 0-9, '_', '.', '-', starting with a letter or digit",
)]
JobId = Annotated[str, CleanText(
    pattern=UUID_PATTERN,
    rule="must be a job id: a UUID such as 0b5c4f9e-3f1a-4d2b-9c8e-1a2b3c4d5e6f",
)]
IdempotencyKey = Annotated[Line, Field(min_length=1, max_length=MAX_KEY_CHARS)]
# What a hire names: the model, the provider's URL, the variable holding its key (never the
# key), and the output cap sent with every call.
ModelTag = Annotated[Line, Field(min_length=1, max_length=MAX_MODEL_CHARS)]
Url = Annotated[Line, Field(min_length=1, max_length=MAX_URL_CHARS)]
EnvName = Annotated[str, Field(max_length=MAX_ENV_NAME_CHARS), CleanText(
    pattern=ENV_NAME_PATTERN, rule="must name an environment variable, not hold a key",
)]
OutputCap = Annotated[int, Field(ge=1, le=MAX_OUTPUT_TOKENS)]
Skill = Annotated[Line, Field(min_length=1, max_length=MAX_SKILL_CHARS)]
# What a job asks of the employee the manager picks for it (an empty list asks nothing).
JobSkills = Annotated[list[Skill], Field(max_length=MAX_JOB_SKILLS)]
ProjectPath = Annotated[Line, Field(min_length=1, max_length=MAX_PATH_CHARS)]
# USD per million tokens: a JSON number or a decimal string; never a float inside.
Price = Annotated[Decimal, BeforeValidator(_price), WithJsonSchema({"anyOf": [
    {"type": "number", "minimum": 0, "maximum": int(MAX_PRICE)},
    {"type": "string", "pattern": r"^[0-9]{1,7}(\.[0-9]{1,6})?$"},
]})]
# An amount in USD (a job's ceiling), the same way.
Usd = Annotated[Decimal, BeforeValidator(_usd), WithJsonSchema({"anyOf": [
    {"type": "number", "minimum": 0, "maximum": int(MAX_USD)},
    {"type": "string", "pattern": r"^[0-9]{1,6}(\.[0-9]{1,8})?$"},
]})]


@dataclass(frozen=True, slots=True)
class FieldError:
    """One refused field: where it is (`command[1]`) and what was wrong ("must not be empty")."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field} {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class InvalidFields(InvalidInput):
    """Input refused field by field; the message names every field, `errors` lists them."""

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(str(e) for e in self.errors))


def invalid_fields(
    exc: ValidationError, hints: Mapping[str, str] | None = None, *, field: str | None = None
) -> InvalidFields:
    """pydantic's errors in our words. `hints` add a field's expected shape to its errors;
    `field` names the value when `exc` came from validating a single value, not a model."""
    errors = []
    for error in exc.errors(include_url=False):
        loc = (field, *error["loc"]) if field is not None else error["loc"]
        message = _message(error)
        hint = (hints or {}).get(str(loc[0]) if loc else "")
        errors.append(FieldError(_location(loc), f"{message} ({hint})" if hint else message))
    return InvalidFields(errors)


def _location(loc: tuple[int | str, ...]) -> str:
    if not loc:
        return "the request body"
    text = _printable(str(loc[0]))
    for part in loc[1:]:
        text += f"[{part}]" if isinstance(part, int) else f".{_printable(part)}"
    return text


def _printable(name: str) -> str:
    """An unknown field's name is the caller's text: escaped and cut before it is echoed."""
    shown = name if name.isprintable() else json.dumps(name)[1:-1]
    return shown if len(shown) <= 64 else shown[:64] + "…"


_TYPE_WORDS = {
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "decimal_type": "a number",
    "list_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
    "uuid_type": "a UUID",
    "uuid_parsing": "a UUID",
}


def _message(error: ErrorDetails) -> str:
    """A predicate for the field's name: "must be true or false, not the string "false"."."""
    kind, ctx, given = error["type"], error.get("ctx") or {}, error.get("input")
    if kind in _TYPE_WORDS:
        return f"must be {_TYPE_WORDS[kind]}, not {describe(given)}"
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is an unknown field"
    if kind in ("string_too_short", "too_short", "string_too_long", "too_long"):
        return _length_message(kind, ctx, given)
    bounds = {"greater_than_equal": ("at least", "ge"), "less_than_equal": ("at most", "le"),
              "greater_than": ("more than", "gt"), "less_than": ("less than", "lt")}
    if kind in bounds:
        words, key = bounds[kind]
        return f"must be {words} {ctx.get(key)}, not {describe(given)}"
    if kind in ("literal_error", "enum"):
        return f"must be one of {ctx.get('expected')}, not {describe(given)}"
    # Our own errors (`CleanText`, prices) are already written as predicates.
    message = error["msg"]
    return message[:1].lower() + message[1:]


def _length_message(kind: str, ctx: Mapping[str, Any], given: object) -> str:
    # A length rule on a checked string is reported as `too_long`, like a list's.
    text = isinstance(given, str)
    verb, unit = ("must be", "characters") if text else ("must have", "items")
    if kind.endswith("too_long"):
        return f"{verb} at most {ctx.get('max_length')} {unit}"
    least = ctx.get("min_length")
    return "must not be empty" if least == 1 else f"{verb} at least {least} {unit}"
