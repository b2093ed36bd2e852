"""Starting `aura up` as a person would: what it prints, and the clear refusals.

Each test runs real `aura up` processes on throw-away homes, with a private per-user state
directory (XDG_STATE_HOME), so the machine's own running Aura, if any, is never touched.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import free_port

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]


def _env(root: Path, home: Path, api: int, mcp: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AURA_", "XDG_"))}
    env.update({"HOME": str(root / "user"), "XDG_STATE_HOME": str(root / "state"),
                "AURA_HOME": str(home), "AURA_API_PORT": str(api), "AURA_MCP_PORT": str(mcp),
                "AURA_BACKUP_AFTER_MIGRATE": "false", "PYTHONUNBUFFERED": "1", **extra})
    return env


def _aura(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "mcp_server.cli", *args], cwd=cwd, env=env,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture
def first(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, str], int]]:
    """A first `aura up` on a fresh home, ready, with the human log view."""
    api, mcp = free_port(), free_port()
    env = _env(tmp_path, tmp_path / "home", api, mcp, AURA_LOG_FORMAT="human")
    proc = _aura(["up"], env, tmp_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            if httpx.get(f"http://127.0.0.1:{api}/ready", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    try:
        yield proc, env, api
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=20)


def test_a_first_start_prints_little_before_the_banner_and_says_what_is_missing(
    first: tuple[subprocess.Popen[str], dict[str, str], int],
) -> None:
    proc, _, _ = first
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    before_banner = out.splitlines()  # the feed is stdout; the banner is stderr
    printed_first = [line for line in before_banner if "stopped" not in line]
    assert len(printed_first) <= 3, printed_first  # no initdb chatter, no uvicorn notices
    assert "Traceback" not in out + err and "RuntimeDirWarning" not in out + err
    assert "Aura Orchestra is up" in err
    assert "No workspaces" in err and "AURA_WORKSPACES" in err
    assert "No employees" in err and "aura hire" in err
    seconds = float(err.split(") in ")[1].split("s")[0])
    assert seconds > 0.3  # counted from the process's start, imports included


def test_a_second_up_on_the_same_home_is_refused_in_one_line(
    first: tuple[subprocess.Popen[str], dict[str, str], int], tmp_path: Path,
) -> None:
    proc, env, api = first
    other = {**env, "AURA_API_PORT": str(free_port()), "AURA_MCP_PORT": str(free_port())}
    second = _aura(["up"], other, tmp_path)
    out, err = second.communicate(timeout=30)
    assert second.returncode == 2, (out, err)
    assert "already running from" in err and str(proc.pid) in err
    assert "Traceback" not in err
    assert httpx.get(f"http://127.0.0.1:{api}/ready", timeout=5).status_code == 200


def test_a_taken_port_is_one_line_naming_it(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = _env(tmp_path, tmp_path / "home", port, free_port())
        proc = _aura(["up"], env, tmp_path)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2, (out, err)
    assert f"port {port}" in err and "AURA_API_PORT" in err and "Traceback" not in err
    assert not (tmp_path / "home" / "pg").exists()  # refused before touching the database


def test_verbs_find_the_running_aura_from_another_directory(
    first: tuple[subprocess.Popen[str], dict[str, str], int], tmp_path: Path,
) -> None:
    _, env, _ = first
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    # No AURA_HOME, no port: only the per-user record of the running Aura says where it is.
    bare = {k: v for k, v in env.items() if k not in ("AURA_HOME", "AURA_API_PORT")}
    hired = _aura(["hire", "helper", "--adapter", "cli", "--command", '["/bin/echo"]',
                   "--json"], bare, elsewhere)
    out, err = hired.communicate(timeout=30)
    assert hired.returncode == 0, err
    listed = _aura(["employees", "--json"], bare, elsewhere)
    out, err = listed.communicate(timeout=30)
    assert listed.returncode == 0, err
    assert "helper" in out
    assert not (elsewhere / ".aura").exists()  # nothing was created here
