"""What `aura up` prints once it is ready: where things are, and what a first job still needs."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from mcp_server.settings import Settings


@dataclass(frozen=True, slots=True)
class Readiness:
    """What the banner reports besides addresses: the parts running, how long start-up took
    (from the process's own start), and what is missing for a first job."""

    parts: list[str]
    seconds: float
    workspaces: list[Path]
    employees: int


def seconds_since_process_start(fallback_started: float) -> float:
    """From the moment the OS started this process (imports included), on Linux; otherwise
    from `fallback_started` (a `time.monotonic()` value)."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.monotonic() - fallback_started


def print_banner(settings: Settings, token_path: Path, ready: Readiness) -> None:
    console = Console(stderr=True, highlight=False)
    mcp_url = f"http://{settings.mcp_host}:{settings.mcp_port}/mcp"
    console.print(f"[bold green]Aura Orchestra is up[/] ({', '.join(ready.parts)}) "
                  f"in {ready.seconds:.1f}s")
    console.print(f"  Home          {settings.data_dir.resolve()}")
    if "api" in ready.parts:
        console.print(f"  Director API  http://{settings.api_host}:{settings.api_port}/api/v1")
        console.print(f"  MCP endpoint  {mcp_url}")
        key = (f"{settings.director_key_path.resolve()}" if settings.director_key is None
               else "(from AURA_DIRECTOR_KEY)")
        console.print(f"  Director key  {key}")
    if token_path.exists():
        console.print(f"  First MCP token  {token_path.resolve()}")
        console.print("  Connect Claude Code:")
        console.print(
            f"    claude mcp add --transport http aura {mcp_url} "
            f"--header \"Authorization: Bearer $(cat {token_path.resolve()})\"", soft_wrap=True,
        )
    for hint in first_job_hints(ready):
        console.print(f"  [yellow]{hint}[/]", soft_wrap=True)
    console.print("  Ctrl-C stops it.")


def first_job_hints(ready: Readiness) -> list[str]:
    """What stands between the Director and a first job, and how to fix it."""
    hints = []
    if not ready.workspaces:
        hints.append(
            "No workspaces: jobs may only work on projects under AURA_WORKSPACES. Set it to "
            "your projects' parent directories (colon-separated) in .env or the environment "
            "and restart, e.g. AURA_WORKSPACES=$HOME/src")
    if ready.employees == 0:
        hints.append(
            "No employees: hire one before the first job, e.g. "
            "`aura hire llama --adapter ollama --model llama3.2:3b` (see `aura hire --help`)")
    return hints
