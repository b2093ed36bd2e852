"""`aura doctor`: checks this host (bubblewrap, database, migrations, disk, Ollama, ports, key
files) and says how to fix each failure. Exit 0 when nothing failed (warnings allowed), 1 when
something did. It reads the same settings as `aura serve`, and needs no running Aura."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from mcp_server.cli.context import Globals, JsonOption
from mcp_server.cli.errors import CliError
from mcp_server.cli.output import Output

EXIT_UNHEALTHY = 1
_TONE = {"ok": "green", "warn": "yellow", "fail": "red"}

NamesOption = Annotated[list[str] | None, typer.Option(
    metavar="CHECK", help="A check by name (repeatable): bwrap, database, migrations, disk, "
    "ollama, ports, key-files.")]


def doctor(
    ctx: typer.Context,
    only: NamesOption = None,
    skip: NamesOption = None,
    min_free_gb: Annotated[float, typer.Option(
        "--min-free-gb", min=0,
        help="Fail under this much free disk (GiB); warn under five times that.")]
    = 1.0,
    as_json: JsonOption = None,
) -> None:
    """Check that this host can run Aura; each failure comes with its fix."""
    import asyncio

    from mcp_server import doctor as checks
    from mcp_server.cli.server import load_settings

    chosen = _chosen(checks.CHECKS, only or [], skip or [])
    results = asyncio.run(checks.diagnose(load_settings(), chosen, min_free_gib=min_free_gb))
    given = ctx.find_object(Globals) or Globals()
    output = Output(as_json if as_json is not None else given.as_json)
    if output.as_json:
        output.data({"status": checks.worst(results).value,
                     "checks": [r.as_json() for r in results]})
    else:
        table = Table(title="aura doctor", title_justify="left", header_style="bold",
                      show_lines=False, expand=False)
        for column in ("CHECK", "STATUS", "DETAIL", "FIX"):
            table.add_column(column, overflow="fold")
        for r in results:
            tone = _TONE[r.status.value]
            table.add_row(r.name, f"[{tone}]{r.status.value}[/]", r.detail, r.fix or "-")
        output.console().print(table)
    if checks.worst(results) is checks.Status.FAIL:
        raise typer.Exit(EXIT_UNHEALTHY)


def _chosen(known: tuple[str, ...], only: list[str], skip: list[str]) -> list[str]:
    """The checks to run; a name is its table name with `-` for spaces (`key-files`)."""
    by_flag = {name.replace(" ", "-"): name for name in known}
    for name in [*only, *skip]:
        if name not in by_flag:
            raise CliError(f"unknown check {name!r}; the checks are: {', '.join(by_flag)}")
    picked = [by_flag[n] for n in only] if only else list(known)
    return [name for name in picked if name not in {by_flag[n] for n in skip}]


def register(app: typer.Typer) -> None:
    app.command("doctor", epilog="Example: aura doctor --skip ollama; "
                "aura doctor --only database --only migrations --json")(doctor)
