"""`propose_employee` over MCP hires what the Director's `POST /api/v1/employees` hires, with the
same fields (an OpenAI-compatible or Gemini employee's `base_url`, `api_key_env` and
`max_output_tokens`) and the same refusals, once the Director approves."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from mcp.client.client import Client

from mcp_server.app import System
from tests.integration.test_mcp_tools import call, tool_error

KEY = {"Authorization": "Bearer test-director-key"}


async def _approve(api: httpx.AsyncClient, approval_id: str) -> None:
    response = await api.post(f"/api/v1/approvals/{approval_id}/approve", headers=KEY)
    assert response.status_code == 200, response.text


async def test_an_approved_proposal_hires_an_openai_and_a_gemini_employee_with_their_fields(
    system: System, api: httpx.AsyncClient
) -> None:
    async with Client(system.mcp_server()) as client:
        gpt = await call(client, "propose_employee", name="gpt", adapter="openai",
                         model="gpt-4o-mini", base_url="http://127.0.0.1:1234/v1",
                         api_key_env="OPENAI_API_KEY", max_output_tokens=512,
                         price_in="0.15", price_out="0.60")
        gem = await call(client, "propose_employee", name="gem", adapter="gemini",
                         model="gemini-2.5-flash", api_key_env="GEMINI_API_KEY")
    assert gpt["status"] == gem["status"] == "pending"
    # The Director sees where the prompts would go before deciding.
    assert "openai gpt-4o-mini at http://127.0.0.1:1234/v1" in gpt["summary"]
    # …and which of the worker's variables would be handed over as its key (the name only).
    assert "with the key in $OPENAI_API_KEY" in gpt["summary"]
    assert "with the key in $GEMINI_API_KEY" in gem["summary"]
    assert not {e.name for e in await system.roster.list_employees()} & {"gpt", "gem"}
    await _approve(api, gpt["approval_id"])
    await _approve(api, gem["approval_id"])
    hired_gpt, hired_gem = await system.roster.get("gpt"), await system.roster.get("gem")
    assert (hired_gpt.adapter.value, hired_gpt.model, hired_gpt.base_url) == (
        "openai", "gpt-4o-mini", "http://127.0.0.1:1234/v1")
    assert (hired_gpt.api_key_env, hired_gpt.max_output_tokens) == ("OPENAI_API_KEY", 512)
    assert (hired_gem.adapter.value, hired_gem.api_key_env, hired_gem.base_url) == (
        "gemini", "GEMINI_API_KEY", None)
    assert hired_gem.max_output_tokens == 4096  # the Director API's default too


# Each body is refused by the Director's hire with a detail that the MCP refusal repeats.
BAD: list[tuple[dict[str, Any], str]] = [
    ({"adapter": "martian", "model": "m"}, "adapter must be one of"),
    ({"adapter": "gemini", "model": "gemini-2.5-flash"}, "needs api_key_env"),
    ({"adapter": "openai"}, "needs a model"),
    ({"adapter": "openai", "model": "gpt-4o-mini"}, "needs api_key_env"),
    ({"adapter": "openai", "model": "m", "api_key_env": "sk-abc123!"},
     "api_key_env must name an environment variable, not hold a key"),
    ({"adapter": "openai", "model": "m", "base_url": "ftp://host/v1"},
     "base_url must start with http:// or https://"),
    ({"adapter": "openai", "model": "m", "base_url": ""}, "base_url must not be empty"),
    ({"adapter": "openai", "model": "m", "base_url": "http://h", "max_output_tokens": 0},
     "max_output_tokens must be at least 1"),
    ({"adapter": "gemini", "model": "g", "api_key_env": "K", "max_output_tokens": 10**7},
     "max_output_tokens must be at most 1000000"),
    ({"adapter": "gemini", "model": "g", "api_key_env": "A" * 129},
     "api_key_env must be at most 128 characters"),
    # The service's own secrets are never an employee's key, whatever the adapter or case.
    ({"adapter": "openai", "model": "m", "base_url": "https://evil.example/v1",
      "api_key_env": "AURA_DIRECTOR_KEY"},
     "api_key_env AURA_DIRECTOR_KEY is a variable of the service itself"),
    ({"adapter": "gemini", "model": "g", "api_key_env": "aura_database_url"},
     "the service's own variables are never given to an employee"),
    ({"adapter": "cli", "command": ["true"], "api_key_env": "Aura_Director_Key"},
     "api_key_env Aura_Director_Key is a variable of the service itself"),
]


@pytest.mark.parametrize("body, detail", BAD, ids=[d for _, d in BAD])
async def test_a_proposal_is_refused_as_the_directors_hire_is(
    system: System, api: httpx.AsyncClient, body: dict[str, Any], detail: str
) -> None:
    hired = await api.post("/api/v1/employees", headers=KEY, json={"name": "x", **body})
    assert hired.status_code == 400, hired.text
    api_detail = hired.json()["detail"]
    assert detail in api_detail
    async with Client(system.mcp_server()) as client:
        refused = await tool_error(client, "propose_employee", name="x", **body)
    assert "invalid_input" in refused and api_detail in refused, (refused, api_detail)
    assert await system.approvals.list_approvals() == []  # nothing asked of the Director
