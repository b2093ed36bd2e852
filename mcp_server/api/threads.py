"""`/api/v1/threads`: the conversations of `ask`, newest first, and one with its messages."""

from __future__ import annotations

from starlette.requests import Request

from mcp_server.api import models
from mcp_server.api.fields import THREAD_ID
from mcp_server.api.models import Page, ThreadList
from mcp_server.api.payloads import read_query
from mcp_server.api.routing import ApiRoute, ApiServices, Operation
from orchestra.threads import Thread, ThreadMessage


def summary_view(thread: Thread) -> models.ThreadSummary:
    return models.ThreadSummary(
        thread_id=str(thread.id), title=thread.title, created_by=thread.created_by,
        created_at=thread.created_at.isoformat(), last_activity=thread.updated_at.isoformat(),
        message_count=thread.message_count)


def message_view(message: ThreadMessage) -> models.ThreadMessage:
    return models.ThreadMessage.model_validate({
        "seq": message.seq, "role": message.role, "text": message.text,
        "job_id": str(message.job_id), "client": message.client,
        "employee": message.employee, "tokens": message.tokens,
        "created_at": message.created_at.isoformat()})


def routes(s: ApiServices) -> list[ApiRoute]:
    threads = s.tools.threads

    async def list_threads(request: Request) -> ThreadList:
        query = read_query(request, Page)
        found = await threads.list_threads(limit=query.limit)
        return ThreadList(threads=[summary_view(t) for t in found])

    async def get_thread(request: Request) -> models.Thread:
        thread = await threads.get(request.path_params["thread_id"])
        messages = await threads.messages(thread.id)
        return models.Thread(**summary_view(thread).model_dump(),
                             messages=[message_view(m) for m in messages])

    return [
        ApiRoute("/threads", {
            "GET": Operation(list_threads, "Conversation threads of ask, newest first.",
                             query=Page, answer=ThreadList),
        }),
        ApiRoute("/threads/{thread_id}", {
            "GET": Operation(get_thread, "One thread and all its messages, oldest first.",
                             answer=models.Thread),
        }, params={"thread_id": THREAD_ID}),
    ]
