"""Reading `/api/v1/events` as a client: server-sent events parsed from a streamed httpx
response. A leaf (httpx only), for the console, the CLI, tests and benches alike."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True, slots=True)
class ServerEvent:
    """One event as sent: its `id:`, its `event:` (the kind) and its JSON `data:`."""

    id: str
    kind: str
    data: dict[str, Any]


async def read_events(response: httpx.Response) -> AsyncIterator[ServerEvent]:
    """Each event of a `text/event-stream` response, in order; comments (`: ping`) and
    `retry:` lines are skipped. Ends when the server ends the stream."""
    fields: dict[str, str] = {}
    data: list[str] = []
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield ServerEvent(fields.get("id", ""), fields.get("event", "message"),
                                  json.loads("\n".join(data)))
            fields, data = {}, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        else:
            fields[name] = value
