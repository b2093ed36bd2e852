"""The Ollama employee, through the official client, against the fake Ollama server."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchestra.employees.base import EmployeeFailed, EmployeeTimeout, WorkRequest
from orchestra.employees.cli import CliEmployee
from orchestra.employees.factory import build_adapter
from orchestra.employees.ollama import OllamaEmployee
from orchestra.errors import InvalidInput
from orchestra.models import Adapter, Employee
from orchestra.runlog import RunLog
from tests.fakes.ollama_server import FakeOllama

MODEL = "llama3.2"
ALICE = Employee(name="alice", adapter=Adapter.OLLAMA, model=MODEL)


@pytest.fixture
async def alice(fake: FakeOllama) -> AsyncIterator[OllamaEmployee]:
    adapter = OllamaEmployee(ALICE, fake.url)
    yield adapter
    await adapter.aclose()


@pytest.fixture
def runlog(tmp_path: Path) -> RunLog:
    return RunLog(tmp_path / "job" / "runlog.txt")


def ask(prompt: str, timeout_s: float = 10.0) -> WorkRequest:
    return WorkRequest(prompt=prompt, copy=None, timeout_s=timeout_s)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_work_returns_the_reply_and_the_token_counts(
    alice: OllamaEmployee, runlog: RunLog
) -> None:
    result = await alice.work(ask("add two numbers please"), runlog)

    assert result.text == "echo: add two numbers please"
    assert result.usage.tokens_in == 4
    assert result.usage.tokens_out == 5
    assert result.exit_code is None


async def test_work_sends_one_user_message_without_streaming_and_keeps_the_model_resident(
    alice: OllamaEmployee, fake: FakeOllama, runlog: RunLog
) -> None:
    await alice.work(ask("hello"), runlog)

    (chat,) = [r for r in fake.requests if r.path == "/api/chat"]
    assert chat.body is not None
    assert chat.body["messages"] == [{"role": "user", "content": "hello"}]
    assert chat.body["stream"] is False
    assert chat.body["keep_alive"] == -1
    assert fake.loaded == {MODEL}


async def test_work_uses_the_scripted_reply_of_its_model(
    alice: OllamaEmployee, fake: FakeOllama, runlog: RunLog
) -> None:
    fake.script(MODEL, "def add(a, b):\n    return a + b\n")
    result = await alice.work(ask("write add"), runlog)
    assert result.text == "def add(a, b):\n    return a + b\n"
    assert result.usage.tokens_out == 7


async def test_load_makes_the_model_resident_and_unload_frees_it(
    alice: OllamaEmployee, fake: FakeOllama
) -> None:
    assert fake.loaded == set()
    await alice.load()
    assert fake.loaded == {MODEL}
    load = fake.requests[-1]
    assert load.path == "/api/generate" and load.body is not None
    assert load.body["keep_alive"] == -1 and load.body.get("prompt", "") == ""

    await alice.unload()
    assert fake.loaded == set()
    unload = fake.requests[-1]
    assert unload.body is not None and unload.body["keep_alive"] == 0


async def test_keep_alive_setting_is_sent_on_load_and_work(
    fake: FakeOllama, runlog: RunLog
) -> None:
    adapter = OllamaEmployee(ALICE, fake.url, keep_alive="10m")
    try:
        await adapter.load()
        await adapter.work(ask("hi"), runlog)
    finally:
        await adapter.aclose()
    assert [r.body["keep_alive"] for r in fake.requests if r.body] == ["10m", "10m"]


async def test_work_slower_than_the_timeout_raises_employee_timeout(
    alice: OllamaEmployee, fake: FakeOllama, runlog: RunLog
) -> None:
    fake.delay(MODEL, 5)
    start = time.monotonic()
    with pytest.raises(EmployeeTimeout, match=r"did not answer within 0\.3s"):
        await alice.work(ask("slow one", timeout_s=0.3), runlog)
    assert time.monotonic() - start < 2
    assert "TIMEOUT alice" in runlog.path.read_text()


async def test_unknown_model_fails_with_a_message_naming_employee_model_and_url(
    fake: FakeOllama, runlog: RunLog
) -> None:
    ghost = Employee(name="ghost", adapter=Adapter.OLLAMA, model="nonexistent:13b")
    adapter = OllamaEmployee(ghost, fake.url)
    try:
        with pytest.raises(EmployeeFailed) as failure:
            await adapter.work(ask("anyone there?"), runlog)
        with pytest.raises(EmployeeFailed, match="could not load"):
            await adapter.load()
    finally:
        await adapter.aclose()
    message = str(failure.value)
    assert not isinstance(failure.value, EmployeeTimeout)
    assert "'ghost'" in message
    assert "'nonexistent:13b'" in message
    assert fake.url in message
    assert "not found, try pulling it first" in message
    assert "ERROR from ghost" in runlog.path.read_text()


async def test_unreachable_server_fails_with_employee_failed(runlog: RunLog) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    adapter = OllamaEmployee(ALICE, url)
    try:
        with pytest.raises(EmployeeFailed, match="could not answer") as failure:
            await adapter.work(ask("hello?"), runlog)
        with pytest.raises(EmployeeFailed, match="could not load"):
            await adapter.load()
        with pytest.raises(EmployeeFailed, match="could not unload"):
            await adapter.unload()
    finally:
        await adapter.aclose()
    assert url in str(failure.value)
    assert not isinstance(failure.value, EmployeeTimeout)


async def test_run_log_holds_the_prompt_and_the_reply(
    alice: OllamaEmployee, runlog: RunLog
) -> None:
    await alice.work(ask("what is two plus two"), runlog)

    log = runlog.path.read_text()
    prompt_at = log.index(f"PROMPT to alice (ollama {MODEL})\nwhat is two plus two\n")
    reply_at = log.index("REPLY from alice\necho: what is two plus two\n")
    assert prompt_at < reply_at


def test_an_ollama_employee_without_a_model_is_invalid() -> None:
    with pytest.raises(InvalidInput, match="names no model"):
        OllamaEmployee(Employee(name="blank", adapter=Adapter.OLLAMA), "http://127.0.0.1:1")


# --------------------------------------------------------------------------- the factory


def test_factory_builds_ollama_employees_on_their_own_url_or_the_default() -> None:
    default = "http://127.0.0.1:11434"
    plain = build_adapter(ALICE, ollama_url=default)
    own = build_adapter(
        Employee(name="b", adapter=Adapter.OLLAMA, model=MODEL, base_url="http://gpu:11434"),
        ollama_url=default,
    )
    assert isinstance(plain, OllamaEmployee) and plain.base_url == default
    assert isinstance(own, OllamaEmployee) and own.base_url == "http://gpu:11434"


def test_factory_builds_cli_employees() -> None:
    employee = Employee(name="c", adapter=Adapter.CLI, command=("echo", "{prompt}"))
    assert isinstance(build_adapter(employee, ollama_url="http://x"), CliEmployee)


