"""Finding Aura's home from any directory, and one process per home."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcp_server.home import (
    HomeInUse,
    Running,
    find_running,
    locate_home,
    occupy,
    pointer_path,
    user_default_home,
)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"HOME": str(tmp_path / "user")}


def _running(home: Path, pid: int | None = None) -> Running:
    return Running(home, pid or os.getpid(), "http://127.0.0.1:8000", "http://127.0.0.1:9000",
                   "2026-12-03T10:00:00Z")


def test_the_rules_in_order(env: dict[str, str], tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    assert locate_home(env, work) == user_default_home(env) == tmp_path / "user/.local/share/aura"
    (work / ".aura").mkdir()
    assert locate_home(env, work) == work / ".aura"
    assert locate_home({**env, "AURA_DATA_DIR": "/srv/old"}, work) == Path("/srv/old")
    assert locate_home({**env, "AURA_HOME": "/srv/aura", "AURA_DATA_DIR": "/x"}, work) == Path(
        "/srv/aura")


def test_verbs_find_the_running_aura_from_any_directory(
    env: dict[str, str], tmp_path: Path
) -> None:
    home = tmp_path / "checkout" / ".aura"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with occupy(_running(home), env):
        assert locate_home(env, elsewhere) == home
        running = find_running(env, elsewhere)
        assert running is not None and running.api_url == "http://127.0.0.1:8000"
    assert find_running(env, elsewhere) is None  # gone once it stopped
    assert not pointer_path(env).exists() and not (home / "run.json").exists()


def test_a_second_process_on_the_same_home_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    home = tmp_path / "home"
    script = (
        "import os, time\nfrom pathlib import Path\n"
        "from mcp_server.home import Running, occupy\n"
        f"r = Running(Path({str(home)!r}), os.getpid(), 'http://a', 'http://b', 't')\n"
        f"with occupy(r, {{'HOME': {env['HOME']!r}}}):\n"
        "    print('held', flush=True)\n    time.sleep(30)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(HomeInUse, match=f"already running from {home} .pid {holder.pid}"), \
                occupy(_running(home), env):
            pass
    finally:
        holder.kill()
        holder.wait()
    with occupy(_running(home), env):  # free again once the holder is gone
        pass


def test_a_stale_pointer_is_ignored(env: dict[str, str], tmp_path: Path) -> None:
    pointer = pointer_path(env)
    pointer.parent.mkdir(parents=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    pointer.write_text(_running(tmp_path / "gone", dead.pid).as_json().__repr__()
                       .replace("'", '"'))
    assert locate_home(env, tmp_path) == user_default_home(env)
