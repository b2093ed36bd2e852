"""`/api/v1/audit/verify`: the audit chain recomputed against its anchors."""

from __future__ import annotations

from starlette.requests import Request

from mcp_server.api.models import AuditReport
from mcp_server.api.routing import ApiRoute, ApiServices, Operation


def routes(s: ApiServices) -> list[ApiRoute]:
    async def verify(_: Request) -> AuditReport:
        report = await s.auditor.verify(s.db, anchors=s.anchors.read())
        return AuditReport.model_validate(report.as_dict())

    return [ApiRoute("/audit/verify", {
        "GET": Operation(verify, "Recompute the audit chain; name the first bad entry.",
                         answer=AuditReport),
    })]
