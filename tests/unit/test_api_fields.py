"""The API's wire types (`mcp_server/api/fields.py`) restate the core's rules so that the CLI can
import them without the server; these tests hold the two copies equal."""

from __future__ import annotations

import subprocess
import sys
import typing
from decimal import Decimal
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from governance import access, auditor, budgets
from mcp_server.api import fields
from mcp_server.api import models as api_models
from orchestra import inputs, models, queue, roster
from tools import inputs as tool_inputs

NUL = "\x00"
VALUES: list[Any] = [
    "llama", "Bad Name", "", "a" * 64, f"a{NUL}", "a\nb", "a\tb", "\ud800", "x" * 100, 5, 1.5,
    None, True, ["a"], {"a": 1}, Decimal("1e400"), "0.15", "-1", "1e30", "0.0000001", "NaN",
    "Infinity", "1000000", 1_000_001, "cheap", 0, "OPENAI_API_KEY", "sk-abc123!", "A" * 129,
    "http://127.0.0.1:1234/v1", 4096,
]


def test_the_constants_are_the_cores() -> None:
    assert fields.EMPLOYEE_NAME_PATTERN == roster.NAME_PATTERN
    assert fields.ENV_NAME_PATTERN == roster.ENV_NAME_PATTERN
    assert fields.TOKEN_NAME_PATTERN == access.TOKEN_NAME_PATTERN
    for name in ("MAX_MODEL_CHARS", "MAX_URL_CHARS", "MAX_ENV_NAME_CHARS", "MAX_COMMAND_PARTS",
                 "MAX_COMMAND_PART_CHARS", "MAX_SKILLS", "MAX_SKILL_CHARS"):
        assert getattr(fields, name) == getattr(roster, name), name
    assert (fields.MAX_PRICE, fields.PRICE_PLACES) == (inputs.MAX_PRICE, inputs.PRICE_PLACES)
    assert fields.MAX_COMMAND_PART_CHARS == queue.MAX_COMMAND_CHARS
    assert (fields.MAX_USD, fields.USD_PLACES) == (inputs.MAX_USD, inputs.USD_PLACES)
    assert fields.BUDGET_NAME_PATTERN == budgets.BUDGET_NAME_PATTERN
    assert fields.MAX_OUTPUT_TOKENS == roster.MAX_OUTPUT_TOKENS
    assert api_models.DEFAULT_OUTPUT_TOKENS == roster.DEFAULT_OUTPUT_TOKENS


@pytest.mark.parametrize("literal, enum_values", [
    (fields.JobStatusName, {s.value for s in models.JobStatus}),
    (fields.JobKindName, {k.value for k in models.JobKind}),
    (fields.AdapterName, {a.value for a in models.Adapter}),
    (fields.EmployeeStatusName, {s.value for s in models.EmployeeStatus}),
    (fields.SlotStateName, {s.value for s in models.SlotState}),
    (fields.BreakKindName, set(typing.get_args(auditor.BreakKind))),
    (fields.BudgetScopeName, set(budgets.SCOPES)),
])
def test_the_wire_names_are_the_core_enums(literal: Any, enum_values: set[str]) -> None:
    assert set(typing.get_args(literal)) == enum_values


def _outcome(call: Any, value: Any) -> tuple[str, Any]:
    try:
        return "ok", call(value)
    except (ValueError, ValidationError) as exc:
        if isinstance(exc, ValidationError):
            return "refused", [(e["type"], e["msg"]) for e in exc.errors(include_url=False)]
        return "refused", str(exc)


@pytest.mark.parametrize("value", VALUES)
def test_the_rules_answer_as_the_cores_do(value: Any) -> None:
    if isinstance(value, str):
        for free in (True, False):
            assert fields.bad_character(value, free_text=free) == inputs.bad_character(
                value, free_text=free)
    assert fields.describe(value) == inputs.describe(value)
    assert _outcome(fields.parse_price, value) == _outcome(inputs.parse_price, value)
    assert _outcome(fields.parse_usd, value) == _outcome(inputs.parse_usd, value)


@pytest.mark.parametrize("ours, theirs", [
    (fields.EmployeeName, tool_inputs.EmployeeName),
    (fields.FreeText, tool_inputs.FreeText),
    (fields.Line, tool_inputs.Line),
    (fields.Price, tool_inputs.Price),
    (fields.Usd, tool_inputs.Usd),
    # A hire's fields, which `propose_employee` takes as the Director's hire does.
    (fields.ModelTag, tool_inputs.ModelTag),
    (fields.Url, tool_inputs.Url),
    (fields.EnvName, tool_inputs.EnvName),
    (api_models.OutputCap, tool_inputs.OutputCap),
])
def test_the_checked_types_refuse_as_the_tools_do(ours: Any, theirs: Any) -> None:
    mine: TypeAdapter[Any] = TypeAdapter(ours)
    tools: TypeAdapter[Any] = TypeAdapter(theirs)
    for value in VALUES:
        assert _outcome(mine.validate_python, value) == _outcome(tools.validate_python, value)
    assert mine.json_schema() == tools.json_schema()


def test_the_models_and_the_cli_import_no_server() -> None:
    """What the CLI loads for its API verbs: no server module, no database driver."""
    code = (
        "import sys, mcp_server.api.models, mcp_server.cli.app\n"
        "server = ('governance', 'tools', 'starlette', 'asyncpg', 'mcp_server.api.app',"
        " 'mcp_server.api.routing', 'mcp_server.app')\n"
        "print(sorted(m for m in sys.modules if m.startswith(server)))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == "[]"
