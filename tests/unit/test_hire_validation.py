"""`validate_hire` refuses wrong types and unstorable characters itself (the CLI, MCP and tests
reach it without the HTTP edge), naming the field."""

from __future__ import annotations

import typing
from decimal import Decimal
from typing import Any

import pytest

from mcp_server.api.models import NewEmployee
from orchestra.errors import InvalidInput
from orchestra.inputs import bad_character, describe, parse_price
from orchestra.models import Adapter
from orchestra.roster import HireRequest, validate_hire

NUL = "\x00"


def request(**fields: Any) -> HireRequest:
    base: dict[str, Any] = {"name": "llama", "adapter": "ollama", "model": "llama3.2:3b"}
    return HireRequest(**{**base, **fields})


@pytest.mark.parametrize("fields, message", [
    ({"name": 5}, "name must be a string, not the number 5"),
    ({"name": f"ll{NUL}"}, "name contains a NUL character"),
    ({"adapter": None}, "adapter must be a string, not null"),
    ({"model": ["m"]}, "model must be a string, not a list"),
    ({"model": f"m{NUL}"}, "model contains a NUL character (\\u0000), which cannot be stored"),
    ({"model": "m\n"}, "model contains a control character (\\u000a)"),
    ({"model": "m" * 201}, "model must be at most 200 characters"),
    ({"base_url": f"http://h{NUL}"}, "base_url contains a NUL"),
    ({"api_key_env": 3}, "api_key_env must be a string"),
    ({"network": "false"}, 'network must be true or false, not the string "false"'),
    ({"network": 1}, "network must be true or false, not the number 1"),
    ({"skills": "python"}, 'skills must be a list of strings, not the string "python"'),
    ({"skills": [1]}, "skills[0] must be a string, not the number 1"),
    ({"skills": ["a", f"b{NUL}"]}, "skills[1] contains a NUL"),
    ({"skills": [" "]}, "skills[0] must not be empty"),
    ({"skills": ["s"] * 33}, "skills must have at most 32 items"),
    ({"price_in": "1e30"}, "price_in must be at most 1000000"),
    ({"price_in": 1e30}, "price_in must be at most 1000000"),
    ({"price_out": True}, "price_out must be a number or a decimal string"),
    ({"price_out": "NaN"}, "price_out must be a non-negative number"),
    ({"price_out": "0.0000001"}, "price_out must have at most 6 decimal places"),
    ({"adapter": "cli", "model": None, "command": "agent {prompt}"},
     'a cli employee needs command: an argv list such as ["agent", "{prompt}"], not the '
     'string "agent {prompt}"'),
    ({"adapter": "cli", "model": None, "command": ["agent", 5]},
     "command[1] must be a non-empty string, not the number 5"),
    ({"adapter": "cli", "model": None, "command": ["agent", ""]},
     "command[1] must be a non-empty string"),
    ({"adapter": "cli", "model": None, "command": ["agent", f"{{prompt}}{NUL}"]},
     "command[1] contains a NUL character"),
    ({"adapter": "cli", "model": None, "command": ["x"] * 65},
     "command must have at most 64 items"),
])
def test_bad_hire_field_is_refused_by_name(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        validate_hire(request(**fields))
    assert message in str(refused.value)


def test_a_good_hire_keeps_its_values() -> None:
    employee = validate_hire(request(
        adapter="cli", model=None, command=["agent", "--flag\nvalue", "{prompt}"], network=True,
        skills=[" python ", "review"], price_in="0.15", price_out=Decimal("2")))
    assert employee.command == ("agent", "--flag\nvalue", "{prompt}")
    assert employee.network is True and employee.skills == ("python", "review")
    assert (employee.price_in, employee.price_out) == (Decimal("0.15"), Decimal(2))


@pytest.mark.parametrize("value, price", [
    (0, Decimal(0)), ("1000000", Decimal(1_000_000)), (0.1, Decimal("0.1")),
    ("0.100000000", Decimal("0.1")), (Decimal("1e3"), Decimal(1000)),
])
def test_prices_within_the_column_are_accepted(value: object, price: Decimal) -> None:
    assert parse_price(value) == price


def test_characters_that_cannot_be_stored_are_described() -> None:
    assert bad_character("a\tb", free_text=True) is None
    assert bad_character("a\tb") == "a control character (\\u0009)"
    assert bad_character("\ud800", free_text=True) is not None
    assert describe("x" * 100).endswith('"…') and describe(None) == "null"
    assert describe("\ud800") == 'the string "\\ud800"'


def test_the_api_offers_exactly_the_core_adapters() -> None:
    [offered, none] = typing.get_args(NewEmployee.model_fields["adapter"].annotation)
    assert none is type(None)  # optional: a preset's employee is a cli one
    assert set(typing.get_args(offered)) == {a.value for a in Adapter}
