"""Approvals: what waits for the Director (DESIGN §8), and the one function callers use to gate
an action on one.

An approval moves once, `pending → approved | denied | expired`; expiry means deny and happens
on read (every read expires what is due first) and in the sweep. It is bound to a hash of
exactly what was asked (`params_hash`, sha256 of the parameters' canonical JSON) and to the
policy's version: approving one thing never lets another through, and a changed policy asks
again. Only the Director decides (`decide`, reached through the Director API); what the policy
lets through by itself is recorded as approved by `policy:<version>`. Every move is audited in
its transaction (`decide_approval()` and `insert_approval`, migration 009).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import string
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from governance.notify import Notifier
from governance.policy import Policy
from orchestra.errors import Ambiguous, Conflict, InvalidInput, NotFound
from orchestra.store.db import Connection, Database
from orchestra.store.queries import load

_A = load("approvals")
Status = Literal["pending", "approved", "denied", "expired"]
STATUSES: tuple[Status, ...] = ("pending", "approved", "denied", "expired")
DIRECTOR = "director"
MAX_NOTE_CHARS = 2_000
MAX_SUMMARY_CHARS = 2_000
MIN_PREFIX = 4
# Actions whose waiting the policy can switch per action (`[approvals] <key> = true|false`).
POLICY_KEYS = {"hire": "hire_via_mcp", "reinstate": "reinstate", "apply_diff": "apply_diff",
               "retention_prune": "retention_prune"}
# What approving an action does, in the decision's transaction (hiring, for `hire`).
Performer = Callable[[Connection, "Approval"], Awaitable[None]]


def params_hash(params: Mapping[str, Any]) -> str:
    """sha256 over the canonical JSON of what was asked (sorted keys, no spaces)."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Approval:
    id: uuid.UUID
    action: str
    subject: str
    summary: str
    params: dict[str, Any]
    params_hash: str
    policy_version: str
    status: Status
    requested_by: str
    request_id: str | None
    job_id: uuid.UUID | None
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    note: str | None

    def public(self) -> dict[str, Any]:
        """DESIGN §10's shape."""
        return {
            "id": str(self.id), "action": self.action, "subject": self.subject,
            "summary": self.summary, "status": self.status, "requested_by": self.requested_by,
            "created_at": self.created_at.isoformat(), "expires_at": self.expires_at.isoformat(),
            "decided_by": self.decided_by, "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """What `Approvals.require` answers: `approved`, `pending` (ask again later with the same
    arguments, or wait) or `denied` (expired counts as denied; `note` says why)."""

    outcome: Literal["approved", "pending", "denied"]
    approval: Approval

    @property
    def note(self) -> str | None:
        return self.approval.note


def approval_from_row(row: Mapping[str, Any]) -> Approval:
    return Approval(
        id=row["id"], action=row["action"], subject=row["subject"], summary=row["summary"],
        params=dict(row["params"]), params_hash=row["params_hash"],
        policy_version=row["policy_version"], status=row["status"],
        requested_by=row["requested_by"], request_id=row["request_id"], job_id=row["job_id"],
        created_at=row["created_at"], expires_at=row["expires_at"],
        decided_at=row["decided_at"], decided_by=row["decided_by"], note=row["note"],
    )


@dataclass(frozen=True, slots=True)
class Ask:
    """One approval to write (see `Approvals.insert`)."""

    action: str
    subject: str
    summary: str
    params: Mapping[str, Any]
    requested_by: str
    request_id: str | None = None
    job_id: uuid.UUID | None = None
    id: uuid.UUID | None = None


class Approvals:
    """The `approvals` table's life cycle. `performers` act on approval (in its transaction)."""

    def __init__(self, db: Database, policy: Policy, notifier: Notifier) -> None:
        self.db = db
        self.policy = policy
        self.notifier = notifier
        self.performers: dict[str, Performer] = {}
        # Settled by the job-specific check before a job's approval is decided.
        self.job_check: Callable[[Connection, Approval], Awaitable[str | None]] | None = None

    # ---- asking ------------------------------------------------------------------------

    async def require(
        self, *, action: str, subject: str, params: Mapping[str, Any], requested_by: str,
        summary: str | None = None, request_id: str | None = None,
    ) -> Decision:
        """Gate an action on the Director: the approval for exactly this action, subject and
        `params` under the current policy, asked for if there is none yet (or recorded as
        approved by the policy when it does not make this action wait).

        Idempotent: the same arguments give the same approval (its key is the parameters'
        hash and the policy's version, or the caller's `request_id`), so call it again to
        poll. Different parameters, or a changed policy, are a different approval. A denied or
        expired approval stays denied; to ask again after one, pass a new `request_id`.
        """
        digest = params_hash(params)
        key = request_id or f"{action}:{subject}:{digest}:{self.policy.version}"
        waits = self._waits(action)
        approval = await self.insert(Ask(
            action=action, subject=subject, summary=summary or f"{action} {subject}",
            params=params, requested_by=requested_by, request_id=key,
        ), pending=waits)
        if approval.params_hash != digest:
            raise Conflict(f"request_id {request_id!r} was already used for a different "
                           f"{approval.action} request; use a new request_id")
        return _decision(approval)

    async def record_director_action(
        self, *, action: str, subject: str, params: Mapping[str, Any], summary: str,
        conn: Connection | None = None,
    ) -> Approval:
        """An action the Director took directly with the Director key (reinstating): the
        call is itself the decision, recorded as approved by the Director, or by the policy
        when the policy does not make this action wait. With `conn`, in the caller's
        transaction (with the action itself)."""
        decided_by = DIRECTOR if self._waits(action) else self.policy.approver
        return await self.insert(Ask(action=action, subject=subject, summary=summary,
                                     params=params, requested_by=DIRECTOR),
                                 pending=False, decided_by=decided_by, conn=conn)

    def _waits(self, action: str) -> bool:
        key = POLICY_KEYS.get(action)
        return True if key is None else bool(getattr(self.policy.approvals, key))

    async def insert(self, ask: Ask, *, pending: bool = True, decided_by: str | None = None,
                     conn: Connection | None = None) -> Approval:
        """Write one approval with its audit entries: pending, or approved by `decided_by`
        (default: the policy) with its performer run in the same transaction. The existing one
        when the caller's request_id was used before. A new pending approval is announced
        after the commit (unless `conn` is the caller's: then the caller announces)."""
        ask = _with_id(ask, ask.id or uuid.uuid4())
        if conn is not None:
            return await self._insert(conn, ask, pending, decided_by)
        async with self.db.transaction() as own:
            await own.execute(_A["expire_approvals"])
            approval = await self._insert(own, ask, pending, decided_by)
            new = approval.id == ask.id
            if new and approval.status == "approved" and approval.action in self.performers:
                await self.performers[approval.action](own, approval)
        if new and approval.status == "pending":
            self.notifier.approval_requested(approval.public())
        return approval

    async def _insert(self, conn: Connection, ask: Ask, pending: bool,
                      decided_by: str | None = None) -> Approval:
        ask_id = ask.id or uuid.uuid4()
        _check_summary(ask.summary)
        row = await conn.fetchrow(
            _A["insert_approval"], ask_id, ask.action, ask.subject, ask.summary,
            dict(ask.params), params_hash(ask.params), self.policy.version,
            "pending" if pending else "approved", ask.requested_by, ask.request_id, ask.job_id,
            self.policy.approvals.expire_after.total_seconds(),
            None if pending else (decided_by or self.policy.approver), None,
        )
        if row is None:
            row = await conn.fetchrow(_A["get_approval_by_request"], ask.requested_by,
                                      ask.request_id)
            assert row is not None  # the unique index said it exists
        return approval_from_row(row)

    # ---- reading -----------------------------------------------------------------------

    async def get(self, ref: uuid.UUID | str) -> Approval:
        async with self.db.connection() as conn:
            await conn.execute(_A["expire_approvals"])
            return await _resolve(conn, ref)

    async def list_approvals(self, status: str | None = None, limit: int = 100) -> list[Approval]:
        if status is not None and status not in STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(STATUSES)}")
        async with self.db.connection() as conn:
            await conn.execute(_A["expire_approvals"])
            rows = await conn.fetch(_A["list_approvals"], status, limit)
        return [approval_from_row(r) for r in rows]

    async def wait(self, approval_id: uuid.UUID, timeout_s: float) -> Approval:
        """The approval once decided, or as it stands when `timeout_s` runs out."""
        deadline = time.monotonic() + timeout_s
        while True:
            approval = await self.get(approval_id)
            if approval.status != "pending" or time.monotonic() >= deadline:
                return approval
            await asyncio.sleep(min(0.25, max(0.0, deadline - time.monotonic())))

    async def expire(self) -> int:
        """Expire every pending approval past its time (the sweep); how many."""
        async with self.db.connection() as conn:
            expired: int = await conn.fetchval(_A["expire_approvals"])
        return expired

    # ---- deciding ----------------------------------------------------------------------

    async def decide(self, ref: uuid.UUID | str, *, approve: bool, note: str | None,
                     actor: str = DIRECTOR) -> Approval:
        """The Director's decision. A denial needs a note (it goes back to the caller).

        Refused as a `Conflict` (after recording what it implies) when the approval is not
        pending, when the policy changed since it was asked (it is asked again, under the
        new version, as a new approval), or when what it was bound to changed (denied).
        """
        note = _clean_note(note, required=not approve)
        async with self.db.connection() as conn:
            await conn.execute(_A["expire_approvals"])
            target = await _resolve(conn, ref)
            outcome: Approval | None = None
            problem: str | None = None
            async with conn.transaction():
                row = await conn.fetchrow(_A["lock_approval"], target.id)
                assert row is not None
                current = approval_from_row(row)
                if current.status != "pending":
                    raise Conflict(f"approval {current.id} is already {current.status}"
                                   + (f" by {current.decided_by}" if current.decided_by else ""))
                if current.policy_version != self.policy.version:
                    again = await self._ask_again(conn, current)
                    problem = (f"the policy changed since approval {current.id} was asked "
                               f"({current.policy_version} → {self.policy.version}); it is "
                               f"asked again as {again.id}: decide that one")
                else:
                    changed = await self._bound_changed(conn, current)
                    if changed is not None:
                        approve, note = False, changed
                        problem = changed
                    status = "approved" if approve else "denied"
                    decided = await conn.fetchrow(_A["decide_approval"], current.id, status,
                                                  actor, note)
                    assert decided is not None  # locked and pending
                    outcome = approval_from_row(decided)
                    if approve and outcome.action in self.performers:
                        await self.performers[outcome.action](conn, outcome)
            if problem is not None:
                raise Conflict(problem)
            assert outcome is not None
            return outcome

    async def _bound_changed(self, conn: Connection, approval: Approval) -> str | None:
        """Why the approval no longer matches what it was bound to, or None."""
        if params_hash(approval.params) != approval.params_hash:
            return "denied: the approval's parameters do not match their hash"
        if approval.job_id is not None and self.job_check is not None:
            return await self.job_check(conn, approval)
        return None

    async def _ask_again(self, conn: Connection, stale: Approval) -> Approval:
        again_id = uuid.uuid4()
        if stale.job_id is not None:
            await conn.execute(_A["relink_waiting_job"], stale.job_id, again_id)
        note = f"the policy changed to {self.policy.version}; asked again as {again_id}"
        await conn.fetchrow(_A["decide_approval"], stale.id, "expired", "policy", note)
        again = await self._insert(conn, Ask(
            action=stale.action, subject=stale.subject, summary=stale.summary,
            params=stale.params, requested_by=stale.requested_by, job_id=stale.job_id,
            id=again_id,
        ), pending=True)
        self.notifier.approval_requested(again.public())
        return again


def _decision(approval: Approval) -> Decision:
    if approval.status == "approved":
        return Decision("approved", approval)
    if approval.status == "pending":
        return Decision("pending", approval)
    return Decision("denied", approval)


def _with_id(ask: Ask, ask_id: uuid.UUID) -> Ask:
    return Ask(ask.action, ask.subject, ask.summary, ask.params, ask.requested_by,
               ask.request_id, ask.job_id, ask_id)


def _check_summary(summary: str) -> None:
    if not summary.strip() or len(summary) > MAX_SUMMARY_CHARS or "\x00" in summary:
        raise InvalidInput(f"summary must be 1 to {MAX_SUMMARY_CHARS} characters, without NUL")


def _clean_note(note: str | None, *, required: bool) -> str | None:
    if note is not None and (len(note) > MAX_NOTE_CHARS or "\x00" in note):
        raise InvalidInput(f"note must be at most {MAX_NOTE_CHARS} characters, without NUL")
    if note is not None and not note.strip():
        note = None
    if required and note is None:
        raise InvalidInput("a denial needs a note saying why (it is returned to the caller)")
    return note


_HEX = frozenset(string.hexdigits.lower())


async def _resolve(conn: Connection, ref: uuid.UUID | str) -> Approval:
    """An approval by id or by a unique prefix of at least 4 of its hex digits."""
    if isinstance(ref, uuid.UUID) or len(ref.replace("-", "")) == 32:
        try:
            key = ref if isinstance(ref, uuid.UUID) else uuid.UUID(ref)
        except ValueError:
            raise InvalidInput(f"approval id {ref!r} is not a UUID") from None
        row = await conn.fetchrow(_A["get_approval"], key)
        if row is None:
            raise NotFound(f"no approval {key}")
        return approval_from_row(row)
    digits = ref.replace("-", "").lower()
    if len(digits) < MIN_PREFIX or not set(digits) <= _HEX:
        raise InvalidInput(f"approval id {ref!r} is neither a UUID nor a prefix of at least "
                           f"{MIN_PREFIX} of its hex digits")
    low, high = uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))
    rows = await conn.fetch(_A["resolve_approval_prefix"], low, high, 6)
    if not rows:
        raise NotFound(f"no approval id starts with {ref!r}")
    if len(rows) > 1:
        raise Ambiguous(f"approval id prefix {ref!r} matches several approvals; give more "
                        "of its digits", tuple(str(r["id"]) for r in rows[:5]))
    return approval_from_row(rows[0])
