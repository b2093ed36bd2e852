"""Consensus: one question to two or three employees, side by side (DESIGN §9).

Each member is an ordinary `ask` job pinned to its employee, so it is queued, claimed into a
pool slot, admitted and charged by the budgets, audited and followed (`get_job`, `wait_job`)
like any other. The consensus is the group under one durable id (migration 014), written with
its member jobs and its audit entry in one transaction; its state is read again by that id at
any time, after a restart too. Waiting for the answers is the caller's affair.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from orchestra.errors import Conflict, InvalidInput, NotFound
from orchestra.hooks import AuditTrail
from orchestra.inputs import parse_id
from orchestra.models import Job, JobKind, NewJob
from orchestra.queue import MAX_JOB_SKILLS, JobQueue, Submitted
from orchestra.roster import clean_skills
from orchestra.store.db import Connection, Database
from orchestra.store.queries import load
from orchestra.store.rows import job_from_row

_C = load("consensus")

MIN_MEMBERS = 2
MAX_MEMBERS = 3


@dataclass(frozen=True, slots=True)
class NewConsensus:
    """What a caller asks for; checked by `Consensuses.start`. Members are the named
    `employees`, or else the `size` best-ranked working employees having all `skills`."""

    prompt: str
    employees: tuple[str, ...] = ()
    skills: tuple[str, ...] = ()
    size: int = MIN_MEMBERS
    timeout_s: float = 30.0
    client: str | None = None
    max_cost_usd: Decimal | None = None  # per member


@dataclass(frozen=True, slots=True)
class Member:
    """One member's job, and its latency in ms: from the consensus's start to the job's end,
    or to the reading while it is not finished."""

    job: Job
    latency_ms: int


@dataclass(frozen=True, slots=True)
class Consensus:
    id: uuid.UUID
    client: str | None
    skills: tuple[str, ...]
    created_at: datetime
    deadline: datetime  # when the caller stopped (or stops) waiting for the answers
    members: tuple[Member, ...]

    @property
    def complete(self) -> bool:
        """Every member's job has ended (answered, failed, refused or cancelled)."""
        return all(m.job.status.is_terminal for m in self.members)


class Consensuses:
    """Owns the `consensus` and `consensus_members` tables."""

    def __init__(
        self, db: Database, queue: JobQueue, audit: AuditTrail, *, pool_size: int
    ) -> None:
        self.db = db
        self.queue = queue
        self.audit = audit
        self.pool_size = pool_size

    async def start(self, new: NewConsensus, *, actor: str) -> Consensus:
        """Submit one `ask` job per member, pinned to its employee, and the consensus that
        groups them, with its audit entry: all in one transaction, or nothing."""
        skills = _check(new)
        submitted: list[Submitted] = []
        async with self.db.transaction() as conn:
            names = new.employees or await self._choose(conn, skills, new.size,
                                                        new.max_cost_usd)
            row = await conn.fetchrow(_C["insert_consensus"], new.client, list(skills),
                                      new.timeout_s)
            for position, name in enumerate(names, start=1):
                member = await self.queue.submit_on(conn, NewJob(
                    prompt=new.prompt, kind=JobKind.ASK, employee=name, client=new.client,
                    max_cost_usd=new.max_cost_usd,
                ), actor=actor)
                await conn.execute(_C["insert_member"], row["id"], position, member.job.id)
                submitted.append(member)
            await self.audit.record(
                conn, actor=actor, action="consensus.started", subject=str(row["id"]),
                details={"members": [{"employee": name, "job_id": str(s.job.id)}
                                     for name, s in zip(names, submitted, strict=True)],
                         "skills": list(skills), "timeout_s": new.timeout_s},
            )
        for member in submitted:
            self.queue.announce(member)
        return await self.get(row["id"])

    async def _choose(
        self, conn: Connection, skills: tuple[str, ...], size: int,
        max_cost_usd: Decimal | None,
    ) -> tuple[str, ...]:
        """The best-ranked candidates; under a budget that applies, not those admission would
        refuse as unpriceable (migration 017)."""
        rows = await conn.fetch(_C["best_employees"], list(skills), self.pool_size, size,
                                max_cost_usd)
        names = tuple(r["name"] for r in rows)
        if len(names) < MIN_MEMBERS:
            having = f" having the skills {', '.join(skills)}" if skills else ""
            found = f" ({names[0]})" if names else ""
            raise Conflict(f"a consensus needs at least {MIN_MEMBERS} working employees"
                           f"{having}; there are {len(names)}{found}")
        return names

    async def cancel(self, consensus_id: uuid.UUID | str, *, actor: str) -> Consensus:
        """Cancel every member job not yet ended, each with its audit entry (as `cancel_job`
        does); members that have ended keep their answers. For a caller that gives up on the
        whole consensus (an MCP task's cancel)."""
        current = await self.get(consensus_id)
        for member in current.members:
            if not member.job.status.is_terminal:
                await self.queue.cancel(member.job.id, actor=actor)
        return await self.get(current.id)

    async def get(self, consensus_id: uuid.UUID | str) -> Consensus:
        """The consensus and its members' jobs as they stand now."""
        key = parse_id(consensus_id, "consensus id")
        async with self.db.connection() as conn:
            row = await conn.fetchrow(_C["get_consensus"], key)
            if row is None:
                raise NotFound(f"no consensus {key}")
            members = await conn.fetch(_C["consensus_members"], key)
        return _consensus_from_rows(row, members)


def _check(new: NewConsensus) -> tuple[str, ...]:
    """The checks a consensus adds to each member job's own; returns the cleaned skills."""
    if new.employees and new.skills:
        raise InvalidInput("name the employees or the skills they need, not both")
    if new.employees:
        if not MIN_MEMBERS <= len(new.employees) <= MAX_MEMBERS:
            raise InvalidInput(f"a consensus asks {MIN_MEMBERS} or {MAX_MEMBERS} employees; "
                               f"{len(new.employees)} were named")
        twice = sorted({n for n in new.employees if new.employees.count(n) > 1})
        if twice:
            raise InvalidInput(f"each employee may be named once; named more than once: "
                               f"{', '.join(twice)}")
    elif not MIN_MEMBERS <= new.size <= MAX_MEMBERS:
        raise InvalidInput(f"size must be {MIN_MEMBERS} or {MAX_MEMBERS}, not {new.size}")
    if not math.isfinite(new.timeout_s) or new.timeout_s < 0:
        raise InvalidInput("timeout_s must be a number of seconds, 0 or more")
    return clean_skills(new.skills, MAX_JOB_SKILLS)


def _consensus_from_rows(row: Any, members: list[Any]) -> Consensus:
    return Consensus(
        id=row["id"], client=row["client"], skills=tuple(row["skills"]),
        created_at=row["created_at"], deadline=row["deadline"],
        members=tuple(Member(job_from_row(m), int(m["latency_ms"])) for m in members),
    )
