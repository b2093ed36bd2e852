"""`aura jobs` and `aura job ID`: the queue as a table, one job as a summary or as its text."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from mcp_server.cli.client import ApiClient, parsed
from mcp_server.cli.context import JsonOption, UrlOption, session
from mcp_server.cli.errors import CliError
from mcp_server.cli.output import Output, age, first_line, money, short_id, toned

STATUSES = ("pending_approval", "queued", "running", "validating", "succeeded", "failed",
            "cancelled", "rejected")
TEXT_PARTS = ("output", "diff", "runlog")


def list_jobs(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many, newest first.")] = 20,
    status: Annotated[str | None, typer.Option(
        help=f"Only jobs in this status: {', '.join(STATUSES)}.")] = None,
    url: UrlOption = None,
    as_json: JsonOption = None,
) -> None:
    """List recent jobs, newest first: short id, status, employee, age, cost and prompt."""
    from mcp_server.api.models import JobList  # here, not at the top: only this verb pays

    if status is not None and status not in STATUSES:
        raise CliError(f"--status must be one of {', '.join(STATUSES)}, not {status!r}")
    with session(ctx, url, as_json) as (api, out):
        jobs = api.json("GET", "/jobs", limit=limit, status=status)
        if out.as_json:
            out.data(jobs)
            return
        rows = [
            (short_id(j.job_id), toned(j.status), j.employee or "-", age(j.created_at),
             money(j.cost), escape(first_line(j.prompt)))
            for j in parsed(JobList, jobs).jobs
        ]
        if not rows:
            out.console().print("no jobs" + (f" with status {status}" if status else ""))
            return
        out.table(f"{len(rows)} job(s), newest first",
                  ("ID", "STATUS", "EMPLOYEE", "AGE", "COST", "PROMPT"), rows)


def show_job(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(
        metavar="ID", help="The job's id, or its first 4 or more hex digits.")],
    diff: Annotated[bool, typer.Option("--diff", help="Print only the job's diff, whole.")] = False,
    output: Annotated[bool, typer.Option(
        "--output", help="Print only the employee's output, whole.")] = False,
    runlog: Annotated[bool, typer.Option(
        "--runlog", help="Print only the job's run log, whole.")] = False,
    export: Annotated[tuple[str, Path] | None, typer.Option(
        metavar="STATE FILE",
        help="Write the job's before or after state as a tar, e.g. --export after after.tar.",
    )] = None,
    url: UrlOption = None,
    as_json: JsonOption = None,
) -> None:
    """Show one job: status, employee, attempts, checks with exit codes, cost, error."""
    parts = [name for name, wanted in zip(TEXT_PARTS, (output, diff, runlog), strict=True)
             if wanted]
    if len(parts) + (export is not None) > 1:
        raise CliError("give one of --diff, --output, --runlog and --export at a time")
    with session(ctx, url, as_json) as (api, out):
        if export is not None:
            _export(api, job_id, *export)
        elif parts:
            out.text(api.text(f"/jobs/{job_id}/{parts[0]}"))
        else:
            job = api.json("GET", f"/jobs/{job_id}")
            if out.as_json:
                out.data(job)
            else:
                _summary(out, job)


def cancel(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(
        metavar="ID", help="The job's id, or its first 4 or more hex digits.")],
    url: UrlOption = None,
    as_json: JsonOption = None,
) -> None:
    """Cancel a job: a queued one at once, a running one within seconds (its command is
    killed); a finished job is left as it is."""
    with session(ctx, url, as_json) as (api, out):
        job = api.json("POST", f"/jobs/{job_id}/cancel")
        if job["status"] == "cancelled":
            message = f"cancelled job {short_id(job['job_id'])}"
        else:
            message = f"job {short_id(job['job_id'])} had already ended ({job['status']})"
        out.done(job, message)


def apply(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(
        metavar="ID", help="The job's id, or its first 4 or more hex digits.")],
    url: UrlOption = None,
    as_json: JsonOption = None,
) -> None:
    """Write a succeeded job's change into its project. Refused, with the files named, when
    any file the change touches changed since the job began; nothing is written then."""
    with session(ctx, url, as_json) as (api, out):
        result = api.json("POST", f"/jobs/{job_id}/apply")
        job, project = short_id(result["job_id"]), result["project"]
        if result["already_applied"]:
            message = f"job {job}: {project} already holds its change"
        else:
            message = f"applied job {job} to {project}: {len(result['files'])} file(s)"
        out.done(result, message)


def _export(api: ApiClient, job_id: str, state: str, target: Path) -> None:
    if state not in ("before", "after"):
        raise CliError(f"--export takes before or after, not {state!r}")
    api.download(f"/jobs/{job_id}/export", target, state=state)
    typer.echo(f"wrote the {state} state of job {job_id} to {target}", err=True)


def _summary(out: Output, job: dict[str, Any]) -> None:
    """A job for people: what happened, and how to read each whole text."""
    short = short_id(job["job_id"])
    lines = [
        ("job", f"{job['job_id']}  ({job['kind']})"),
        ("status", f"{toned(job['status'])}   attempt {job['attempts']} of "
                   f"{job['max_attempts']}"),
        ("employee", job["employee"] or "- (not yet assigned)"),
        ("project", job.get("project") or "-"),
        ("created", f"{job['created_at']}  ({age(job['created_at'])} ago)"),
        ("finished", job["finished_at"] or "-"),
        ("cost", f"${job['cost']}  ({job['tokens_in']} tokens in, {job['tokens_out']} out)"),
        ("prompt", escape(first_line(job.get("prompt")))),
        *_checks(job.get("validation")),
    ]
    if job["error"]:
        lines.append(("error", f"[red]{escape(job['error'])}[/]"))
    for part in ("output", "diff"):
        text = job[part]
        if text is not None:
            cut = " (cut here)" if job[f"{part}_truncated"] else ""
            lines.append((part, f"{len(text.splitlines())} lines{cut}; whole: "
                                f"aura job {short} --{part}"))
    lines.append(("run log", f"aura job {short} --runlog"))
    lines.extend(("resources" if n == 0 else "", uri)
                 for n, uri in enumerate(job["resources"].values()))
    console = out.console()
    for label, value in lines:
        console.print(f"[bold]{label:<10}[/] {value}")


def _checks(validation: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The acceptance checks, one line each with its exit code."""
    if not validation:
        return [("checks", "- (not validated yet)")]
    checks = validation.get("checks") or []
    verdict = "[green]passed[/]" if validation.get("passed") else "[red]failed[/]"
    lines = [("checks", f"{verdict} ({len(checks)} command(s))")]
    for check in checks:
        mark = "[green]✓[/]" if check.get("passed") else "[red]✗[/]"
        code = "timed out" if check.get("timed_out") else f"exit {check.get('exit_code')}"
        lines.append(("", f"{mark} {code:<9} {escape(str(check.get('command')))}  "
                          f"({check.get('duration_ms', 0) / 1000:.1f} s)"))
    return lines


def register(app: typer.Typer) -> None:
    app.command("jobs", epilog="Example: aura jobs --status failed --limit 5")(list_jobs)
    app.command(
        "job",
        epilog="Examples: aura job 8fe6d434 · aura job 8fe6d434 --diff > change.patch · "
        "aura job 8fe6d434 --export after after.tar",
    )(show_job)
    app.command("cancel", epilog="Example: aura cancel 8fe6d434")(cancel)
    app.command("apply", epilog="Example: aura apply 8fe6d434")(apply)
