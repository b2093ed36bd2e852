"""`aura tui`: the Director's console (the `tui` package) on the API this CLI would use."""

from __future__ import annotations

import typer

from mcp_server.cli.client import api_base, director_key, environment
from mcp_server.cli.context import Globals, UrlOption


def register(app: typer.Typer) -> None:
    @app.command("tui", epilog="Example: aura tui --url http://127.0.0.1:8000")
    def tui(ctx: typer.Context, url: UrlOption = None) -> None:
        """The Director's console: Dashboard, Jobs and Approvals, live over the HTTP API.

        The key comes from AURA_DIRECTOR_KEY, else the running Aura's key file."""
        given = ctx.find_object(Globals) or Globals()
        env = environment()
        base = api_base(url or given.url, env)
        key, _ = director_key(env)
        # Here, not at the top: Textual costs every other verb its import time.
        from tui.app import run

        run(base, key)
