"""`aura mcp-config CLIENT [--write]`: an IDE's MCP configuration pointing at the running Aura.

It prints what Aura adds to the client's file (stdout holds only that, so it can be piped), or
with `--write` merges it into the file: other servers stay, a file that does not parse is left
alone, and the new file replaces the old one atomically. Standard library and `mcp_server.home`
only; no server code.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer

from mcp_server.cli.errors import CliError
from mcp_server.cli.ide_configs import CLIENTS, TOKEN_VARIABLE, IdeClient, Where
from mcp_server.home import find_running

ClientArg = Annotated[str, typer.Argument(
    metavar="CLIENT", help=f"One of: {', '.join(CLIENTS)}.")]


def mcp_url(given: str | None, env: Mapping[str, str] = os.environ) -> str:
    """The MCP endpoint: given, else the running Aura's, else from AURA_MCP_HOST/PORT."""
    if given:
        return given
    running = find_running(env)
    if running is not None:
        return running.mcp_url
    host = env.get("AURA_MCP_HOST") or "127.0.0.1"
    return f"http://{host}:{env.get('AURA_MCP_PORT') or '9000'}/mcp"


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` in one step (a reader sees the old file or the new one), keeping its
    permissions when it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _client(name: str) -> IdeClient:
    try:
        return CLIENTS[name]
    except KeyError:
        raise CliError(f"unknown client {name!r}; one of: {', '.join(CLIENTS)}") from None


def mcp_config(
    client: ClientArg,
    write: Annotated[bool, typer.Option(
        "--write", help="Merge into the client's file instead of printing.")] = False,
    url: Annotated[str | None, typer.Option(
        "--mcp-url", metavar="URL",
        help="The MCP endpoint (default: the running Aura's, else "
             "http://AURA_MCP_HOST:AURA_MCP_PORT/mcp).")] = None,
    file: Annotated[Path | None, typer.Option(
        "--file", metavar="PATH", help="Another file than the client's usual one.")] = None,
) -> None:
    """Print or write an IDE's MCP configuration for Aura, the token as a reference to
    AURA_MCP_TOKEN (never the token itself)."""
    ide = _client(client)
    endpoint = mcp_url(url)
    path = file or ide.locate(Where(Path.cwd(), Path.home(), os.environ))
    notes = [] if ide.prompts else [
        f"set {TOKEN_VARIABLE} in the environment the client starts from (one token per "
        "client: `aura token create NAME`)"]
    if ide.note:
        notes.append(ide.note)
    if not write:
        typer.echo(ide.snippet(endpoint), nl=False)
        typer.echo(f"aura: add this to {path} (or run with --write); " + "; ".join(notes),
                   err=True)
        return
    try:
        existing = path.read_text("utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc}") from None
    write_atomically(path, ide.merged(existing, endpoint, path))
    typer.echo(f"aura: wrote the {client} entry for {endpoint} to {path}; " + "; ".join(notes),
               err=True)


def register(app: typer.Typer) -> None:
    app.command("mcp-config", epilog="Example: aura mcp-config claude-code --write")(mcp_config)
