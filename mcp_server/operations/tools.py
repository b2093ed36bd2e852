"""The PostgreSQL client tools: the embedded server's own first, then PATH."""

from __future__ import annotations

from mcp_server import embedded_pg
from orchestra import backups


def pg_tool(name: str) -> str:
    return backups.find_pg_tool(name, [embedded_pg.pg_bin_dir()])
