"""The stage `aura demo` plays on: a throwaway directory with a copy of the demo project, the
fake Ollama, and `aura up` as a child process on free loopback ports, whose home, workspace and
per-user state all live in that directory, so a Director's own Aura is never touched."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from mcp_server.demo.config import DemoScript
from mcp_server.demo.fake_ollama import FakeOllama
from mcp_server.home import director_key_path
from orchestra.errors import Unavailable

READY_WITHIN_S = 90.0
STOP_WITHIN_S = 15.0
_COPY_IGNORES = shutil.ignore_patterns("__pycache__", "*.pyc", ".git")


@dataclass(frozen=True)
class Stage:
    """Where everything is while the demo runs."""

    root: Path
    project: Path  # the copy the job works on (inside AURA_WORKSPACES)
    api_url: str
    mcp_url: str
    director_key: str
    log_path: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def copy_project(source: Path, workspace: Path) -> Path:
    """The demo project copied into the workspace; the original is never modified."""
    target = workspace / source.name
    shutil.copytree(source, target, ignore=_COPY_IGNORES)
    return target


def aura_environment(root: Path, script: DemoScript, ollama_url: str,
                     api_port: int, mcp_port: int) -> dict[str, str]:
    """The child's environment: the caller's, without any AURA_* setting of theirs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURA_")}
    env.update({
        "AURA_HOME": str(root / "home"),
        "AURA_WORKSPACES": str(root / "workspace"),
        "AURA_OLLAMA_URL": ollama_url,
        "AURA_API_PORT": str(api_port),
        "AURA_MCP_PORT": str(mcp_port),
        "AURA_POLICY_FILE": str(script.policy_file),
        "AURA_POLL_SECONDS": "0.5",
        # A throwaway database needs no backup; a real first start makes one.
        "AURA_BACKUP_AFTER_MIGRATE": "false",
        # The per-user pointer to "the running Aura" stays in the stage, so the Director's
        # own `aura` verbs keep finding their own Aura while the demo runs.
        "XDG_STATE_HOME": str(root / "state"),
        "PYTHONUNBUFFERED": "1",
    })
    return env


@contextlib.contextmanager
def staged(script: DemoScript, root: Path) -> Iterator[Stage]:
    """The fake and `aura up` running for the length of the block; both stopped after it."""
    (root / "workspace").mkdir(parents=True)
    project = copy_project(script.project, root / "workspace")
    with FakeOllama(script.models) as fake:
        fake.script(script.fake_model, script.fake_reply)
        api_port, mcp_port = _free_port(), _free_port()
        env = aura_environment(root, script, fake.url, api_port, mcp_port)
        log_path = root / "aura-up.log"
        with log_path.open("wb") as log:
            # cwd is the stage, so no `.env` or `.aura` of the caller's directory applies.
            proc = subprocess.Popen([sys.executable, "-m", "mcp_server.cli", "up"], cwd=root,
                                    env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            api_url = f"http://127.0.0.1:{api_port}"
            _wait_ready(proc, api_url, log_path)
            key = director_key_path(root / "home").read_text("utf-8").strip()
            yield Stage(root, project, api_url, f"http://127.0.0.1:{mcp_port}/mcp", key,
                        log_path)
        finally:
            _stop(proc)


def _wait_ready(proc: subprocess.Popen[bytes], api_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + READY_WITHIN_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Unavailable(f"aura up exited with code {proc.returncode}:\n{tail(log_path)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{api_url}/ready", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise Unavailable(f"aura up was not ready within {READY_WITHIN_S:g} s:\n{tail(log_path)}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_WITHIN_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text("utf-8", errors="replace").splitlines()[-lines:])
    return ""
