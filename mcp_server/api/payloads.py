"""Request bodies, query strings and path parameters, refused at the edge when malformed.

A body is read up to `MAX_BODY_BYTES` (413 beyond), its nesting depth is checked without
recursion (the json module raises `RecursionError` on a body nested 100,000 deep), it is parsed
as strict JSON (no NaN or Infinity; fractions as `Decimal`, never float) and validated into a
strict pydantic model (`mcp_server.api.models`). Every refusal is an `InvalidInput` that names
the field.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request

from mcp_server.api.models import Query, StrictBody
from orchestra.errors import InvalidInput
from orchestra.inputs import describe
from tools.inputs import FieldError, InvalidFields, invalid_fields

# Our bodies are a few hundred bytes; a MiB leaves room for long commands and skill lists.
MAX_BODY_BYTES = 1 << 20
# Our bodies nest two deep (an object holding a list); 32 leaves room and bounds the parser.
MAX_JSON_DEPTH = 32

# One token at a time, never backtracking: an escaped character, a quote or a bracket. Whether
# a bracket is inside a string is decided by counting quotes (a string's brackets nest nothing).
_TOKEN = re.compile(rb'\\.|["\[\]{}]', re.DOTALL)


B = TypeVar("B", bound=StrictBody)
Q = TypeVar("Q", bound=Query)
T = TypeVar("T")


async def read_body(request: Request, model: type[B]) -> B:
    """The request's JSON object body as `model`, or a 400/413 problem saying what is wrong."""
    data = parse_json(await _read_limited(request))
    if not isinstance(data, dict):
        raise InvalidInput(f"the request body must be a JSON object, not {describe(data)}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_fields(exc, model.hints) from None


def read_query(request: Request, model: type[Q]) -> Q:
    items = request.query_params.multi_items()
    names = [name for name, _ in items]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InvalidFields(FieldError(name, "is given more than once") for name in repeated)
    try:
        return model.model_validate(dict(items))
    except ValidationError as exc:
        raise invalid_fields(exc) from None


def read_path(request: Request, name: str, adapter: TypeAdapter[T]) -> T:
    try:
        return adapter.validate_python(request.path_params[name])
    except ValidationError as exc:
        raise invalid_fields(exc, field=name) from None


async def _read_limited(request: Request) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed `MAX_BODY_BYTES`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _too_large()
    return bytes(body)


def _too_large() -> HTTPException:
    return HTTPException(413, f"the request body is larger than {MAX_BODY_BYTES} bytes (1 MiB)")


def parse_json(raw: bytes) -> Any:
    if not raw.strip():
        raise InvalidInput("the request body is empty; send a JSON object")
    _check_depth(raw)
    try:
        return json.loads(
            raw.decode("utf-8"), parse_float=Decimal, parse_int=_integer, parse_constant=_refuse
        )
    except UnicodeDecodeError:
        raise InvalidInput("the request body is not UTF-8 text") from None
    except ValueError:  # JSONDecodeError, NaN or Infinity
        raise InvalidInput("the request body is not valid JSON") from None


def _integer(digits: str) -> int | Decimal:
    # int() refuses over 4300 digits with a ValueError that would read as "not JSON"; as a
    # Decimal the huge number reaches its field, which can say what is wrong with it.
    return int(digits) if len(digits) <= 40 else Decimal(digits)


def _refuse(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _check_depth(raw: bytes) -> None:
    """Refuse nesting deeper than `MAX_JSON_DEPTH`, counting brackets outside strings.

    A loop, not a recursive descent, so any depth costs one pass and no stack.
    """
    if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:
        return  # cannot nest that deep: nearly every real body
    depth = 0
    in_string = False
    for token in _TOKEN.finditer(raw):
        mark = token.group()
        if mark == b'"':
            in_string = not in_string
        elif in_string or len(mark) == 2:
            continue  # a bracket inside a string, or an escaped character
        elif mark in (b"[", b"{"):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise InvalidInput(
                    f"the request body is nested deeper than {MAX_JSON_DEPTH} levels"
                )
        elif mark in (b"]", b"}"):
            depth -= 1
