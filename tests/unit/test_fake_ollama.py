"""The fake Ollama server, checked through the official `ollama` client."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import ollama
import pytest

from tests.fakes.ollama_server import FakeOllama, parse_keep_alive

ROOT = Path(__file__).resolve().parents[2]
USER_HI = [{"role": "user", "content": "hello there little model"}]


@pytest.fixture
def client(fake: FakeOllama) -> Iterator[ollama.Client]:
    with ollama.Client(host=fake.url) as c:
        yield c


def test_chat_without_streaming_echoes_the_last_user_message_and_counts_words(
    client: ollama.Client,
) -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "second question please"},
    ]
    reply = client.chat("llama3.2", messages=messages)

    assert reply.message.role == "assistant"
    assert reply.message.content == "echo: second question please"
    assert reply.done is True
    assert reply.done_reason == "stop"
    assert reply.model == "llama3.2"
    assert reply.created_at
    assert reply.prompt_eval_count == 9  # every word the model was sent
    assert reply.eval_count == 4
    assert reply.total_duration and reply.total_duration > 0
    assert reply.load_duration and reply.load_duration > 0


def test_chat_streams_fragments_then_one_final_done_object_carrying_the_counts(
    client: ollama.Client,
) -> None:
    parts = list(client.chat("llama3.2", messages=USER_HI, stream=True))

    assert len(parts) > 2
    assert all(p.done is False for p in parts[:-1])
    final = parts[-1]
    assert final.done is True and final.done_reason == "stop"
    assert final.prompt_eval_count == 4 and final.eval_count == 5
    assert final.total_duration and final.load_duration
    assert "".join(p.message.content or "" for p in parts) == "echo: hello there little model"


def test_generate_answers_the_prompt_with_and_without_streaming(client: ollama.Client) -> None:
    whole = client.generate("qwen2.5-coder:7b", prompt="write a sort")
    assert whole.response == "echo: write a sort"
    assert (whole.prompt_eval_count, whole.eval_count) == (3, 4)
    assert whole.done_reason == "stop"

    parts = list(client.generate("qwen2.5-coder:7b", prompt="write a sort", stream=True))
    assert "".join(p.response or "" for p in parts) == "echo: write a sort"
    assert parts[-1].done is True and parts[-1].eval_count == 4
    assert all(not p.done for p in parts[:-1])


def test_empty_generate_loads_the_model_and_keep_alive_zero_unloads_it(
    client: ollama.Client, fake: FakeOllama
) -> None:
    assert client.ps().models == []

    loaded = client.generate("llama3.2", prompt="", keep_alive=-1)
    assert loaded.done is True and loaded.done_reason == "load"
    running = client.ps().models
    assert [m.model for m in running] == ["llama3.2:latest"]
    assert running[0].expires_at is not None and running[0].expires_at.year > 2100
    assert running[0].size_vram and running[0].size_vram > 0
    assert fake.loaded == {"llama3.2"}

    unloaded = client.generate("llama3.2", keep_alive=0)
    assert unloaded.done_reason == "unload"
    assert client.ps().models == []
    assert fake.loaded == set()


def test_a_model_used_with_a_short_keep_alive_expires_from_ps(
    client: ollama.Client, fake: FakeOllama
) -> None:
    client.chat("llama3.2", messages=USER_HI, keep_alive="200ms")
    assert "llama3.2" in fake.loaded
    time.sleep(0.3)
    assert client.ps().models == []


def test_chat_with_keep_alive_zero_answers_then_unloads(
    client: ollama.Client, fake: FakeOllama
) -> None:
    reply = client.chat("llama3.2", messages=USER_HI, keep_alive=0)
    assert reply.message.content == "echo: hello there little model"
    assert fake.loaded == set()


def test_tags_list_the_models_by_full_name_and_version_answers(
    client: ollama.Client, fake: FakeOllama
) -> None:
    names = [m.model for m in client.list().models]
    assert names == ["llama3.2:latest", "qwen2.5-coder:7b"]
    assert all(m.digest and m.size for m in client.list().models)
    assert httpx.get(f"{fake.url}/api/version").json()["version"]


def test_unknown_model_is_a_404_with_ollamas_message(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as chat_error:
        client.chat("mystery", messages=USER_HI)
    assert chat_error.value.status_code == 404
    assert chat_error.value.error == 'model "mystery" not found, try pulling it first'

    with pytest.raises(ollama.ResponseError) as stream_error:
        list(client.generate("mystery", prompt="x", stream=True))
    assert stream_error.value.status_code == 404


def test_scripted_and_default_replies_replace_the_echo(fake: FakeOllama) -> None:
    fake.script("llama3.2", "scripted answer")
    with ollama.Client(host=fake.url) as client:
        reply = client.chat("llama3.2:latest", messages=USER_HI)
        other = client.chat("qwen2.5-coder:7b", messages=USER_HI)
    assert reply.message.content == "scripted answer"
    assert reply.eval_count == 2
    assert other.message.content == "echo: hello there little model"

    with FakeOllama(["m"], reply="always this") as lone, ollama.Client(host=lone.url) as c:
        assert c.generate("m", prompt="anything").response == "always this"


def test_a_scripted_sequence_answers_one_reply_per_call_then_falls_back(
    fake: FakeOllama,
) -> None:
    fake.script("llama3.2", "after")
    fake.script_sequence("llama3.2", ["first", "second"])
    with ollama.Client(host=fake.url) as client:
        replies = [client.chat("llama3.2", messages=USER_HI).message.content for _ in range(3)]
    assert replies == ["first", "second", "after"]


def test_delay_slows_only_the_delayed_model(client: ollama.Client, fake: FakeOllama) -> None:
    fake.delay("qwen2.5-coder:7b", 0.3)
    start = time.monotonic()
    client.chat("llama3.2", messages=USER_HI)
    fast = time.monotonic() - start
    start = time.monotonic()
    client.chat("qwen2.5-coder:7b", messages=USER_HI)
    slow = time.monotonic() - start
    assert fast < 0.2
    assert slow >= 0.3


def test_requests_are_recorded_in_order_with_their_bodies(
    client: ollama.Client, fake: FakeOllama
) -> None:
    client.generate("llama3.2", prompt="", keep_alive="10m")
    client.chat("llama3.2", messages=USER_HI)
    client.ps()

    assert [(r.method, r.path) for r in fake.requests] == [
        ("POST", "/api/generate"),
        ("POST", "/api/chat"),
        ("GET", "/api/ps"),
    ]
    assert fake.requests[0].body is not None
    assert fake.requests[0].body["keep_alive"] == "10m"
    assert fake.requests[1].body is not None
    assert fake.requests[1].body["messages"] == USER_HI


def test_malformed_keep_alive_is_a_400(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as error:
        client.generate("llama3.2", prompt="", keep_alive="soon")
    assert error.value.status_code == 400
    assert "invalid duration" in error.value.error


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, 300.0),
        (-1, None),
        ("-1m", None),
        (0, 0.0),
        ("0", 0.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("250ms", 0.25),
        ("3600", 3600.0),
        (12.5, 12.5),
    ],
)
def test_keep_alive_follows_ollamas_duration_rules(value: object, seconds: float | None) -> None:
    assert parse_keep_alive(value) == seconds


def test_runs_as_a_script_on_the_given_port_with_the_given_models_and_reply() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakes.ollama_server",
            "--port",
            "0",
            "--models",
            "a,b:1b",
            "--reply",
            "scripted reply",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("fake ollama listening on http://127.0.0.1:")
        url = line.split()[-1]
        with ollama.Client(host=url) as client:
            assert [m.model for m in client.list().models] == ["a:latest", "b:1b"]
            reply = client.chat("b:1b", messages=USER_HI)
            assert reply.message.content == "scripted reply"
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
