"""The Typer app: global options, the verb modules wired in, and `main` (errors → one line)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from mcp_server.cli import (
    approvals,
    audit,
    budgets,
    console,
    demo,
    doctor,
    employees,
    jobs,
    mcp_config,
    operations,
    pool,
    server,
    threads,
    tokens,
)
from mcp_server.cli.context import Globals, JsonOption, UrlOption
from mcp_server.cli.errors import EXIT_USAGE, CliError
from orchestra.errors import AuraError

EXIT_INTERRUPTED = 130


def _print_version(wanted: bool) -> None:
    if wanted:
        # Here, not at the top: importlib.metadata costs every verb about 20 ms.
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"aura {version('aura-orchestra')}")
        except PackageNotFoundError:  # run from a checkout that was never installed
            typer.echo("aura (version unknown: the package is not installed)")
        raise typer.Exit()


def _root(
    ctx: typer.Context,
    url: UrlOption = None,
    as_json: JsonOption = None,
    show_version: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=_print_version, help="Print the version and exit.",
    )] = False,
) -> None:
    """Aura Orchestra: a governed AI workforce. Director verbs talk to the running Aura's API."""
    ctx.obj = Globals(url=url, as_json=as_json)
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="aura", add_completion=False, pretty_exceptions_enable=False,
        rich_markup_mode="rich", invoke_without_command=True,
        epilog="Example: aura jobs --limit 10; aura job 8fe6d434 --diff",
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(_root)
    for verbs in (server, jobs, employees, tokens, pool, budgets, approvals, audit, mcp_config,
                  threads, doctor, operations, console, demo):
        verbs.register(app)
    return app


def main(argv: list[str] | None = None) -> int:
    """Run one verb; a user mistake or a refusal is one line on stderr and exit code 2."""
    try:
        code = build_app()(args=argv, prog_name="aura", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except (CliError, AuraError) as exc:
        return _fail(str(exc))
    except typer.TyperException as exc:  # usage: unknown verb, bad option, missing argument
        where = getattr(exc, "ctx", None)
        hint = f" (see `{where.command_path} --help`)" if where is not None else ""
        return _fail(exc.format_message() + hint, getattr(exc, "exit_code", EXIT_USAGE))
    return code if isinstance(code, int) else 0


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"aura: {' '.join(message.split())}", file=sys.stderr)
    return code
