"""The API's shared plumbing: what a resource module declares (`ApiRoute`, `Operation`), the
services it is given (`ApiServices`), and how a declared route becomes a Starlette `Route`:
the Director key first, then the path parameters, then the method's handler, whose model is
sent as JSON. Errors are raised, never answered here; the app's exception handlers
(`mcp_server.http.problem_handlers`) turn each into problem+json.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, TypeAdapter
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from governance.access import TokenRegistry, director_key_matches
from governance.accountant import Accountant
from governance.anchors import AnchorFile
from governance.approvals import Approvals
from governance.auditor import Auditor
from governance.budgets import Budgets
from mcp_server.api.payloads import read_path
from mcp_server.http import bearer_token
from orchestra.changes import ChangeApplier
from orchestra.feed import EventFeed
from orchestra.queue import JobQueue
from orchestra.roster import Roster
from orchestra.sandbox import Sandboxes
from orchestra.store.db import Database
from tools.services import ToolServices

DIRECTOR = "director"  # the actor of every change made through this API
JSON = "application/json"

Handler = Callable[[Request], Awaitable["BaseModel | Response | Created"]]


@dataclass(frozen=True, slots=True)
class ApiServices:
    """What the resource modules work with, built by the composition root."""

    db: Database
    director_key: str
    queue: JobQueue
    roster: Roster
    tokens: TokenRegistry
    auditor: Auditor
    accountant: Accountant
    budgets: Budgets
    tools: ToolServices
    anchors: AnchorFile
    sandboxes: Sandboxes
    changes: ChangeApplier
    feed: EventFeed
    events_heartbeat_s: float
    approvals: Approvals


@dataclass(frozen=True, slots=True)
class Operation:
    """One method on one path: its handler and what it takes and gives, for the dispatcher
    (which checks the answer is the declared model) and the OpenAPI document."""

    handler: Handler
    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    answer: type[BaseModel] | None = None  # None: a `Response` of `media_type` (or 204)
    status: int = 200
    media_type: str = JSON
    # A PUT that may create what it names: a `Created` answer is sent as 201, else `status`.
    may_create: bool = False


@dataclass(frozen=True, slots=True)
class Created:
    """A handler's answer when it created the resource (201 instead of the usual status)."""

    answer: BaseModel


@dataclass(frozen=True, slots=True)
class ApiRoute:
    """A path under `/api/v1` and its operations by method. Every `{parameter}` in the path
    is declared in `params` with its check, so none goes unchecked or undocumented."""

    path: str
    operations: Mapping[str, Operation]
    params: Mapping[str, TypeAdapter[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        named = set(re.findall(r"{(\w+)}", self.path))
        if named != set(self.params):
            raise ValueError(f"{self.path}: declare exactly its path parameters {named}")


def director_only(key: str) -> Callable[[Request], None]:
    def check(request: Request) -> None:
        presented = bearer_token(request)
        if presented is None or not director_key_matches(presented, key):
            raise HTTPException(401, "send the Director key as a Bearer token",
                                headers={"WWW-Authenticate": 'Bearer realm="aura-director"'})

    return check


def starlette_route(route: ApiRoute, guard: Callable[[Request], None]) -> Route:
    """One endpoint for all of a path's methods, so a wrong method gets 405 naming them all."""

    async def endpoint(request: Request) -> Response:
        guard(request)
        for name, adapter in route.params.items():
            # Checked here, once: handlers read `request.path_params` already validated.
            request.path_params[name] = read_path(request, name, adapter)
        # Starlette admits HEAD wherever GET is allowed.
        operation = route.operations.get(request.method) or route.operations["GET"]
        return _response(operation, await operation.handler(request))

    return Route(route.path, endpoint, methods=list(route.operations))


def _response(operation: Operation, result: BaseModel | Response | Created) -> Response:
    if isinstance(result, Response):
        return result
    status = operation.status
    if isinstance(result, Created) and operation.may_create:
        result, status = result.answer, 201
    if operation.answer is None or not isinstance(result, operation.answer):
        # A bug, not the caller's fault: the OpenAPI document would be lying.
        raise TypeError(f"{operation.summary!r} answered {type(result).__name__}, "
                        f"not its declared {operation.answer}")
    return JSONResponse(result.model_dump(mode="json"), status_code=status)
