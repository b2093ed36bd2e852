"""`/api/v1/audit`: the audit log's tail, filtered and paged, and `/audit/verify`: the chain
recomputed against its anchors."""

from __future__ import annotations

from starlette.requests import Request

from governance.auditor import AuditQuery
from mcp_server.api.models import AuditFilter, AuditPage, AuditReport
from mcp_server.api.payloads import read_query
from mcp_server.api.routing import ApiRoute, ApiServices, Operation


def routes(s: ApiServices) -> list[ApiRoute]:
    async def tail(request: Request) -> AuditPage:
        q = read_query(request, AuditFilter)
        rows = await s.auditor.tail(s.db, AuditQuery(
            actor=q.actor, action=q.action, subject=q.subject, seq=q.seq, limit=q.limit,
            before_seq=int(q.cursor) if q.cursor else None))
        entries = [{**row, "ts": row["ts"].isoformat()} for row in rows]
        more = len(rows) == q.limit
        return AuditPage.model_validate({
            "entries": entries, "next_cursor": str(rows[-1]["seq"]) if more else None})

    async def verify(_: Request) -> AuditReport:
        report = await s.auditor.verify(s.db, anchors=s.anchors.read())
        return AuditReport.model_validate(report.as_dict())

    return [
        ApiRoute("/audit", {
            "GET": Operation(tail, "Audit entries, newest first, filtered by actor, action, "
                             "subject or seq.", query=AuditFilter, answer=AuditPage),
        }),
        ApiRoute("/audit/verify", {
            "GET": Operation(verify, "Recompute the audit chain; name the first bad entry.",
                             answer=AuditReport),
        }),
    ]
