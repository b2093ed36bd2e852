"""The options every API verb shares (`--url`, `--json/--human`) and the session they make.

They are accepted before the verb (`aura --json jobs`, the app's global options) and after it
(`aura jobs --json`); a value given to the verb wins.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated

import typer

from mcp_server.cli.client import ApiClient
from mcp_server.cli.output import Output

UrlOption = Annotated[str | None, typer.Option(
    "--url", metavar="URL",
    help="The API's base URL (default: the running Aura's, else AURA_API_URL, else "
    "http://AURA_API_HOST:AURA_API_PORT).",
)]
JsonOption = Annotated[bool | None, typer.Option(
    "--json/--human",
    help="JSON (the default when stdout is not a terminal) or output for people.",
)]


@dataclass(frozen=True, slots=True)
class Globals:
    """The app's global options, kept in the Typer context for the verbs."""

    url: str | None = None
    as_json: bool | None = None


@contextmanager
def session(
    ctx: typer.Context, url: str | None, as_json: bool | None
) -> Iterator[tuple[ApiClient, Output]]:
    """The API client and the output for one verb."""
    given = ctx.find_object(Globals) or Globals()
    output = Output(as_json if as_json is not None else given.as_json)
    with ApiClient.from_environment(url or given.url) as client:
        yield client, output


def verb_group(summary: str, example: str) -> typer.Typer:
    """A group of verbs (`aura token …`); alone, it prints its help."""
    group = typer.Typer(help=summary, epilog=f"Example: {example}", invoke_without_command=True)

    @group.callback()
    def show_help(ctx: typer.Context) -> None:
        if ctx.invoked_subcommand is None:
            typer.echo(ctx.get_help())

    return group
