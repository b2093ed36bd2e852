"""`/api/v1/events`: the live feed as server-sent events (DESIGN §10).

Each event is `id:` (its number), `event:` (its kind: `job`, `slot`, `employee`, `budget`,
`approval`) and one `data:` line of JSON with at least the object's `id` and `status`. A
client that reconnects with `Last-Event-ID` gets exactly what it missed (`orchestra.feed`);
one that was away longer than events are kept gets `event: reset` first, and should reload
its view. A `: ping` comment goes out whenever the feed is quiet for a heartbeat interval,
so proxies keep the stream open; the stream ends when the process stops.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from mcp_server.api.models import Event, RecentEvents, RecentQuery
from mcp_server.api.payloads import read_query
from mcp_server.api.routing import ApiRoute, ApiServices, Operation
from orchestra.errors import InvalidInput
from orchestra.feed import FeedEvent, Gap, Item, Quiet

EVENT_STREAM = "text/event-stream"
# Browsers' EventSource waits this long before reconnecting (ms).
RETRY_MS = 2000
_MAX_ID = 2**63 - 1


def last_event_id(request: Request) -> int | None:
    """The `Last-Event-ID` header as an event number; absent or empty means "from now on"."""
    value = request.headers.get("last-event-id", "").strip()
    if not value:
        return None
    if not value.isascii() or not value.isdigit() or int(value) > _MAX_ID:
        raise InvalidInput("Last-Event-ID must be an event number (digits) that this server "
                           "sent in an `id:` line")
    return int(value)


def encode(item: Item) -> str:
    """One item as SSE text: an event, the reset notice, or a keep-alive comment."""
    if isinstance(item, Quiet):
        return ": ping\n\n"
    if isinstance(item, Gap):
        data = {"after": item.after, "resume": item.resume,
                "reason": "events after Last-Event-ID were pruned; reload the view"}
        return f"id: {item.resume}\nevent: reset\ndata: {_json(data)}\n\n"
    return f"id: {item.id}\nevent: {item.kind}\ndata: {_json(_payload(item))}\n\n"


def _payload(event: FeedEvent) -> dict[str, object]:
    return {**event.data, "id": event.subject, "status": event.status,
            "at": event.ts.isoformat()}


def event_view(event: FeedEvent) -> Event:
    """An event as `/events/recent` and `/jobs/{id}/history` answer it: the same `data` the
    stream sends."""
    return Event(id=event.id, kind=event.kind, subject=event.subject, status=event.status,
                 at=event.ts.isoformat(), data=_payload(event))


def _json(value: object) -> str:
    # One line: json.dumps escapes every newline inside strings.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def routes(s: ApiServices) -> list[ApiRoute]:
    async def stream(request: Request) -> Response:
        after = last_event_id(request)

        async def body() -> AsyncIterator[str]:
            # Sent at once, so the client knows the stream is open before the first event.
            yield f"retry: {RETRY_MS}\n: connected\n\n"
            async for item in s.feed.follow(after, s.events_heartbeat_s):
                yield encode(item)

        return StreamingResponse(body(), media_type=EVENT_STREAM, headers={
            "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def recent(request: Request) -> RecentEvents:
        limit = read_query(request, RecentQuery).limit
        # The window first: an event committed between the two reads is then sent again by
        # the stream rather than missed.
        _, newest = await s.feed.window()
        events = [e for e in await s.feed.recent(limit) if e.id <= newest]
        return RecentEvents(events=[event_view(e) for e in events], last_id=newest)

    return [ApiRoute("/events/recent", {
        "GET": Operation(recent, "The newest events, oldest first, and the id to send as "
                         "Last-Event-ID to follow on from them.", query=RecentQuery,
                         answer=RecentEvents),
    }), ApiRoute("/events", {
        "GET": Operation(stream, "Live changes of jobs, slots, employees, budgets and approvals "
                         "as server-sent events; send Last-Event-ID to resume without loss.",
                         media_type=EVENT_STREAM),
    })]
