"""`aura approvals`, `aura approve ID`, `aura deny ID --note …`: the Director's inbox."""

from __future__ import annotations

from typing import Annotated

import typer

from mcp_server.cli.context import JsonOption, UrlOption, session
from mcp_server.cli.errors import CliError
from mcp_server.cli.output import age, first_line, short_id

STATUSES = ("pending", "approved", "denied", "expired")


def list_approvals(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(
        help="pending (the default), approved, denied, expired, or all.")] = "pending",
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many, newest first.")] = 50,
    url: UrlOption = None,
    as_json: JsonOption = None,
) -> None:
    """Show approvals, newest first: by default what waits for you."""
    wanted = None if status in (None, "all") else status
    if wanted is not None and wanted not in STATUSES:
        raise CliError(f"--status must be one of {', '.join(STATUSES)} or all, not {status!r}")
    with session(ctx, url, as_json) as (api, out):
        answer = api.json("GET", "/approvals", status=wanted, limit=limit)
        if out.as_json:
            out.data(answer)
            return
        approvals = answer["approvals"]
        if not approvals:
            out.console().print(f"no {wanted or ''} approvals".replace("  ", " "))
            return
        rows = [
            (short_id(a["id"]), a["status"], a["action"], first_line(a["summary"], 70),
             a["requested_by"], f"{age(a['created_at'])} ago",
             a["decided_by"] or f"expires in {age(a['expires_at'])}".replace("in -", "-"))
            for a in approvals
        ]
        out.table(f"{len(rows)} approval(s)",
                  ("ID", "STATUS", "ACTION", "SUMMARY", "ASKED BY", "ASKED", "DECIDED BY"), rows)


def approve(
    ctx: typer.Context,
    approval: Annotated[str, typer.Argument(help="The approval's id or its first digits.")],
    note: Annotated[str | None, typer.Option(help="A note for the caller.")] = None,
    url: UrlOption = None,
    as_json: JsonOption = None,
) -> None:
    """Approve: the action goes ahead (a waiting job is queued, a proposed employee hired)."""
    with session(ctx, url, as_json) as (api, out):
        decided = api.json("POST", f"/approvals/{approval}/approve",
                           {"note": note} if note else {})
        out.done(decided, f"approved [bold]{short_id(decided['id'])}[/]: "
                          f"{first_line(decided['summary'], 100)}")


def deny(
    ctx: typer.Context,
    approval: Annotated[str, typer.Argument(help="The approval's id or its first digits.")],
    note: Annotated[str, typer.Option(help="Why; the caller gets it back.")],
    url: UrlOption = None,
    as_json: JsonOption = None,
) -> None:
    """Deny with a note: the caller gets the note back (a waiting job is rejected with it)."""
    with session(ctx, url, as_json) as (api, out):
        decided = api.json("POST", f"/approvals/{approval}/deny", {"note": note})
        out.done(decided, f"denied [bold]{short_id(decided['id'])}[/]: {decided['note']}")


def register(app: typer.Typer) -> None:
    app.command("approvals", epilog="Example: aura approvals --status all")(list_approvals)
    app.command("approve", epilog="Example: aura approve 8fe6d434")(approve)
    app.command("deny", epilog="Example: aura deny 8fe6d434 --note 'too expensive'")(deny)
