"""`aura threads [ID]`: the conversations of `ask`, or one of them with its messages."""

from __future__ import annotations

from typing import Annotated

import typer

from mcp_server.cli.client import parsed
from mcp_server.cli.context import JsonOption, UrlOption, session
from mcp_server.cli.output import age, first_line

ThreadArgument = Annotated[str | None, typer.Argument(
    help="A thread's id: show its messages. Omit to list the threads.", show_default=False)]
LimitOption = Annotated[int, typer.Option(help="How many threads, newest first.")]


def show_threads(
    ctx: typer.Context, thread_id: ThreadArgument = None, limit: LimitOption = 20,
    url: UrlOption = None, as_json: JsonOption = None,
) -> None:
    """List the threads (newest first, with message counts and last activity), or show one."""
    from mcp_server.api.models import Thread, ThreadList  # here: only this verb pays for it

    with session(ctx, url, as_json) as (api, out):
        if thread_id is not None:
            thread = api.json("GET", f"/threads/{thread_id}")
            if out.as_json:
                out.data(thread)
                return
            one = parsed(Thread, thread)
            out.text(f"thread {one.thread_id}: {one.title} (started by {one.created_by})")
            for m in one.messages:
                who = f"{m.client} asked" if m.role == "user" else f"{m.employee} answered"
                out.text(f"\n#{m.seq} {who}, {age(m.created_at)} ago:\n{m.text}")
            return
        listed = api.json("GET", f"/threads?limit={limit}")
        if out.as_json:
            out.data(listed)
            return
        rows = [(t.thread_id, str(t.message_count), f"{age(t.last_activity)} ago",
                 t.created_by, first_line(t.title, 80))
                for t in parsed(ThreadList, listed).threads]
        out.table(f"{len(rows)} thread(s), newest first",
                  ("THREAD", "MESSAGES", "LAST ACTIVITY", "STARTED BY", "PROMPT"), rows)


def register(app: typer.Typer) -> None:
    app.command("threads", epilog="Example: aura threads; aura threads THREAD_ID")(show_threads)
