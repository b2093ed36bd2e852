"""`aura audit verify`: recompute the audit chain on the server."""

from __future__ import annotations

import typer

from mcp_server.cli.client import parsed
from mcp_server.cli.context import JsonOption, UrlOption, session, verb_group

EXIT_BROKEN = 1


def verify(ctx: typer.Context, url: UrlOption = None, as_json: JsonOption = None) -> None:
    """Verify the audit chain; exit code 1 and the first bad entry when it is broken."""
    from mcp_server.api.models import AuditReport  # here: only this verb pays for it

    with session(ctx, url, as_json) as (api, out):
        answer = api.json("GET", "/audit/verify")
        report = parsed(AuditReport, answer)
        if report.ok:
            out.done(answer, f"[green]audit chain ok[/]: {report.entries} entries")
            return
        out.done(answer, f"[red]audit chain broken[/] at entry {report.first_bad_seq} "
                         f"({report.kind})")
        raise typer.Exit(EXIT_BROKEN)


def register(app: typer.Typer) -> None:
    group = verb_group("The audit log's hash chain.", "aura audit verify")
    group.command("verify", epilog="Example: aura audit verify")(verify)
    app.add_typer(group, name="audit")

