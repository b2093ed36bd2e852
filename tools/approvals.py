"""Approval tools: request_approval, get_approval, propose_employee. Clients ask; only the
Director decides (in the console, the CLI or the API), never a tool."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field

from governance.approvals import Approval, Decision
from governance.hiring import propose
from governance.identity import client_from_request
from orchestra.errors import Forbidden
from orchestra.models import Adapter
from orchestra.roster import DEFAULT_OUTPUT_TOKENS, HireRequest
from tools.errors import tool_errors
from tools.inputs import (
    Command,
    EmployeeName,
    EnvName,
    FreeText,
    IdempotencyKey,
    Line,
    ModelTag,
    OutputCap,
    Price,
    Skill,
    Url,
)
from tools.services import ToolServices

PER_MILLION_IN = "USD per million input tokens"
PER_MILLION_OUT = "USD per million output tokens"
MAX_WAIT_S = 45.0  # IDE clients give up on a call after about 60 s
Summary = Annotated[FreeText, Field(min_length=1, max_length=2_000)]
Option = Annotated[Line, Field(min_length=1, max_length=200)]
RequestId = Annotated[IdempotencyKey | None, Field(
    description="asking again with the same request_id returns the same approval")]
ApprovalId = Annotated[str, Field(pattern=r"^[0-9a-fA-F-]{36}$",
                                  description="approval_id from request_approval")]


class ApprovalResult(BaseModel):
    approval_id: str
    status: str = Field(description="pending, approved, denied or expired (expired = denied)")
    summary: str
    decided_by: str | None
    note: str | None = Field(description="the Director's note; a denial always has one")
    expires_at: str


def _result(approval: Approval) -> ApprovalResult:
    return ApprovalResult(approval_id=str(approval.id), status=approval.status,
                          summary=approval.summary, decided_by=approval.decided_by,
                          note=approval.note, expires_at=approval.expires_at.isoformat())


def _client(ctx: Context[Any, Any]) -> str:
    return f"client:{client_from_request(ctx.request_context.request)}"


def register(server: MCPServer, services: ToolServices) -> None:
    approvals = services.approvals

    @tool_errors
    async def request_approval(
        summary: Annotated[Summary, Field(description="the question for the Director, with "
                                          "what they need to decide")],
        ctx: Context[Any, Any],
        options: Annotated[list[Option] | None, Field(
            max_length=10, description="choices; the Director answers in the note")] = None,
        request_id: RequestId = None,
        wait_s: Annotated[float, Field(ge=0, le=MAX_WAIT_S, description="seconds to wait "
                                       "for the decision, at most 45")] = 0,
    ) -> ApprovalResult:
        client = _client(ctx)
        text = summary if not options else f"{summary} (options: {' | '.join(options)})"
        decision: Decision = await approvals.require(
            action="question", subject=client, params={"summary": summary,
                                                       "options": options or []},
            requested_by=client, summary=text, request_id=request_id or str(uuid.uuid4()))
        approval = decision.approval
        if approval.status == "pending" and wait_s > 0:
            approval = await approvals.wait(approval.id, wait_s)
        return _result(approval)

    @tool_errors
    async def get_approval(approval_id: ApprovalId, ctx: Context[Any, Any]) -> ApprovalResult:
        approval = await approvals.get(approval_id)
        if approval.requested_by != _client(ctx):
            raise Forbidden(f"approval {approval.id} was asked by another client")
        return _result(approval)

    @tool_errors
    async def propose_employee(
        name: EmployeeName,
        ctx: Context[Any, Any],
        adapter: Annotated[Adapter, Field(
            description="ollama (a local model), openai (any OpenAI-compatible API), gemini "
            "(Google's Gemini API) or cli (a command-line agent)")],
        model: Annotated[ModelTag | None, Field(
            description="the model, for ollama, openai and gemini (e.g. gpt-4o-mini)")] = None,
        base_url: Annotated[Url | None, Field(
            description="the provider's URL when not its default (e.g. an OpenAI-compatible "
            "server's http://host:1234/v1)")] = None,
        api_key_env: Annotated[EnvName | None, Field(
            description="the environment variable on the workers that holds the API key "
            "(its name, never the key); gemini needs one, openai without base_url too")] = None,
        command: Annotated[list[Command] | None, Field(
            max_length=64, description="argv for a cli employee; {prompt} is replaced")] = None,
        network: Annotated[bool | None, Field(
            description="null: the preset's (its agent calls its provider), else false")] = None,
        skills: Annotated[list[Skill] | None, Field(max_length=32)] = None,
        price_in: Annotated[Price, Field(description=PER_MILLION_IN)] = Decimal(0),
        price_out: Annotated[Price, Field(description=PER_MILLION_OUT)] = Decimal(0),
        max_output_tokens: Annotated[OutputCap, Field(
            description="the most tokens one reply may have; it bounds what a call can "
            "cost")] = DEFAULT_OUTPUT_TOKENS,
        preset: Annotated[Line | None, Field(
            max_length=32, description="a coding agent for a cli employee: claude-code, codex, "
            "gemini-cli, aider or opencode; fills in its command")] = None,
        request_id: RequestId = None,
    ) -> ApprovalResult:
        client = _client(ctx)
        request = HireRequest(name=name, adapter=adapter.value, model=model, base_url=base_url,
                              api_key_env=api_key_env,
                              command=tuple(command) if command is not None else None,
                              network=network, skills=tuple(skills or ()), price_in=price_in,
                              price_out=price_out, max_output_tokens=max_output_tokens,
                              preset=preset)
        decision = await propose(approvals, request, requested_by=client,
                                 request_id=request_id)
        return _result(decision.approval)

    server.add_tool(
        request_approval,
        description="Ask the Director a question (summary, optional options). Waits up to "
        "wait_s seconds (max 45) for the decision; otherwise returns the approval_id for "
        "get_approval. A denial carries the Director's note.",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False,
                                    idempotent_hint=True, open_world_hint=False),
    )
    server.add_tool(
        get_approval,
        description="The status of one of your approvals: pending, approved, denied or "
        "expired (expired = denied), with the Director's note.",
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True),
    )
    server.add_tool(
        propose_employee,
        description="Propose hiring an employee; the Director approves it (then it is hired) "
        "or denies it with a note. Prices are USD per million tokens; max_output_tokens "
        "caps each reply.",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False,
                                    idempotent_hint=True, open_world_hint=False),
    )
