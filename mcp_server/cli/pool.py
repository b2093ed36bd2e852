"""`aura pool`: the model slots and who is in them."""

from __future__ import annotations

import typer

from mcp_server.cli.client import parsed
from mcp_server.cli.context import JsonOption, UrlOption, session
from mcp_server.cli.output import age, short_id, toned


def show_pool(ctx: typer.Context, url: UrlOption = None, as_json: JsonOption = None) -> None:
    """Show the pool's slots: state, resident employee, job and since when."""
    from mcp_server.api.models import Pool  # here, not at the top: only this verb pays for it

    with session(ctx, url, as_json) as (api, out):
        pool = api.json("GET", "/pool")
        if out.as_json:
            out.data(pool)
            return
        rows = [
            (str(s.index), toned(s.state), s.employee or "-", short_id(s.job_id),
             f"{age(s.since)} ago" if s.since else "-")
            for s in parsed(Pool, pool).slots
        ]
        out.table(f"{len(rows)} slot(s)", ("SLOT", "STATE", "EMPLOYEE", "JOB", "SINCE"), rows)


def register(app: typer.Typer) -> None:
    app.command("pool", epilog="Example: aura pool")(show_pool)
