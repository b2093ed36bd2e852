"""A recorded Aura for the console's deterministic tests: the API's answers as recorded in
`tests/fixtures/console/api.json`, the live feed as `events.sse` (then held open, so the
console stays live), served in process through httpx's MockTransport, and a fixed clock.
A console test fixture, not a database mock: the console only ever sees HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tui.app import AuraConsole
from tui.client import ApiClient
from tui.web import WebConsole

RECORDING = Path(__file__).resolve().parents[1] / "fixtures" / "console"
NOW = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)
BASE = "http://aura.test/api/v1"
KEY = "recorded-key"
LAST_RECORDED_EVENT = 108  # the last `id:` of events.sse


class _HeldStream(httpx.AsyncByteStream):
    """The recorded events, then silence until the console closes the stream."""

    def __init__(self, text: str) -> None:
        self.text = text

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.text.encode()
        await asyncio.Event().wait()


class RecordedApi:
    """Answers GETs from the recording and records every POST it is sent."""

    def __init__(self) -> None:
        self.answers: dict[str, Any] = json.loads((RECORDING / "api.json").read_text("utf-8"))
        self.stream = (RECORDING / "events.sse").read_text("utf-8")
        self.posts: list[tuple[str, Any]] = []
        self.events_refused: str | None = None  # set: `/events` answers 503 with this detail

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/v1")
        if request.headers.get("Authorization") != f"Bearer {KEY}":
            return httpx.Response(401, json={"title": "unauthorized", "status": 401,
                                             "detail": "send the Director key"})
        if request.method == "POST":
            body = json.loads(request.content) if request.content else None
            self.posts.append((path, body))
            return self._posted(path, body)
        if path == "/events" and self.events_refused is not None:
            return httpx.Response(503, json={"detail": self.events_refused})
        if path == "/events":
            return httpx.Response(200, headers={"content-type": "text/event-stream"},
                                  stream=_HeldStream(self.stream))
        # An answer recorded for the exact query first (the audit entry verify names), else
        # the path's.
        query = request.url.query.decode()
        answer = self.answers.get(f"{path}?{query}") if query else None
        answer = self.answers.get(path) if answer is None else answer
        if answer is None:
            return httpx.Response(404, json={"title": "not_found", "status": 404,
                                             "detail": f"nothing recorded for {path}"})
        if isinstance(answer, str):
            return httpx.Response(200, text=answer)
        return httpx.Response(200, json=answer)

    def _posted(self, path: str, body: Any) -> httpx.Response:
        if path == "/employees":
            # A hire is refused as the API refuses one (problem+json), so the form's error
            # line can be pictured.
            return httpx.Response(400, json={
                "title": "invalid_input", "status": 400,
                "detail": "name: must be 1-63 characters of a-z, 0-9, '_', '.', '-', "
                          "starting with a letter or digit"},
                headers={"content-type": "application/problem+json"})
        if path.startswith("/employees/"):
            name, move = path.split("/")[2:4]
            found = next(e for e in self.answers["/employees"]["employees"] if e["name"] == name)
            status = {"suspend": "suspended", "reinstate": "probation",
                      "terminate": "terminated"}[move]
            return httpx.Response(200, json={**found, "status": status})
        return httpx.Response(200, json=self._decided(path, body))

    def _decided(self, path: str, body: Any) -> Any:
        """An approval decided as asked (the inbox is reloaded from the recording)."""
        approval_id = path.split("/")[2]
        found = next(a for a in self.answers["/approvals"]["approvals"] if a["id"] == approval_id)
        status = "approved" if path.endswith("/approve") else "denied"
        return {**found, "status": status, "decided_by": "director",
                "note": (body or {}).get("note")}


def recorded_console(*, asking: bool = False) -> tuple[AuraConsole, RecordedApi]:
    """The console on the recording; `asking`: the web console, which asks for the key."""
    api = RecordedApi()
    transport = httpx.MockTransport(api.handle)
    if asking:
        return WebConsole(BASE, transport=transport, clock=lambda: NOW), api
    client = ApiClient(BASE, KEY, transport=transport)
    return AuraConsole(client, clock=lambda: NOW), api
