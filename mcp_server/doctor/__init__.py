"""`aura doctor`: checks that a host can run Aura, each failure with how to fix it.

- `result.py`    `CheckResult` (ok / warn / fail, detail, fix)
- `host.py`      bubblewrap, disk space, ports, key file modes
- `services.py`  the database (reachable, migrations current) and Ollama
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence

from mcp_server.doctor import host, services
from mcp_server.doctor.result import CheckResult, Status, worst
from mcp_server.settings import Settings

# In the order they are shown; `database` also reports `migrations`.
CHECKS = ("bwrap", "database", "migrations", "disk", "ollama", "ports", "key files")
DEFAULT_MIN_FREE_GIB = 1.0

__all__ = ["CHECKS", "DEFAULT_MIN_FREE_GIB", "CheckResult", "Status", "diagnose", "worst"]


async def diagnose(
    settings: Settings,
    chosen: Sequence[str] = CHECKS,
    *,
    min_free_gib: float = DEFAULT_MIN_FREE_GIB,
) -> list[CheckResult]:
    """Run the `chosen` checks (the slow ones at once) and return them in `CHECKS` order."""
    wanted = set(chosen)
    blocking = {
        "bwrap": lambda: host.check_bwrap(),
        "disk": lambda: host.check_disk(settings, min_free_gib),
        "ports": lambda: host.check_ports(settings),
        "key files": lambda: host.check_key_files(settings),
    }
    jobs: list[asyncio.Future[list[CheckResult]]] = []
    for name, check in blocking.items():
        if name in wanted:
            jobs.append(asyncio.ensure_future(_listed(asyncio.to_thread(check))))
    if wanted & {"database", "migrations"}:
        jobs.append(asyncio.ensure_future(services.check_database(settings)))
    if "ollama" in wanted:
        jobs.append(asyncio.ensure_future(_listed(services.check_ollama(settings))))
    results = [r for batch in await asyncio.gather(*jobs) for r in batch if r.name in wanted]
    return sorted(results, key=lambda r: CHECKS.index(r.name))


async def _listed(check: Awaitable[CheckResult]) -> list[CheckResult]:
    return [await check]
