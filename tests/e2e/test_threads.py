"""A thread continued after a restart, from another IDE: `aura up` as a subprocess (server and
worker), stopped and started again on the same data, driven over streamable HTTP with two
client tokens. The fake Ollama runs in this process, so the test reads what it was sent."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_spine import Aura, mcp_client
from tests.fakes.ollama_server import FakeOllama

pytestmark = pytest.mark.e2e

FIRST_ANSWER = "the secret word is heron"
SECOND_ANSWER = "you told me heron"


@pytest.fixture
def ollama() -> Iterator[FakeOllama]:
    with FakeOllama(("llama3.2",)) as fake:
        fake.script_sequence("llama3.2", [FIRST_ANSWER, SECOND_ANSWER])
        yield fake


@pytest.fixture
def aura(tmp_path: Path, ollama: FakeOllama) -> Iterator[Aura]:
    system = Aura(root=tmp_path, ollama_url=ollama.url)
    system.workspace.mkdir()
    system.start()
    try:
        yield system
    finally:
        system.stop(signal.SIGTERM)
        system.kill()


def _director(aura: Aura) -> httpx.Client:
    return httpx.Client(base_url=f"{aura.api}/api/v1", timeout=30,
                        headers={"Authorization": f"Bearer {aura.director_key}"})


async def _ask(aura: Aura, token: str, **arguments: Any) -> dict[str, Any]:
    async with mcp_client(aura, token) as client:
        result = await client.call_tool("ask", {"employee": "llama", "timeout_s": 30,
                                                **arguments})
    assert not result.is_error, result.content
    answer = dict(result.structured_content or {})
    assert answer["answered"] is True, answer
    return answer


async def test_a_thread_continues_after_a_restart_from_another_clients_token(
    aura: Aura, ollama: FakeOllama
) -> None:
    with _director(aura) as director:
        tokens = {name: director.post("/tokens", json={"name": name}).json()["token"]
                  for name in ("ide-a", "ide-b")}
        hired = director.post("/employees", json={
            "name": "llama", "adapter": "ollama", "model": "llama3.2"})
        assert hired.status_code == 201, hired.text

    first = await _ask(aura, tokens["ide-a"], prompt="remember a secret word for me",
                       new_thread=True)
    assert first["answer"] == FIRST_ANSWER

    aura.stop_and_check()
    aura.start()

    second = await _ask(aura, tokens["ide-b"], prompt="what was the word?",
                        thread_id=first["thread_id"])
    assert second["answer"] == SECOND_ANSWER and second["thread_id"] == first["thread_id"]
    chats = [r.body for r in ollama.requests if r.path == "/api/chat" and r.body
             and r.body.get("messages")]
    sent = chats[-1]["messages"][-1]["content"]
    assert "remember a secret word for me" in sent and FIRST_ANSWER in sent
    assert sent.endswith("what was the word?")

    with _director(aura) as director:
        thread = director.get(f"/threads/{first['thread_id']}").json()
        listed = director.get("/threads").json()["threads"]
    assert [(m["role"], m["client"]) for m in thread["messages"]] == [
        ("user", "ide-a"), ("assistant", "ide-a"), ("user", "ide-b"), ("assistant", "ide-b")]
    assert thread["created_by"] == "ide-a"
    assert [t["thread_id"] for t in listed] == [first["thread_id"]]
