"""`aura token create|list|revoke`: the MCP clients' bearer tokens."""

from __future__ import annotations

from typing import Annotated

import typer

from mcp_server.cli.context import JsonOption, UrlOption, session, verb_group
from mcp_server.cli.output import age, toned

Name = Annotated[str, typer.Argument(metavar="NAME", help="The client's name, e.g. cursor.")]


def create(ctx: typer.Context, name: Name, url: UrlOption = None,
           as_json: JsonOption = None) -> None:
    """Create a token for one MCP client; it is shown once, here."""
    with session(ctx, url, as_json) as (api, out):
        issued = api.json("POST", "/tokens", {"name": name})
        out.done(issued, f"created token {issued['name']}; it is shown only now, so store it "
                         f"(e.g. in AURA_MCP_TOKEN):\n{issued['token']}")


def list_tokens(ctx: typer.Context, url: UrlOption = None, as_json: JsonOption = None) -> None:
    """List tokens by name (never the tokens themselves), revoked ones included."""
    with session(ctx, url, as_json) as (api, out):
        tokens = api.json("GET", "/tokens")
        if out.as_json:
            out.data(tokens)
            return
        rows = [
            (t["name"], toned("revoked" if t["revoked_at"] else "active"),
             f"{age(t['created_at'])} ago", f"{age(t['revoked_at'])} ago" if t["revoked_at"]
             else "-")
            for t in tokens["tokens"]
        ]
        out.table(f"{len(rows)} token(s)", ("NAME", "STATUS", "CREATED", "REVOKED"), rows)


def revoke(ctx: typer.Context, name: Name, url: UrlOption = None,
           as_json: JsonOption = None) -> None:
    """Revoke a token: its client is refused from now on, and its name is free again."""
    with session(ctx, url, as_json) as (api, out):
        api.json("DELETE", f"/tokens/{name}")
        out.done({"name": name, "revoked": True},
                 f"revoked token {name}; its client is refused within 10 seconds, and the "
                 "name can be used again")


def register(app: typer.Typer) -> None:
    group = verb_group("MCP client tokens: create, list, revoke.", "aura token create cursor")
    group.command("create", epilog="Example: aura token create cursor")(create)
    group.command("list", epilog="Example: aura token list")(list_tokens)
    group.command("revoke", epilog="Example: aura token revoke cursor")(revoke)
    app.add_typer(group, name="token")

