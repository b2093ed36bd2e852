"""The MCP tools the docs name are the tools the server lists, and the README's list of them is
complete (tests/docs_claims.py reads the docs)."""

from __future__ import annotations

from mcp.client.client import Client

from mcp_server.app import System
from tests.docs_claims import USER_DOCS, text_of, tools_named

README_TOOL_LIST = "The MCP tools an IDE sees:"


async def _served(system: System) -> set[str]:
    async with Client(system.mcp_server()) as client:
        return {t.name for t in (await client.list_tools()).tools}


async def test_every_mcp_tool_the_docs_name_exists(system: System) -> None:
    served = await _served(system)
    named = [found for doc in USER_DOCS for found in tools_named(doc)]
    assert len(named) > 10
    unknown = [str(claim) for claim, name in named if name not in served]
    assert not unknown, f"named in the docs but not served: {unknown}"


async def test_the_readme_lists_every_tool(system: System) -> None:
    served = await _served(system)
    readme = text_of("README.md")
    listed = readme[readme.index(README_TOOL_LIST):]
    missing = [name for name in sorted(served) if f"`{name}`" not in listed]
    assert not missing, f"served but not described in the README: {missing}"
