"""The Director API as the console sees it: async httpx, answers parsed into the API's own wire
models (`mcp_server.api.models`), every failure one `ConsoleError` with a line a person can
read. The console never touches the database: this module is all it knows of Aura."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from mcp_server.api import models
from mcp_server.api.sse import ServerEvent, read_events

M = TypeVar("M", bound=BaseModel)
TIMEOUT_S = 15.0
# A live stream sends a keep-alive comment every heartbeat (seconds); silence for longer than
# this means the link is dead even when TCP has not noticed.
STREAM_READ_TIMEOUT_S = 45.0


class ConsoleError(Exception):
    """Anything the API refused or could not be asked; `str()` is one line for the screen."""


class Offline(ConsoleError):
    """The API could not be reached at all (the link, not the request, is at fault)."""


class ApiClient:
    """One console's connection to the API (`base_url` ends in `/api/v1`)."""

    def __init__(self, base_url: str, key: str,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.base_url, timeout=TIMEOUT_S, transport=transport,
            headers={"Authorization": f"Bearer {key}"})

    async def aclose(self) -> None:
        await self._http.aclose()

    # ---- reads ------------------------------------------------------------------------

    async def pool(self) -> models.Pool:
        return await self._get(models.Pool, "/pool")

    async def queue(self) -> models.QueueCounts:
        return await self._get(models.QueueCounts, "/queue")

    async def budgets(self) -> models.BudgetList:
        return await self._get(models.BudgetList, "/budgets")

    async def approvals(self, status: str | None = None, limit: int = 100
                        ) -> models.ApprovalList:
        return await self._get(models.ApprovalList, "/approvals", status=status, limit=limit)

    async def jobs(self, status: str | None = None, limit: int = 200) -> models.JobList:
        return await self._get(models.JobList, "/jobs", status=status, limit=limit)

    async def job(self, job_id: str) -> models.Job:
        return await self._get(models.Job, f"/jobs/{job_id}")

    async def job_history(self, job_id: str) -> models.JobHistory:
        return await self._get(models.JobHistory, f"/jobs/{job_id}/history")

    async def runlog(self, job_id: str) -> str:
        return (await self._send("GET", f"/jobs/{job_id}/runlog")).text

    async def recent_events(self, limit: int = 20) -> models.RecentEvents:
        return await self._get(models.RecentEvents, "/events/recent", limit=limit)

    async def employees(self) -> models.EmployeeList:
        return await self._get(models.EmployeeList, "/employees")

    async def audit(self, limit: int = 200, **filters: str | int | None) -> models.AuditPage:
        """The audit log's tail; `filters`: actor, action, subject, seq, cursor."""
        return await self._get(models.AuditPage, "/audit", limit=limit, **filters)

    async def audit_verify(self) -> models.AuditReport:
        return await self._get(models.AuditReport, "/audit/verify")

    async def spend(self, days: int = 30) -> models.Spend:
        return await self._get(models.Spend, "/ledger/spend", days=days)

    async def ledger(self, limit: int = 50) -> models.LedgerPage:
        return await self._get(models.LedgerPage, "/ledger", limit=limit)

    # ---- the Director's decisions -------------------------------------------------------

    async def approve(self, approval_id: str) -> models.Approval:
        return await self._post(models.Approval, f"/approvals/{approval_id}/approve", {})

    async def deny(self, approval_id: str, note: str) -> models.Approval:
        return await self._post(models.Approval, f"/approvals/{approval_id}/deny",
                                {"note": note})

    async def cancel(self, job_id: str) -> models.Job:
        return await self._post(models.Job, f"/jobs/{job_id}/cancel", None)

    async def apply(self, job_id: str) -> models.ApplyResult:
        return await self._post(models.ApplyResult, f"/jobs/{job_id}/apply", None)

    async def hire(self, body: dict[str, Any]) -> models.Employee:
        return await self._post(models.Employee, "/employees", body)

    async def employee_standing(self, name: str, move: str) -> models.Employee:
        """`move`: suspend, reinstate or terminate."""
        return await self._post(models.Employee, f"/employees/{name}/{move}", None)

    # ---- the live feed ----------------------------------------------------------------

    @asynccontextmanager
    async def events(self, last_event_id: str | None) -> AsyncIterator[
            AsyncIterator[ServerEvent]]:
        """The open `/events` stream, resumed after `last_event_id` when given."""
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        timeout = httpx.Timeout(TIMEOUT_S, read=STREAM_READ_TIMEOUT_S)
        try:
            async with self._http.stream("GET", "/events", headers=headers,
                                         timeout=timeout) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self._refused(response)
                yield read_events(response)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc

    # ---- plumbing -----------------------------------------------------------------------

    async def _get(self, model: type[M], path: str, **params: Any) -> M:
        return _parsed(model, (await self._send("GET", path, params=params)).json())

    async def _post(self, model: type[M], path: str, body: Any) -> M:
        return _parsed(model, (await self._send("POST", path, body=body)).json())

    async def _send(self, method: str, path: str, body: Any = None,
                    params: dict[str, Any] | None = None) -> httpx.Response:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = await self._http.request(method, path, json=body, params=query)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code >= 400:
            raise self._refused(response)
        return response

    def _unreachable(self, exc: httpx.HTTPError) -> Offline:
        return Offline(f"cannot reach the API at {self.base_url}: "
                       f"{exc or type(exc).__name__}")

    @staticmethod
    def _refused(response: httpx.Response) -> ConsoleError:
        """The problem+json detail as one line, with the status."""
        try:
            detail = str(response.json().get("detail") or response.text)
        except ValueError:
            detail = response.text.strip() or response.reason_phrase
        if response.status_code == 401:
            detail = "the API refused the Director key"
        return ConsoleError(f"{' '.join(detail.split())} ({response.status_code})")


def _parsed(model: type[M], answer: Any) -> M:
    try:
        return models.read_answer(model, answer)
    except models.AnswerMismatch as exc:
        raise ConsoleError(str(exc)) from None
