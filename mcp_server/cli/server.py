"""The verbs that run Aura itself: `up`, `serve`, `worker`, `migrate`, `mcp --stdio`.

The server (settings, runner, database drivers, even asyncio) is imported inside each verb, so
the API verbs stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mcp_server.cli.errors import CliError

if TYPE_CHECKING:
    from mcp_server.settings import Settings


def load_settings() -> Settings:
    """The server's settings, a bad one reported by name in one line."""
    from pydantic import ValidationError

    from mcp_server.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        wrong = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'settings'}: {error['msg']}"
            for error in exc.errors()
        )
        raise CliError(f"bad setting: {wrong}") from None


def up() -> None:
    """Run everything in one process: database, API, MCP endpoint and a worker."""
    import asyncio

    from mcp_server import runner

    asyncio.run(runner.run(load_settings(), api=True, mcp=True, worker=True))


def serve() -> None:
    """Run the API and the MCP endpoint only (workers run elsewhere)."""
    import asyncio

    from mcp_server import runner

    asyncio.run(runner.run(load_settings(), api=True, mcp=True, worker=False))


def worker() -> None:
    """Run a worker only (manager and pool), against AURA_DATABASE_URL."""
    import asyncio

    from mcp_server import runner

    asyncio.run(runner.run(load_settings(), api=False, mcp=False, worker=True))


def migrate() -> None:
    """Apply pending database migrations (and back up after applying any)."""
    import asyncio

    from mcp_server import runner

    settings = load_settings()
    database = runner.open_database(settings)
    try:
        applied = asyncio.run(runner.migrate_and_backup(settings, database))
    finally:
        if database.embedded is not None:
            database.embedded.stop()
    typer.echo(f"applied: {', '.join(applied) or 'nothing (up to date)'}", err=True)


def mcp(
    stdio: Annotated[bool, typer.Option(
        "--stdio", help="Speak MCP on stdin/stdout (required; HTTP is `aura up`/`serve`).")]
    = False,
) -> None:
    """Run the MCP server over stdio, for IDEs that start their servers themselves; the client
    is the one whose token is in AURA_MCP_TOKEN (refused at start without a valid one)."""
    if not stdio:
        raise CliError("aura mcp needs --stdio; the MCP endpoint over HTTP runs in "
                       "`aura up` or `aura serve`")
    import asyncio

    from mcp_server import runner

    asyncio.run(runner.run_stdio(load_settings()))


def register(app: typer.Typer) -> None:
    app.command("up", epilog="Example: AURA_WORKSPACES=$HOME/src aura up")(up)
    app.command("serve", epilog="Example: AURA_DATABASE_URL=postgresql://… aura serve")(serve)
    app.command("worker", epilog="Example: AURA_DATABASE_URL=postgresql://… aura worker")(worker)
    app.command("migrate", epilog="Example: aura migrate")(migrate)
    app.command("mcp", epilog="Example: AURA_MCP_TOKEN=aura_mcp_… aura mcp --stdio")(mcp)
