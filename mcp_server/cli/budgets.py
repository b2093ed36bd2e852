"""`aura budgets`, `aura budget set|delete` and `aura ledger`: the money side."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mcp_server.cli.context import JsonOption, UrlOption, session, verb_group
from mcp_server.cli.errors import CliError
from mcp_server.cli.output import age, money, short_id


def list_budgets(ctx: typer.Context, url: UrlOption = None, as_json: JsonOption = None) -> None:
    """Show every budget this month: limit, spent, reserved by running calls, remaining."""
    with session(ctx, url, as_json) as (api, out):
        answer = api.json("GET", "/budgets")
        if out.as_json:
            out.data(answer)
            return
        budgets = answer["budgets"]
        if not budgets:
            out.console().print("no budgets: nothing limits spend (set one with "
                                "`aura budget set NAME --limit 20`)")
            return
        rows = [
            (b["name"], b["scope"], b["employee"] or "-", money(b["limit_usd"]),
             money(b["spent_usd"]), money(b["reserved_usd"]), _remaining(b))
            for b in budgets
        ]
        period = f"{budgets[0]['period_start'][:10]} to {budgets[0]['period_end'][:10]}"
        out.table(f"{len(rows)} budget(s), this month ({period})",
                  ("NAME", "SCOPE", "EMPLOYEE", "LIMIT", "SPENT", "RESERVED", "REMAINING"), rows)


def _remaining(budget: dict[str, Any]) -> str:
    text = money(budget["remaining_usd"])
    return f"[red]{text}[/]" if budget["remaining_usd"] in ("0", "0.00") else text


def set_budget(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The budget's name, e.g. monthly or llama-cap.")],
    limit: Annotated[str, typer.Option(
        "--limit", metavar="USD", help="The monthly limit in USD, e.g. 20 or 12.50.")],
    employee: Annotated[str | None, typer.Option(
        help="Limit one employee's spend; without it the budget covers everyone.")] = None,
    url: UrlOption = None,
    as_json: JsonOption = None,
) -> None:
    """Create or change a monthly budget (overall, or for one employee with --employee)."""
    body = {"scope": "employee" if employee else "global", "limit_usd": limit,
            "period": "month"}
    if employee:
        body["employee"] = employee
    with session(ctx, url, as_json) as (api, out):
        budget = api.json("PUT", f"/budgets/{name}", body)
        whose = f"{budget['employee']}'s" if budget["employee"] else "overall"
        out.done(budget, f"budget [bold]{budget['name']}[/] ({whose}): "
                         f"{money(budget['limit_usd'])} a month, "
                         f"{money(budget['remaining_usd'])} left this month")


def delete_budget(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The budget to remove.")],
    url: UrlOption = None,
    as_json: JsonOption = None,
) -> None:
    """Remove a budget: its limit no longer applies (the ledger keeps every charge)."""
    with session(ctx, url, as_json) as (api, out):
        api.json("DELETE", f"/budgets/{name}")
        out.done({"name": name, "deleted": True}, f"budget [bold]{name}[/] removed")


def show_ledger(
    ctx: typer.Context,
    employee: Annotated[str | None, typer.Option(help="Only this employee's entries.")] = None,
    job: Annotated[str | None, typer.Option(help="Only this job's entries (its full id).")] = None,
    since: Annotated[str | None, typer.Option(
        help="From this ISO time on, e.g. 2026-12-01 or 2026-12-01T09:00+01:00.")] = None,
    until: Annotated[str | None, typer.Option(help="Before this ISO time.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="Entries per page.")] = 50,
    cursor: Annotated[str | None, typer.Option(
        help="The next_cursor of the previous page.")] = None,
    url: UrlOption = None,
    as_json: JsonOption = None,
) -> None:
    """Show the ledger, newest first: every charge, reservation and release, with totals."""
    if job is not None and len(job) != 36:
        raise CliError("--job takes a job's full id (see `aura jobs --json`)")
    params = {"employee": employee, "job_id": job, "since": since, "until": until,
              "limit": limit, "cursor": cursor}
    with session(ctx, url, as_json) as (api, out):
        page = api.json("GET", "/ledger", **params)
        if out.as_json:
            out.data(page)
            return
        rows = [
            (str(e["id"]), f"{age(e['ts'])} ago", e["kind"], e["employee"],
             short_id(e["job_id"]), f"{e['tokens_in']}/{e['tokens_out']}", _cost(e))
            for e in page["entries"]
        ]
        totals = page["totals"]
        if rows:
            out.table(f"{len(rows)} entr{'y' if len(rows) == 1 else 'ies'}, newest first",
                      ("ID", "WHEN", "KIND", "EMPLOYEE", "JOB", "TOKENS IN/OUT", "USD"), rows)
        else:
            out.console().print("no ledger entries match")
        more = f"; next page: --cursor {page['next_cursor']}" if page["next_cursor"] else ""
        unpriced = (f" (+ {totals['unpriced_calls']} unpriced call(s) not in it)"
                    if totals["unpriced_calls"] else "")
        out.console().print(
            f"total: {totals['calls']} call(s), {money(totals['spent_usd'])} spent{unpriced}, "
            f"{money(totals['reserved_usd'])} reserved now{more}")


def _cost(entry: dict[str, Any]) -> str:
    """A charge's cost and how it was priced: `unpriced` where there is no cost (never 0)."""
    if entry["cost_usd"] is None:
        return "unpriced"
    if entry["pricing"] in (None, "estimated"):
        return money(entry["cost_usd"])
    return f"{money(entry['cost_usd'])} {entry['pricing']}"


def register(app: typer.Typer) -> None:
    app.command("budgets", epilog="Example: aura budgets")(list_budgets)
    group = verb_group("Monthly spending limits.", "aura budget set monthly --limit 20")
    group.command("set", epilog="Example: aura budget set llama-cap --limit 5 --employee "
                                "llama")(set_budget)
    group.command("delete", epilog="Example: aura budget delete llama-cap")(delete_budget)
    app.add_typer(group, name="budget")
    app.command("ledger", epilog="Example: aura ledger --employee llama --since "
                                 "2026-12-01")(show_ledger)
