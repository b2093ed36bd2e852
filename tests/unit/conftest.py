"""Fixtures shared by the unit tests: one fake Ollama per module, reset for every test; a
committed project and the sandboxes over it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestra.sandbox import Sandboxes
from tests.fakes.ollama_server import FakeOllama
from tests.unit.trees import git

FAKE_MODELS = ("llama3.2", "qwen2.5-coder:7b")


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOllama]:
    with FakeOllama(FAKE_MODELS) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeOllama) -> FakeOllama:
    server.reset()
    return server


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A committed git project with an ignored .env and an ignored dependency folder."""
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "mod.py").write_text("def f():\n    return 1\n")
    (root / "README.md").write_text("hello\n")
    (root / "data.bin").write_bytes(b"\x00\x01\x02")
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "run.sh").chmod(0o755)
    (root / "old-name.txt").write_text("a file that will be renamed\n" * 5)
    (root / "gone.txt").write_text("to be deleted\n")
    (root / "link").symlink_to("README.md")
    (root / ".gitignore").write_text(".env\n__pycache__/\nnode_modules/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "initial")
    (root / ".env").write_text("API_KEY=secret\n")
    (root / "node_modules" / "dep").mkdir(parents=True)
    (root / "node_modules" / "dep" / "index.js").write_text("module.exports = 42;\n")
    return root


@pytest.fixture
def boxes(tmp_path: Path) -> Sandboxes:
    return Sandboxes(tmp_path / "sandboxes", tmp_path / "snapshots")
