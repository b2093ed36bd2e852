"""Conversation threads for `ask` (DESIGN §9): a question may continue a thread, and the
employee is then sent the thread's earlier messages with it.

Threads live in PostgreSQL (migration 012), so they outlive restarts, and no client owns one:
any client may continue any thread (each message records who asked). A thread is started by
the submission of its first question; a question and its answer are appended when the
question succeeds, by the statement that finishes the job (a trigger), so exactly once.

Context size: the history is cut, oldest messages first, so that the prompt sent (history,
framing and the new question, estimated by `estimate_tokens`) plus the employee's output cap
fits its `context_tokens`; the prompt then says how many earlier messages were left out. A
question that does not fit even alone is refused (`ContextTooSmall`). Questions without a
thread are sent as they are, as before.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestra.errors import InvalidInput, NotFound
from orchestra.inputs import parse_id
from orchestra.models import Employee, Job
from orchestra.store.db import Database
from orchestra.store.queries import load

_T = load("threads")


def estimate_tokens(text: str) -> int:
    """Tokens `text` may take: its UTF-8 bytes / 3, rounded up. Conservative (English runs
    near 4 bytes a token); the database's `estimate_tokens()` (migration 012) is the same."""
    return (len(text.encode("utf-8")) + 2) // 3


class ContextTooSmall(InvalidInput):
    """A threaded question that does not fit the employee's context window even alone."""


@dataclass(frozen=True, slots=True)
class Thread:
    """A conversation; `updated_at` is its last activity (its last message's time)."""

    id: uuid.UUID
    title: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    message_count: int


@dataclass(frozen=True, slots=True)
class ThreadMessage:
    """One message: a question (`user`, asked by `client`) or its answer (`assistant`, by
    `employee`). `tokens` is `estimate_tokens(text)`."""

    seq: int
    role: str
    text: str
    job_id: uuid.UUID
    client: str
    employee: str | None
    tokens: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Fitted:
    """The prompt an employee is sent for a threaded question, and how many of the thread's
    earlier messages it had to leave out."""

    prompt: str
    shown: int
    left_out: int


def _render(message: ThreadMessage) -> str:
    who = (f"question (asked by {message.client})" if message.role == "user"
           else f"answer (by {message.employee or 'an employee'})")
    return f"--- {who} ---\n{message.text.rstrip()}"


def _header(thread_id: uuid.UUID, shown: int, left_out: int) -> str:
    intro = f"This question continues a conversation (thread {thread_id})."
    if left_out == 0:
        return f"{intro} Its earlier messages, oldest first:"
    cut = (f"{left_out} earlier message{'s were' if left_out != 1 else ' was'} left out to fit "
           "your context window.")
    if shown == 0:
        return f"{intro} {cut}"
    return f"{intro} {cut} The {shown} most recent, oldest first:"


def _question(prompt: str) -> str:
    return f"--- the new question ---\n{prompt}"


def fit_history(
    thread_id: uuid.UUID, history: Sequence[ThreadMessage], prompt: str, *,
    context_tokens: int, max_output_tokens: int,
) -> Fitted:
    """The prompt for `prompt` after `history`, the oldest messages left out as needed so
    that its estimate plus `max_output_tokens` stays within `context_tokens`.

    Each part is estimated alone and the estimates added: rounding each up makes the sum at
    least the whole's estimate, so the bound holds for the text actually sent.
    """
    budget = context_tokens - max_output_tokens
    alone = estimate_tokens(prompt)
    if not history:
        if alone > budget:
            raise _too_small(alone, context_tokens, max_output_tokens)
        return Fitted(prompt, 0, 0)
    # The framing is costed at its longest (every message left out, so the most digits).
    fixed = (estimate_tokens(_header(thread_id, len(history), len(history)))
             + estimate_tokens("\n\n" + _question(prompt)))
    if fixed > budget:
        raise _too_small(fixed, context_tokens, max_output_tokens)
    kept: list[ThreadMessage] = []
    used = fixed
    for message in reversed(history):
        cost = estimate_tokens("\n\n" + _render(message))
        if used + cost > budget:
            break
        kept.append(message)
        used += cost
    kept.reverse()
    left_out = len(history) - len(kept)
    parts = [_header(thread_id, len(kept), left_out), *(_render(m) for m in kept),
             _question(prompt)]
    return Fitted("\n\n".join(parts), len(kept), left_out)


def _too_small(needed: int, context_tokens: int, max_output_tokens: int) -> ContextTooSmall:
    return ContextTooSmall(
        f"the question needs about {needed} tokens and the employee's context window is "
        f"{context_tokens}, of which {max_output_tokens} are kept for its answer "
        "(max_output_tokens); shorten the question, or ask an employee with a larger "
        "context_tokens"
    )


def check_question(prompt: str, employee: Employee) -> None:
    """Refuse, before it is queued, a threaded question too long for a named employee even
    without history (the worker checks again, with the history, for whichever employee)."""
    fit_history(uuid.UUID(int=0), (), prompt, context_tokens=employee.context_tokens,
                max_output_tokens=employee.max_output_tokens)


def _thread(row: Any) -> Thread:
    return Thread(row["id"], row["title"], row["created_by"], row["created_at"],
                  row["updated_at"], row["message_count"])


def _message(row: Any) -> ThreadMessage:
    return ThreadMessage(row["seq"], row["role"], row["text"], row["job_id"], row["client"],
                         row["employee"], row["tokens"], row["created_at"])


class Threads:
    """Reads threads and composes a threaded question's prompt. Threads are written by the
    job statements (`submit_job` starts one, finishing a question appends to it)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, thread_id: uuid.UUID | str) -> Thread:
        key = parse_id(thread_id, "thread id")
        async with self.db.connection() as conn:
            row = await conn.fetchrow(_T["get_thread"], key)
        if row is None:
            raise NotFound(f"no thread {key}; list_threads shows the threads there are")
        return _thread(row)

    async def list_threads(self, *, limit: int = 20, after: Thread | None = None) -> list[Thread]:
        """Newest first; `after` (the last thread of the previous page) pages on."""
        if not 1 <= limit <= 500:
            raise InvalidInput("limit must be between 1 and 500")
        async with self.db.connection() as conn:
            rows = await conn.fetch(_T["list_threads"], limit,
                                    after.created_at if after else None,
                                    after.id if after else None)
        return [_thread(row) for row in rows]

    async def messages(self, thread_id: uuid.UUID) -> list[ThreadMessage]:
        async with self.db.connection() as conn:
            rows = await conn.fetch(_T["thread_messages"], thread_id)
        return [_message(row) for row in rows]

    async def prompt_for(self, job: Job, employee: Employee) -> Fitted:
        """What `employee` is sent for `job`: the prompt as written, or for a threaded
        question the thread so far (cut to fit) and the question."""
        if job.thread_id is None:
            return Fitted(job.prompt, 0, 0)
        history = await self.messages(job.thread_id)
        return fit_history(job.thread_id, history, job.prompt,
                           context_tokens=employee.context_tokens,
                           max_output_tokens=employee.max_output_tokens)
