"""`aura backup [list]`, `aura restore FILE`, `aura retention prune`: run on the host.

Like `aura migrate`, these work on the home's database directly (AURA_DATABASE_URL, or the
embedded server under AURA_HOME), not through the API: a restore replaces the database the
API runs on, and pruning removes folders on this host. Progress goes to stderr, the result
to stdout (JSON when stdout is not a terminal). The server is imported inside each verb.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mcp_server.cli.context import JsonOption, verb_group
from mcp_server.cli.output import Output, age
from mcp_server.cli.server import load_settings

if TYPE_CHECKING:
    from mcp_server.runner import DatabaseServer
    from mcp_server.settings import Settings

EXIT_UNVERIFIED = 1


def _progress(line: str) -> None:
    typer.echo(line, err=True)


@contextmanager
def _database(settings: Settings) -> Iterator[DatabaseServer]:
    from mcp_server import runner

    database = runner.open_database(settings)
    try:
        yield database
    finally:
        if database.embedded is not None:
            database.embedded.stop()


def backup(ctx: typer.Context, as_json: JsonOption = None) -> None:
    """Back up the database now: a pg_dump (custom format) and its audit anchor beside it,
    in AURA_BACKUP_DIR."""
    if ctx.invoked_subcommand is not None:
        return
    from orchestra import backups

    out = Output(as_json)
    settings = load_settings()
    with _database(settings) as database:
        path, anchor = asyncio.run(backups.backup(
            database.dsn, settings.backup_dir, database.pg_dump(), label="manual",
            progress=_progress))
    out.done({"path": str(path), "anchor": str(backups.anchor_path(path)),
              "audit_seq": anchor.seq, "bytes": path.stat().st_size},
             f"[green]backup written[/]: {path} (audit head {anchor.seq}, "
             f"{path.stat().st_size} bytes)")


def list_backups(as_json: JsonOption = None) -> None:
    """The backups in AURA_BACKUP_DIR, newest first."""
    from orchestra import backups

    settings = load_settings()
    found = backups.list_backups(settings.backup_dir)[::-1]
    out = Output(as_json)
    if out.as_json:
        out.data([{"path": str(b.path), "label": b.label, "taken_at": b.taken_at.isoformat(),
                   "bytes": b.size, "anchored": b.anchored} for b in found])
        return
    if not found:
        out.console().print(f"no backups in {settings.backup_dir}")
        return
    out.table(f"{len(found)} backup(s) in {settings.backup_dir}",
              ("FILE", "KIND", "TAKEN", "SIZE", "ANCHOR"),
              [(b.path.name, b.label, f"{age(b.taken_at.isoformat())} ago",
                f"{b.size / 1_048_576:.1f} MiB", "yes" if b.anchored else "[red]missing[/]")
               for b in found])


def restore(
    file: Annotated[Path, typer.Argument(help="The .dump file (its .anchor.json beside it).")],
    force: Annotated[bool, typer.Option(
        "--force", help="Replace everything in a database that is not empty.")] = False,
    as_json: JsonOption = None,
) -> None:
    """Restore a backup into the home's database (stop Aura first), then verify the audit
    chain against the backup's anchor; exit code 1 when it does not verify."""
    from mcp_server.operations.restore import restore_home

    out = Output(as_json)
    settings = load_settings()
    with _database(settings) as database:
        done = asyncio.run(restore_home(database.dsn, file, settings.data_dir, force=force,
                                        progress=_progress))
    report, home = done.report, done.home_report
    answer = {"restored": str(file), "anchor_seq": done.anchor.seq, **report.as_dict(),
              "home_anchors": home.as_dict() if home else None,
              "replaced_anchors": str(done.replaced_anchors) if done.replaced_anchors else None}
    if done.ok:
        also = " and the home's anchors" if home else ""
        out.done(answer, f"[green]restored[/] {file.name}; audit chain verified against the "
                         f"backup's anchor{also} ({report.entries} entries, anchor at "
                         f"{done.anchor.seq})")
        return
    if not report.ok:
        out.done(answer, f"[red]restored[/] {file.name}, but the audit chain does NOT verify "
                         f"against the backup's anchor: entry {report.first_bad_seq} "
                         f"({report.kind}). Do not trust this backup; try an older one")
    else:
        assert home is not None  # done.ok is false, report.ok is true: the home's disagreed
        out.done(answer, f"[red]restored[/] {file.name}, but the audit chain does NOT verify "
                         f"against the home's anchor at entry {home.first_bad_seq} "
                         f"({home.kind}; kept in {done.replaced_anchors}): the backup's "
                         "history differs from the one this home recorded. Do not trust "
                         "this backup; try an older one")
    raise typer.Exit(EXIT_UNVERIFIED)


def prune(
    older_than: Annotated[str, typer.Option(
        "--older-than", help="What jobs finished longer ago than this left behind: "
        "a whole number with h, d or w (e.g. 365d).")],
    yes: Annotated[bool, typer.Option(
        "--yes", help="Prune as the Director (recorded as an approval and audited): needs "
        "the Director key (AURA_DIRECTOR_KEY, else the home's key file). Without it, only "
        "list what would go.")] = False,
    as_json: JsonOption = None,
) -> None:
    """List what old jobs left behind (output, diffs, run logs, sandboxes, snapshots, old
    backups); with --yes, remove it. The audit log and the ledger are never pruned."""
    from mcp_server.cli.client import director_key, environment
    from mcp_server.operations.prune import parse_age, prune_home

    age_limit = parse_age(older_than)
    cutoff = datetime.now(UTC) - age_limit
    out = Output(as_json)
    # The same lookup as the API verbs; no key, no prune (exit 2), before the database opens.
    key = director_key(environment()) if yes else None
    settings = load_settings()
    with _database(settings) as database:
        result = asyncio.run(prune_home(settings, database.dsn, cutoff, key=key,
                                        progress=_progress))
    plan = result.plan
    what = (f"{plan.jobs_with_output} jobs' output/diff/validation ({plan.job_bytes} bytes), "
            f"{plan.runlog_entries} run-log entries ({plan.runlog_bytes} bytes), "
            f"{len(plan.sandboxes)} sandboxes, {len(plan.snapshots)} snapshot folders, "
            f"{len(plan.backups)} backups")
    if not result.pruned:
        lines = [f"dry run: finished before {cutoff:%Y-%m-%d %H:%M} UTC, would prune {what}",
                 *[f"  {p}" for p in [*plan.sandboxes, *plan.snapshots, *plan.backups][:50]],
                 "never pruned: the audit log, the ledger, job rows, approvals, threads",
                 "run again with --yes to prune"]
        out.done(result.as_dict(), "\n".join(lines))
        return
    out.done(result.as_dict(), f"[green]pruned[/] {what} (approval {result.approval_id})")


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Back up the database now; `aura backup list` shows the backups.",
                        epilog="Example: aura backup; aura backup list",
                        invoke_without_command=True)
    group.callback()(backup)
    group.command("list", epilog="Example: aura backup list")(list_backups)
    app.add_typer(group, name="backup")
    app.command("restore", epilog="Example: aura restore infra/backups/aura-manual-…dump")(
        restore)
    retention = verb_group("Manual clean-up of old jobs' leftovers.",
                           "aura retention prune --older-than 365d")
    retention.command("prune", epilog="Example: aura retention prune --older-than 365d --yes")(
        prune)
    app.add_typer(retention, name="retention")
