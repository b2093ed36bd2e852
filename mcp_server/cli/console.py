"""`aura tui`: the Director's console (the `tui` package) on the API this CLI would use, in
this terminal or (`--web`) in a browser through textual-serve."""

from __future__ import annotations

from typing import Annotated

import typer

from mcp_server.cli.client import api_base, director_key, environment
from mcp_server.cli.context import Globals, UrlOption
from mcp_server.cli.errors import CliError

DEFAULT_UI_PORT = "5173"


def _ui_port(given: int | None, env: dict[str, str]) -> int:
    text = str(given) if given is not None else env.get("AURA_UI_PORT") or DEFAULT_UI_PORT
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise CliError(f"AURA_UI_PORT must be a port number (1-65535), not {text!r}")
    return int(text)


def register(app: typer.Typer) -> None:
    @app.command("tui", epilog="Examples: aura tui --url http://127.0.0.1:8000 · aura tui --web")
    def tui(
        ctx: typer.Context, url: UrlOption = None,
        web: Annotated[bool, typer.Option(
            "--web", help="Serve the console to a browser (textual-serve) instead; the page "
            "asks for the Director key.")] = False,
        host: Annotated[str, typer.Option(
            help="With --web: the address to bind; anything but loopback lets others reach "
            "the key prompt.")] = "127.0.0.1",
        port: Annotated[int | None, typer.Option(
            help="With --web: the port (default AURA_UI_PORT, else 5173).")] = None,
        ask_key: Annotated[bool, typer.Option(
            "--ask-key", help="Ask for the Director key on screen; read neither "
            "AURA_DIRECTOR_KEY nor the key file (what each --web tab runs).")] = False,
    ) -> None:
        """The Director's console: Dashboard, Jobs, Approvals, Employees, Audit and Ledger,
        live over the HTTP API.

        The key comes from AURA_DIRECTOR_KEY, else the running Aura's key file; with --web or
        --ask-key it is asked for on screen instead."""
        given = ctx.find_object(Globals) or Globals()
        env = environment()
        base = api_base(url or given.url, env)
        # Here, not at the top: Textual costs every other verb its import time.
        if web:
            from tui.web import serve

            serve(base, host, _ui_port(port, env))
        elif ask_key:
            from tui.web import run_asking

            run_asking(base)
        else:
            key, _ = director_key(env)
            from tui.app import run

            run(base, key)
