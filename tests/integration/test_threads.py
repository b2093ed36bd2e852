"""Threads for `ask` over the MCP in-memory client: continued with their history, by any
client, cut to the employee's context window, listed, and readable through the API."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from mcp.client.client import Client

from mcp_server.app import System
from orchestra.models import JobKind, NewJob
from orchestra.threads import estimate_tokens
from tests.fakes.ollama_server import FakeOllama
from tests.integration.helpers import hire, running_worker
from tests.integration.test_mcp_tools import call, tool_error

DIRECTOR = {"Authorization": "Bearer test-director-key"}


def _prompts_received(ollama: FakeOllama) -> list[str]:
    """What the employee was sent, call by call (the ollama adapter chats one user message)."""
    return [r.body["messages"][-1]["content"] for r in ollama.requests
            if r.path == "/api/chat" and r.body and r.body.get("messages")]


async def _messages(system: System, thread_id: str) -> list[asyncpg.Record]:
    async with system.db.connection() as conn:
        return list(await conn.fetch(
            "SELECT seq, role, text, client, employee, job_id, tokens FROM thread_messages "
            "WHERE thread_id = $1 ORDER BY seq", uuid.UUID(thread_id)))


async def test_a_continued_thread_sends_the_first_exchange_to_the_employee(
    system: System, ollama: FakeOllama
) -> None:
    await hire(system.db, "llama", "ollama")
    ollama.script_sequence("llama", ["Paris.", "Madrid."])
    async with running_worker(system), Client(system.mcp_server()) as client:
        first = await call(client, "ask", prompt="capital of France?", employee="llama",
                           new_thread=True)
        second = await call(client, "ask", prompt="and of Spain?", employee="llama",
                            thread_id=first["thread_id"])
    assert first["answer"] == "Paris." and second["answer"] == "Madrid."
    assert second["thread_id"] == first["thread_id"]
    sent_first, sent_second = _prompts_received(ollama)
    assert sent_first == "capital of France?"  # a new thread has no history to send
    assert "capital of France?" in sent_second and "Paris." in sent_second
    assert sent_second.index("Paris.") < sent_second.index("and of Spain?")
    assert "left out" not in sent_second
    rows = await _messages(system, first["thread_id"])
    assert [(r["seq"], r["role"], r["text"]) for r in rows] == [
        (1, "user", "capital of France?"), (2, "assistant", "Paris."),
        (3, "user", "and of Spain?"), (4, "assistant", "Madrid."),
    ]
    assert rows[0]["tokens"] == estimate_tokens("capital of France?")


async def test_another_client_continues_a_thread_and_each_message_names_who_asked(
    system: System, ollama: FakeOllama
) -> None:
    await hire(system.db, "llama", "ollama")
    thread = uuid.uuid4()
    async with running_worker(system), Client(system.mcp_server()) as client:
        started = await system.queue.submit(
            NewJob(prompt="remember the word zebra", kind=JobKind.ASK, employee="llama",
                   client="zed", thread_id=thread, starts_thread=True), actor="client:zed")
        await call(client, "wait_job", job_id=str(started.job.id), timeout_s=20)
        answer = await call(client, "ask", prompt="which word?", employee="llama",
                            thread_id=str(thread))
    assert answer["answered"] and answer["thread_id"] == str(thread)
    assert "remember the word zebra" in _prompts_received(ollama)[-1]
    rows = await _messages(system, str(thread))
    assert [(r["role"], r["client"], r["employee"]) for r in rows] == [
        ("user", "zed", None), ("assistant", "zed", "llama"),
        ("user", "stdio", None), ("assistant", "stdio", "llama"),
    ]
    async with system.db.connection() as conn:
        audited = await conn.fetch(
            "SELECT actor, action, details FROM audit_log WHERE subject = $1 ORDER BY seq",
            str(thread))
    assert [a["action"] for a in audited] == [
        "thread.started", "thread.appended", "thread.appended"]
    assert audited[0]["actor"] == "client:zed"
    appended = [a for a in audited if a["action"] == "thread.appended"]
    assert [a["details"]["client"] for a in appended] == ["zed", "stdio"]
    assert [a["details"]["seq"] for a in appended] == [[1, 2], [3, 4]]
    assert (await system.auditor.verify(system.db)).ok


async def test_a_long_history_is_cut_to_the_context_and_the_prompt_says_so(
    system: System, ollama: FakeOllama
) -> None:
    context, cap = 600, 100
    await hire(system.db, "llama", "ollama", context_tokens=context, max_output_tokens=cap)
    ollama.script("llama", "noted " * 40)  # about 80 tokens an answer
    long_question = "please keep this in mind: " + "detail " * 50  # about 120 tokens
    async with running_worker(system), Client(system.mcp_server()) as client:
        first = await call(client, "ask", prompt=f"#1 {long_question}", employee="llama",
                           new_thread=True)
        for n in range(2, 6):
            await call(client, "ask", prompt=f"#{n} {long_question}", employee="llama",
                       thread_id=first["thread_id"])
    last = _prompts_received(ollama)[-1]
    assert estimate_tokens(last) + cap <= context
    assert "earlier messages were left out to fit your context window" in last
    assert "#1 " not in last and "#4 " in last and last.endswith(f"#5 {long_question}")
    assert len(await _messages(system, first["thread_id"])) == 10  # nothing was lost


async def test_a_question_too_long_for_the_context_is_refused_before_it_is_queued(
    system: System
) -> None:
    await hire(system.db, "tiny", "ollama", context_tokens=300, max_output_tokens=200)
    async with Client(system.mcp_server()) as client:
        message = await tool_error(client, "ask", prompt="x" * 400, employee="tiny",
                                   new_thread=True)
    assert "context window is 300" in message and "max_output_tokens" in message
    async with system.db.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM jobs") == 0
        assert await conn.fetchval("SELECT count(*) FROM threads") == 0


async def test_an_unknown_thread_is_a_clear_tool_error(system: System) -> None:
    await hire(system.db, "llama", "ollama")
    ghost = uuid.uuid4()
    async with Client(system.mcp_server()) as client:
        unknown = await tool_error(client, "ask", prompt="hi", employee="llama",
                                   thread_id=str(ghost))
        malformed = await tool_error(client, "ask", prompt="hi", thread_id="not-a-thread")
        both = await tool_error(client, "ask", prompt="hi", thread_id=str(ghost),
                                new_thread=True)
    assert f"no thread {ghost}" in unknown and "list_threads" in unknown
    assert "thread id" in malformed
    assert "not both" in both
    async with system.db.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM jobs") == 0


async def test_an_answer_after_ask_gave_up_waiting_is_appended_once(
    system: System, ollama: FakeOllama
) -> None:
    await hire(system.db, "llama", "ollama")
    ollama.delay("llama", 1.5)
    async with running_worker(system), Client(system.mcp_server()) as client:
        answer = await call(client, "ask", prompt="slow question", employee="llama",
                            new_thread=True, timeout_s=0.2)
        assert not answer["answered"] and answer["thread_id"]
        assert await _messages(system, answer["thread_id"]) == []
        done = await call(client, "wait_job", job_id=answer["job_id"], timeout_s=20)
        again = await call(client, "wait_job", job_id=answer["job_id"], timeout_s=1)
    assert done["status"] == again["status"] == "succeeded"
    rows = await _messages(system, answer["thread_id"])
    assert [(r["role"], str(r["job_id"])) for r in rows] == [
        ("user", answer["job_id"]), ("assistant", answer["job_id"])]


async def test_a_failed_question_leaves_its_thread_as_it_was(
    system: System, ollama: FakeOllama
) -> None:
    await hire(system.db, "llama", "ollama", model="not-pulled")
    async with running_worker(system), Client(system.mcp_server()) as client:
        answer = await call(client, "ask", prompt="anyone?", employee="llama",
                            new_thread=True, timeout_s=20)
        listed = await call(client, "list_threads")
    assert answer["status"] == "failed" and answer["thread_id"]
    assert await _messages(system, answer["thread_id"]) == []
    assert listed["threads"][0]["message_count"] == 0


async def test_thread_messages_are_append_only(system: System, ollama: FakeOllama) -> None:
    await hire(system.db, "llama", "ollama")
    async with running_worker(system), Client(system.mcp_server()) as client:
        answer = await call(client, "ask", prompt="keep me", employee="llama", new_thread=True)
    async with system.db.connection() as conn:
        for statement in ("UPDATE thread_messages SET text = 'rewritten'",
                          "DELETE FROM thread_messages", "TRUNCATE thread_messages"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(statement)
    assert len(await _messages(system, answer["thread_id"])) == 2


async def test_list_threads_pages_newest_first_with_counts_and_activity(
    system: System, ollama: FakeOllama
) -> None:
    await hire(system.db, "llama", "ollama")
    async with running_worker(system), Client(system.mcp_server()) as client:
        ids = []
        for n in range(3):
            ids.append((await call(client, "ask", prompt=f"topic {n}\n  with   spaces",
                                   employee="llama", new_thread=True))["thread_id"])
        await call(client, "ask", prompt="more on topic 0", employee="llama",
                   thread_id=ids[0])
        page1 = await call(client, "list_threads", limit=2)
        page2 = await call(client, "list_threads", limit=2, cursor=page1["next_cursor"])
    listed = page1["threads"] + page2["threads"]
    assert [t["thread_id"] for t in listed] == ids[::-1]
    assert page2["next_cursor"] is None
    by_id = {t["thread_id"]: t for t in listed}
    assert by_id[ids[0]]["message_count"] == 4 and by_id[ids[1]]["message_count"] == 2
    assert by_id[ids[0]]["title"] == "topic 0 with spaces"
    assert by_id[ids[0]]["created_by"] == "stdio"
    assert by_id[ids[0]]["last_activity"] > by_id[ids[2]]["last_activity"]


async def test_the_director_reads_threads_through_the_api(
    system: System, ollama: FakeOllama, api: httpx.AsyncClient
) -> None:
    await hire(system.db, "llama", "ollama")
    async with running_worker(system), Client(system.mcp_server()) as client:
        answer = await call(client, "ask", prompt="hello there", employee="llama",
                            new_thread=True)
    listed = await api.get("/api/v1/threads", headers=DIRECTOR)
    one = await api.get(f"/api/v1/threads/{answer['thread_id']}", headers=DIRECTOR)
    missing = await api.get(f"/api/v1/threads/{uuid.uuid4()}", headers=DIRECTOR)
    bad = await api.get("/api/v1/threads/nope", headers=DIRECTOR)
    refused = await api.get("/api/v1/threads")
    assert listed.status_code == 200
    assert [t["thread_id"] for t in listed.json()["threads"]] == [answer["thread_id"]]
    body: dict[str, Any] = one.json()
    assert one.status_code == 200 and body["message_count"] == 2
    assert [(m["role"], m["text"]) for m in body["messages"]] == [
        ("user", "hello there"), ("assistant", "echo: hello there")]
    assert missing.status_code == 404 and bad.status_code == 400
    assert refused.status_code == 401


async def test_context_tokens_is_set_on_hire_and_edit_and_moves_the_roster_version(
    system: System, api: httpx.AsyncClient
) -> None:
    hired = await api.post("/api/v1/employees", headers=DIRECTOR, json={
        "name": "big", "adapter": "ollama", "model": "llama", "context_tokens": 32768})
    assert hired.status_code == 201 and hired.json()["context_tokens"] == 32768
    async with system.db.connection() as conn:
        before = await conn.fetchval("SELECT version FROM roster_version")
    edited = await api.patch("/api/v1/employees/big", headers=DIRECTOR,
                             json={"context_tokens": 4096})
    too_small = await api.patch("/api/v1/employees/big", headers=DIRECTOR,
                                json={"context_tokens": 10})
    async with system.db.connection() as conn:
        after = await conn.fetchval("SELECT version FROM roster_version")
        audited = await conn.fetchval(
            "SELECT details FROM audit_log WHERE action = 'employee.edited' ORDER BY seq DESC "
            "LIMIT 1")
    assert edited.status_code == 200 and edited.json()["context_tokens"] == 4096
    assert after == before + 1
    assert audited["changed"] == {"context_tokens": {"from": 32768, "to": 4096}}
    assert too_small.status_code == 400 and "context_tokens" in too_small.text
    default = await api.post("/api/v1/employees", headers=DIRECTOR, json={
        "name": "plain", "adapter": "ollama", "model": "llama"})
    assert default.json()["context_tokens"] == 8192


