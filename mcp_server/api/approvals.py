"""`/api/v1/approvals`: what waits for the Director, and the Director's decisions. Only the
Director key reaches these routes (every `/api/v1` route requires it); MCP tokens can ask
(`request_approval`, `propose_employee`) but never decide."""

from __future__ import annotations

from starlette.requests import Request

from governance.approvals import Approval as CoreApproval
from mcp_server.api.fields import APPROVAL_REF
from mcp_server.api.models import Approval, ApprovalFilter, ApprovalList, ApproveBody, DenyBody
from mcp_server.api.payloads import read_body, read_query
from mcp_server.api.routing import DIRECTOR, ApiRoute, ApiServices, Operation


def approval_view(approval: CoreApproval) -> Approval:
    return Approval.model_validate(approval.public())


def routes(s: ApiServices) -> list[ApiRoute]:
    async def list_approvals(request: Request) -> ApprovalList:
        query = read_query(request, ApprovalFilter)
        found = await s.approvals.list_approvals(query.status, query.limit)
        return ApprovalList(approvals=[approval_view(a) for a in found])

    async def show(request: Request) -> Approval:
        return approval_view(await s.approvals.get(request.path_params["id"]))

    async def approve(request: Request) -> Approval:
        # An approval needs no words: an empty body is an approval without a note.
        body = await read_body(request, ApproveBody) if await request.body() else ApproveBody()
        decided = await s.approvals.decide(request.path_params["id"], approve=True,
                                           note=body.note, actor=DIRECTOR)
        return approval_view(decided)

    async def deny(request: Request) -> Approval:
        body = await read_body(request, DenyBody)
        decided = await s.approvals.decide(request.path_params["id"], approve=False,
                                           note=body.note, actor=DIRECTOR)
        return approval_view(decided)

    ref = {"id": APPROVAL_REF}
    return [
        ApiRoute("/approvals", {
            "GET": Operation(list_approvals, "Approvals, newest first; ?status=pending for "
                             "the inbox.", query=ApprovalFilter, answer=ApprovalList),
        }),
        ApiRoute("/approvals/{id}", {
            "GET": Operation(show, "One approval (by id or a unique prefix).", answer=Approval),
        }, params=ref),
        ApiRoute("/approvals/{id}/approve", {
            "POST": Operation(approve, "Approve: the action goes ahead (a waiting job is "
                              "queued, a proposed employee hired).", body=ApproveBody,
                              answer=Approval),
        }, params=ref),
        ApiRoute("/approvals/{id}/deny", {
            "POST": Operation(deny, "Deny with a note, which the caller gets back (a waiting "
                              "job is rejected with it).", body=DenyBody, answer=Approval),
        }, params=ref),
    ]
