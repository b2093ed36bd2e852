"""Who may do what, as a matrix: every Director API route refuses no token, a wrong key and
every MCP client token; every MCP tool refuses a request without a valid token; an MCP client
can never approve, hire, change a budget, or read another client's audit entries."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from mcp.client.client import Client
from starlette.routing import Mount, Route

from mcp_server.app import System
from orchestra.models import NewJob
from tests.integration.helpers import hire

KEY = {"Authorization": "Bearer test-director-key"}
# A value for every path parameter: well-formed, so only the credentials decide.
PARAMS = {"job_id": str(uuid.uuid4()), "name": "someone", "id": str(uuid.uuid4()),
          "thread_id": str(uuid.uuid4())}


def director_routes(system: System) -> list[tuple[str, str]]:
    """Every (method, path) under /api/v1, parameters filled in."""
    app = system.api_app()
    [mount] = [r for r in app.routes if isinstance(r, Mount) and r.path == "/api/v1"]
    pairs = []
    for route in mount.routes:
        assert isinstance(route, Route)
        path = "/api/v1" + re.sub(r"{(\w+)}", lambda m: PARAMS[m.group(1)], route.path)
        pairs += [(method, path) for method in sorted(route.methods or ()) if method != "HEAD"]
    return pairs


async def test_every_director_route_refuses_everyone_but_the_director(
    system: System, api: httpx.AsyncClient
) -> None:
    tokens = [(await system.tokens.create(name, actor="test")).token for name in ("ide", "ci")]
    credentials: dict[str, dict[str, str]] = {
        "no token": {}, "wrong key": {"Authorization": "Bearer not-the-key"},
        "basic auth": {"Authorization": "Basic ZGlyZWN0b3I6a2V5"},
        **{f"mcp token {n}": {"Authorization": f"Bearer {t}"} for n, t in enumerate(tokens)},
    }
    routes = director_routes(system)
    assert len(routes) >= 29  # the whole API, not a sample
    wrong: list[str] = []
    for method, path in routes:
        for who, headers in credentials.items():
            answer = await api.request(method, path, headers=headers, json={})
            if answer.status_code != 401 or "problem+json" not in answer.headers.get(
                    "content-type", ""):
                wrong.append(f"{method} {path} as {who}: {answer.status_code}")
        if path.endswith("/events"):
            continue  # a stream that never ends; the events tests read it with the key
        with_key = await api.request(method, path, headers=KEY, json={})
        if with_key.status_code == 401:
            wrong.append(f"{method} {path} refused the Director key")
    assert not wrong, wrong
    print(f"\nauthorization matrix: {len(routes)} routes x {len(credentials)} credentials "
          f"refused; the Director key admitted on every route but the event stream")


async def test_every_mcp_tool_refuses_a_request_without_a_valid_token(system: System) -> None:
    async with Client(system.mcp_server()) as client:
        names = [t.name for t in (await client.list_tools()).tools]
    transport = httpx.ASGITransport(app=system.mcp_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:9000") as http:
        for name in names:
            body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                    "params": {"name": name, "arguments": {}}}
            for headers in ({}, {"Authorization": "Bearer forged"}, KEY):
                answer = await http.post("/mcp", json=body, headers={
                    **headers, "Accept": "application/json, text/event-stream"})
                assert answer.status_code == 401, (name, headers, answer.status_code)
    assert len(names) >= 12


async def test_an_mcp_client_cannot_approve_hire_or_change_a_budget(system: System) -> None:
    """Over MCP the only roads are tools; none decides, hires or sets money."""
    async with Client(system.mcp_server()) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        proposed = await client.call_tool("propose_employee", {
            "name": "sneaky", "adapter": "cli", "command": ["/bin/echo", "{prompt}"]})
    assert not {n for n in names if re.search(r"approve|deny|decide|hire|budget_set|"
                                               r"set_budget|token", n)}
    assert "budget_status" in names  # read-only
    assert not proposed.is_error
    assert await system.roster.list_employees() == []  # proposed, not hired
    [pending] = await system.approvals.list_approvals(status="pending")
    assert pending.action == "hire"


async def test_audit_entries_of_another_client_stay_hidden(system: System) -> None:
    await hire(system.db, "echo")
    await system.queue.submit(NewJob(prompt="theirs", client="other-ide"),
                              actor="client:other-ide")
    async with Client(system.mcp_server()) as client:
        page: Any = (await client.call_tool("audit_log", {"limit": 100})).structured_content
    assert all("other-ide" not in str(e) for e in page["entries"])
