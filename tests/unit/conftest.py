"""Fixtures shared by the unit tests: one fake Ollama per module, reset for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.ollama_server import FakeOllama

FAKE_MODELS = ("llama3.2", "qwen2.5-coder:7b")


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOllama]:
    with FakeOllama(FAKE_MODELS) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeOllama) -> FakeOllama:
    server.reset()
    return server
