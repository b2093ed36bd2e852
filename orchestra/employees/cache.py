"""One adapter per employee per process, built on first use."""

from __future__ import annotations

import asyncio

from orchestra.confine import Confiner
from orchestra.employees.base import EmployeeAdapter
from orchestra.employees.factory import build_adapter
from orchestra.roster import Roster


class AdapterCache:
    """Builds adapters from the roster and keeps them (their HTTP clients) for reuse."""

    def __init__(
        self, roster: Roster, *, ollama_url: str, confiner: Confiner | None = None
    ) -> None:
        self.roster = roster
        self.ollama_url = ollama_url
        self.confiner = confiner
        self._adapters: dict[str, EmployeeAdapter] = {}
        self._lock = asyncio.Lock()

    async def get(self, name: str) -> EmployeeAdapter:
        adapter = self._adapters.get(name)
        if adapter is not None:
            return adapter
        async with self._lock:
            if name not in self._adapters:
                employee = await self.roster.get(name)
                self._adapters[name] = build_adapter(
                    employee, ollama_url=self.ollama_url, confiner=self.confiner)
            return self._adapters[name]
