"""Where Aura lives (its home: database, keys, logs) and how to find the one that is running.

The home, first rule that applies:

1. `AURA_HOME` (or its older name `AURA_DATA_DIR`) when set;
2. `./.aura` when the current directory has one (a project-local home, as `scripts/dev_up.sh`
   makes in the checkout);
3. the home of the Aura running for this user, from the per-user pointer
   `$XDG_STATE_HOME/aura/running.json` (default `~/.local/state/aura/running.json`), so that
   verbs work from any directory;
4. the per-user default, `$XDG_DATA_HOME/aura` (default `~/.local/share/aura`).

A process that serves the API records itself in `<home>/run.json` and in the per-user pointer
while it runs, and holds `<home>/aura.lock` so a second one on the same home refuses to start.
Cheap to import (the standard library and `orchestra.errors`): the CLI uses it on every verb.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from orchestra.errors import Conflict

RUN_FILE = "run.json"
LOCK_FILE = "aura.lock"
LOCAL_HOME = ".aura"


@dataclass(frozen=True)
class Running:
    """A live `aura up`/`aura serve`, as it recorded itself."""

    home: Path
    pid: int
    api_url: str
    mcp_url: str
    started_at: str

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "home": str(self.home)}


class HomeInUse(Conflict):
    """Another Aura process holds this home."""


def user_default_home(env: Mapping[str, str] = os.environ) -> Path:
    data = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local/share")
    return Path(data) / "aura"


def pointer_path(env: Mapping[str, str] = os.environ) -> Path:
    """The per-user record of the running Aura's home."""
    state = env.get("XDG_STATE_HOME") or str(
        Path(env.get("HOME") or Path.home()) / ".local/state")
    return Path(state) / "aura" / "running.json"


def locate_home(env: Mapping[str, str] = os.environ, cwd: Path | None = None) -> Path:
    """The home by the rules above (absolute)."""
    for name in ("AURA_HOME", "AURA_DATA_DIR"):
        if env.get(name):
            return Path(env[name]).expanduser().absolute()
    local = (cwd or Path.cwd()) / LOCAL_HOME
    if local.is_dir():
        return local.absolute()
    running = _read_running(pointer_path(env))
    if running is not None and _alive(running.pid):
        return running.home
    return user_default_home(env)


def find_running(env: Mapping[str, str] = os.environ, cwd: Path | None = None) -> Running | None:
    """The live Aura serving from the located home, or None."""
    running = _read_running(locate_home(env, cwd) / RUN_FILE)
    return running if running is not None and _alive(running.pid) else None


def director_key_path(home: Path) -> Path:
    return home / "director.key"


def project_local(home: Path) -> bool:
    """A `.aura` home inside a project keeps sandboxes and snapshots beside it (today's layout);
    any other home keeps them inside."""
    return home.name == LOCAL_HOME


@contextlib.contextmanager
def occupy(running: Running, env: Mapping[str, str] = os.environ) -> Iterator[None]:
    """Hold the home for this process: its lock, `run.json` and the per-user pointer.

    Raises `HomeInUse` when another live process holds it. Everything is undone on exit (the
    pointer only if it still names this process)."""
    home = running.home
    home.mkdir(parents=True, exist_ok=True)
    lock = (home / LOCK_FILE).open("a+")
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = _read_running(home / RUN_FILE)
            raise HomeInUse(_in_use_message(home, other)) from None
        _write_json(home / RUN_FILE, running.as_json())
        pointer = pointer_path(env)
        with contextlib.suppress(OSError):
            _write_json(pointer, running.as_json())
        try:
            yield
        finally:
            (home / RUN_FILE).unlink(missing_ok=True)
            current = _read_running(pointer)
            if current is not None and current.pid == running.pid and current.home == home:
                pointer.unlink(missing_ok=True)
    finally:
        lock.close()  # releases the lock


def _in_use_message(home: Path, other: Running | None) -> str:
    who = f" (pid {other.pid}, API {other.api_url})" if other is not None else ""
    return (
        f"Aura is already running from {home}{who}; stop it first (Ctrl-C there, or "
        f"`scripts/dev_down.sh`), or set AURA_HOME to a different directory for a second one"
    )


def _read_running(path: Path) -> Running | None:
    try:
        data = json.loads(path.read_text("utf-8"))
        return Running(Path(data["home"]), int(data["pid"]), str(data["api_url"]),
                       str(data["mcp_url"]), str(data["started_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data) + "\n", "utf-8")
    tmp.replace(path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True
