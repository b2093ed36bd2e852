"""`aura demo`: the sample project fixed end to end by a governed employee, on a throwaway
Aura against the bundled fake Ollama (`mcp_server.demo`). The demo's code, which runs a server,
is imported only when the verb runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def demo(
    project: Annotated[Path | None, typer.Argument(
        help="A demo project (with aura/demo.toml); default: the checkout's "
             "demo_default_project/.", show_default=False)] = None,
    keep: Annotated[bool, typer.Option(
        "--keep", help="Keep the throwaway directory (home, logs, sandboxes) afterwards.")]
    = False,
) -> None:
    """Watch the whole system work, with no model installed: start a throwaway Aura, hire the
    demo's employees, set its budget and policy, delegate "make the failing tests pass" over
    MCP, then show the diff, the validation report, the ledger and the audit check."""
    import sys

    from rich.console import Console

    from mcp_server.demo.run import default_project, run_demo

    console = Console(file=sys.stdout, highlight=False, soft_wrap=False)
    run_demo(project or default_project(), console, keep=keep)
    console.print("\n[bold green]The demo ran end to end.[/] Next: README.md, \"Connect an IDE\".")


def register(app: typer.Typer) -> None:
    app.command("demo", epilog="Example: aura demo; aura demo --keep")(demo)
