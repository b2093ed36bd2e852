"""Thread tools: list_threads, and what `ask` needs to start or continue a thread."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field

from orchestra.errors import InvalidInput
from orchestra.threads import Thread, check_question
from tools.errors import tool_errors
from tools.inputs import UUID_PATTERN, CleanText
from tools.services import ToolServices

ThreadId = Annotated[str, CleanText(
    pattern=UUID_PATTERN,
    rule="must be a thread id: a UUID such as 0b5c4f9e-3f1a-4d2b-9c8e-1a2b3c4d5e6f",
)]
ThreadArgument = Annotated[ThreadId | None, Field(
    description="continue this thread (a thread_id from an earlier ask or list_threads, any "
    "client's): the employee is sent its earlier messages")]
NewThreadArgument = Annotated[bool, Field(
    description="start a new thread with this question; the result's thread_id continues it")]


async def question_thread(
    services: ToolServices, thread_id: str | None, new_thread: bool, prompt: str,
    employee: str | None,
) -> tuple[uuid.UUID | None, bool]:
    """The thread a question goes to and whether it starts it: (None, False) for a question
    without one. An unknown thread, or a question too long for the named employee's context
    window, is refused before anything is queued."""
    if thread_id is not None and new_thread:
        raise InvalidInput("give thread_id to continue a thread or new_thread to start one, "
                           "not both")
    if thread_id is None and not new_thread:
        return None, False
    if employee is not None:
        check_question(prompt, await services.roster.get(employee))
    if thread_id is None:
        return uuid.uuid4(), True
    return (await services.threads.get(thread_id)).id, False


class ThreadSummary(BaseModel):
    thread_id: str
    title: str = Field(description="the start of its first question")
    created_by: str = Field(description="the client that started it")
    created_at: datetime
    last_activity: datetime = Field(description="when its last message was added")
    message_count: int = Field(description="questions and answers so far")


class ThreadList(BaseModel):
    threads: list[ThreadSummary]
    next_cursor: str | None = Field(description="pass as cursor for the next page; null at "
                                    "the end")


def thread_summary(thread: Thread) -> ThreadSummary:
    return ThreadSummary(thread_id=str(thread.id), title=thread.title,
                         created_by=thread.created_by, created_at=thread.created_at,
                         last_activity=thread.updated_at, message_count=thread.message_count)


def register(server: MCPServer, services: ToolServices) -> None:
    @tool_errors
    async def list_threads(
        limit: Annotated[int, Field(ge=1, le=100, description="threads per page")] = 20,
        cursor: Annotated[ThreadId | None, Field(
            description="next_cursor from the previous page")] = None,
    ) -> ThreadList:
        after = await services.threads.get(cursor) if cursor is not None else None
        threads = await services.threads.list_threads(limit=limit, after=after)
        more = len(threads) == limit
        return ThreadList(threads=[thread_summary(t) for t in threads],
                          next_cursor=str(threads[-1].id) if more else None)

    server.add_tool(
        list_threads,
        description="Conversation threads of ask, every client's, newest first, with message "
        "counts and last activity. Pass a thread_id to ask to continue one.",
        annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True),
    )
