"""`aura audit verify`: recompute the audit chain on the server."""

from __future__ import annotations

import typer

from mcp_server.cli.context import JsonOption, UrlOption, session, verb_group

EXIT_BROKEN = 1


def verify(ctx: typer.Context, url: UrlOption = None, as_json: JsonOption = None) -> None:
    """Verify the audit chain; exit code 1 and the first bad entry when it is broken."""
    with session(ctx, url, as_json) as (api, out):
        report = api.json("GET", "/audit/verify")
        if report["ok"]:
            out.done(report, f"[green]audit chain ok[/]: {report['entries']} entries")
            return
        out.done(report, f"[red]audit chain broken[/] at entry {report['first_bad_seq']} "
                         f"({report.get('kind')})")
        raise typer.Exit(EXIT_BROKEN)


def register(app: typer.Typer) -> None:
    group = verb_group("The audit log's hash chain.", "aura audit verify")
    group.command("verify", epilog="Example: aura audit verify")(verify)
    app.add_typer(group, name="audit")

