"""The consensus tool: one question to two or three employees, answered side by side."""

from __future__ import annotations

import time
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field

from governance.identity import client_from_request
from orchestra.consensus import MAX_MEMBERS, MIN_MEMBERS, Consensus, Member, NewConsensus
from orchestra.errors import AuraError
from orchestra.models import JobStatus
from tools.errors import tool_errors
from tools.inputs import EmployeeName, Prompt, Usd
from tools.jobs import SkillsArgument, WaitSeconds
from tools.services import ToolServices
from tools.shaping import cut_text
from tools.waiting import DEFAULT_WAIT_S, wait_for_jobs

MemberMaxCost = Annotated[Usd | None, Field(
    description="USD each member may spend at most (a decimal string such as \"0.50\"); a "
    "member whose call's worst case would pass it is refused, the others still answer")]


class MemberAnswer(BaseModel):
    employee: str
    job_id: str
    status: str = Field(description="succeeded when answered; queued or running when late "
                        "(wait_job(job_id) follows it); failed with error otherwise")
    answer: str | None
    answer_truncated: bool = False
    error: str | None
    budget_refusal: dict[str, str] | None = Field(
        description="when a budget refused this member's call: budget, scope, limit_usd, "
        "spent_usd, reserved_usd, worst_case_usd")
    latency_ms: int = Field(description="from the consensus's start to this answer, or to "
                            "now while it is late")


class ConsensusResult(BaseModel):
    consensus_id: str
    complete: bool = Field(description="false when a member was still working at the deadline")
    answers: list[MemberAnswer]


def member_answer(member: Member) -> MemberAnswer:
    job = member.job
    answered = job.status is JobStatus.SUCCEEDED
    answer, cut = cut_text(job.output if answered else None, f"aura://jobs/{job.id}/output")
    return MemberAnswer(
        employee=job.employee or job.requested_employee or "?",
        job_id=str(job.id), status=job.status.value, answer=answer, answer_truncated=cut,
        error=job.error, budget_refusal=job.budget_refusal, latency_ms=member.latency_ms,
    )


def consensus_result(consensus: Consensus) -> ConsensusResult:
    """A consensus as callers see it: each member's answer, or why there is none yet."""
    return ConsensusResult(consensus_id=str(consensus.id), complete=consensus.complete,
                           answers=[member_answer(m) for m in consensus.members])


def progress(consensus: Consensus) -> str:
    done = sum(m.job.status.is_terminal for m in consensus.members)
    states = ", ".join(f"{member_answer(m).employee} {m.job.status.value}"
                       for m in consensus.members)
    return f"{done} of {len(consensus.members)} done: {states}"


async def ask_members(
    services: ToolServices, new: NewConsensus, *, actor: str, ctx: Context[Any, Any] | None
) -> Consensus:
    """Start a consensus and wait for its members until all have answered or its time is
    up (counted from the call, so the submission's own time is inside it)."""
    began = time.monotonic()
    started = await services.consensus.start(new, actor=actor)

    async def look() -> tuple[Consensus, bool]:
        current = await services.consensus.get(started.id)
        return current, current.complete

    async def describe(current: Consensus) -> str:
        return progress(current)

    remaining = max(0.0, new.timeout_s - (time.monotonic() - began))
    return await wait_for_jobs(services.events, [m.job.id for m in started.members],
                               remaining, ctx, look, describe)


def register(server: MCPServer, services: ToolServices) -> None:
    @tool_errors
    async def consensus(
        prompt: Annotated[Prompt, Field(description="the question, the same for each")],
        ctx: Context[Any, Any],
        employees: Annotated[list[EmployeeName] | None, Field(
            description=f"{MIN_MEMBERS} or {MAX_MEMBERS} distinct employee names from "
            "list_employees; omit to ask the best-scoring ones")] = None,
        skills: SkillsArgument = None,
        size: Annotated[int, Field(description=f"without employees: how many to ask "
                                   f"({MIN_MEMBERS} or {MAX_MEMBERS})")] = MIN_MEMBERS,
        timeout_s: WaitSeconds = DEFAULT_WAIT_S,
        max_cost_usd: MemberMaxCost = None,
    ) -> ConsensusResult:
        client = client_from_request(ctx.request_context.request)
        new = NewConsensus(prompt=prompt, employees=tuple(employees or ()),
                           skills=tuple(skills or ()), size=size, timeout_s=timeout_s,
                           client=client, max_cost_usd=max_cost_usd)
        return consensus_result(
            await ask_members(services, new, actor=f"client:{client}", ctx=ctx))

    server.add_tool(
        consensus,
        description="Ask 2 or 3 employees the same question in parallel; answers side by "
        "side with status and latency (ms). Members still working after timeout_s (default "
        "30, max 45) come back late with a job_id for wait_job.",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False,
                                    idempotent_hint=False, open_world_hint=True),
    )

    @server.resource("aura://consensus/{consensus_id}", mime_type="application/json")
    async def consensus_resource(consensus_id: str) -> str:
        """A consensus as the consensus tool returns it, as it stands now."""
        try:
            current = await services.consensus.get(consensus_id)
        except AuraError as exc:
            raise ResourceError(str(exc)) from exc
        return consensus_result(current).model_dump_json()
