"""Bad MCP tool arguments: refused with a tool error naming the argument, nothing stored."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from mcp.client.client import Client
from mcp.server.mcpserver import MCPServer

from mcp_server.app import System
from tests.integration.helpers import hire

NUL = "\x00"


async def refusal(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    return " ".join(getattr(c, "text", "") for c in result.content)


async def job_count(system: System) -> int:
    async with system.db.connection() as conn:
        count: int = await conn.fetchval("SELECT count(*) FROM jobs")
    return count


@pytest.mark.parametrize("tool, arguments, named", [
    ("submit_job", {"prompt": f"fix{NUL}it"}, "prompt contains a NUL character"),
    ("submit_job", {"prompt": "x", "employee": f"llama{NUL}"}, "employee contains a NUL"),
    ("submit_job", {"prompt": "x", "idempotency_key": f"k{NUL}"},
     "idempotency_key contains a NUL"),
    ("submit_job", {"prompt": "x", "project": f"/work{NUL}/p"}, "project contains a NUL"),
    ("submit_job", {"prompt": "x", "project": "/w", "acceptance": [f"true{NUL}"]},
     "acceptance[0] contains a NUL"),
    ("ask", {"prompt": f"why{NUL}"}, "prompt contains a NUL character"),
    ("ask", {"prompt": "why", "employee": f"llama{NUL}"}, "employee contains a NUL"),
    ("submit_job", {"prompt": "x", "employee": "llama\n"}, "employee contains a control"),
    ("submit_job", {"prompt": "x", "idempotency_key": "a\tb"},
     "idempotency_key contains a control character"),
    ("submit_job", {"prompt": "x", "project": "/w\r\n"}, "project contains a control"),
    ("submit_job", {"prompt": "x\ud800"}, "prompt contains an unpaired surrogate"),
    ("submit_job", {"prompt": 5}, "prompt must be a string, not the number 5"),
    ("submit_job", {"prompt": ["a"]}, "prompt must be a string, not a list"),
    ("submit_job", {"prompt": None}, "prompt must be a string, not null"),
    ("submit_job", {}, "prompt is required"),
    ("submit_job", {"prompt": ""}, "prompt must not be empty"),
    ("submit_job", {"prompt": "x", "employee": 7}, "employee must be a string"),
    ("submit_job", {"prompt": "x", "employee": "Not A Name"}, "employee must be 1-63"),
    ("submit_job", {"prompt": "x", "priority": "high"}, "priority must be a whole number"),
    ("submit_job", {"prompt": "x", "priority": 1000}, "priority must be at most 100"),
    ("submit_job", {"prompt": "x", "max_attempts": 0}, "max_attempts must be at least 1"),
    ("submit_job", {"prompt": "x", "acceptance": "make test"}, "acceptance must be a list"),
    ("submit_job", {"prompt": "x", "idempotency_key": "k" * 201},
     "idempotency_key must be at most 200 characters"),
    ("ask", {"prompt": {"q": 1}}, "prompt must be a string, not an object"),
    ("ask", {"prompt": "x", "timeout_s": "soon"}, "timeout_s must be a number"),
    ("get_job", {"job_id": f"{NUL}"}, "job_id contains a NUL"),
    ("get_job", {"job_id": "banana"}, "job_id must be a job id"),
    ("get_job", {"job_id": 42}, "job_id must be a string"),
    ("wait_job", {"job_id": "x", "timeout_s": 60}, "timeout_s must be at most 45"),
])
async def test_bad_argument_is_a_tool_error_naming_it_and_nothing_is_stored(
    system: System, tool: str, arguments: dict[str, Any], named: str
) -> None:
    await hire(system.db, "llama", "ollama")
    async with Client(system.mcp_server()) as client:
        message = await refusal(client, tool, arguments)
    assert named in message
    assert message.startswith(f"Error executing tool {tool}: invalid_input: ")
    assert "pydantic" not in message and "type=" not in message  # our words, not the SDK's
    assert await job_count(system) == 0


async def test_several_bad_arguments_are_named_together(system: System) -> None:
    async with Client(system.mcp_server()) as client:
        message = await refusal(client, "submit_job", {
            "prompt": f"a{NUL}", "employee": f"b{NUL}", "idempotency_key": f"c{NUL}"})
    for argument in ("prompt", "employee", "idempotency_key"):
        assert f"{argument} contains a NUL character (\\u0000)" in message


async def test_schemas_show_the_character_and_name_rules(system: System) -> None:
    async with Client(system.mcp_server()) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    submit = tools["submit_job"].input_schema["properties"]
    assert submit["prompt"]["pattern"] == r"^[^\u0000]*$"
    assert submit["prompt"]["maxLength"] == 200_000
    employee = next(s for s in submit["employee"]["anyOf"] if s.get("type") == "string")
    assert employee["pattern"] == "^[a-z0-9][a-z0-9_.-]{0,62}$"
    key = next(s for s in submit["idempotency_key"]["anyOf"] if s.get("type") == "string")
    assert key["pattern"] == r"^[^\u0000-\u001f\u007f]*$" and key["maxLength"] == 200
    assert "pattern" in tools["get_job"].input_schema["properties"]["job_id"]


async def test_an_unexpected_tool_failure_is_a_generic_error_and_logged(
    system: System, caplog: pytest.LogCaptureFixture
) -> None:
    server: MCPServer = system.mcp_server()

    async def broken() -> str:
        raise RuntimeError("secret internals at /srv/aura")

    server.add_tool(broken, description="always fails")
    with caplog.at_level(logging.ERROR, logger="tools.errors"):
        async with Client(server) as client:
            message = await refusal(client, "broken", {})
    assert "internal_error: the tool failed unexpectedly" in message
    assert "secret" not in message
    incident = message.rsplit(" ", 1)[-1]
    logged = [r for r in caplog.records if incident in r.getMessage()]
    assert logged and logged[0].exc_info is not None
    assert "secret internals" in str(logged[0].exc_info[1])


async def test_good_arguments_still_submit(system: System, workspace: Path) -> None:
    await hire(system.db, "llama", "ollama")
    async with Client(system.mcp_server()) as client:
        result = await client.call_tool("submit_job", {
            "prompt": "line one\nline two\ttabbed", "employee": "llama",
            "project": str(workspace), "acceptance": ["test -d .\n"],
            "idempotency_key": "key-1", "priority": 5})
    assert not result.is_error, result.content
    assert await job_count(system) == 1
