"""Checks of the host itself: bubblewrap, free disk, free ports, the modes of key files."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from mcp_server.doctor.result import CheckResult, fail, ok, warn
from mcp_server.home import find_running
from mcp_server.ports import PortInUse, ensure_free
from mcp_server.settings import Settings
from orchestra.confine.mounts import system_mounts_args
from orchestra.errors import Unavailable

GIB = 1024**3
BWRAP_START_S = 10.0
_BWRAP_FIX_CONTAINER = (
    "in a container, run it with security_opt seccomp=unconfined, apparmor=unconfined and "
    "systempaths=unconfined (as docker-compose.yml does); on Ubuntu 24.04+ allow "
    "unprivileged user namespaces for bwrap (an AppArmor profile, or "
    "`sysctl kernel.apparmor_restrict_unprivileged_userns=0`)"
)


def check_bwrap(bwrap: str = "bwrap") -> CheckResult:
    """bubblewrap is on PATH and can make the namespaces and mounts a job's sandbox uses."""
    found = shutil.which(bwrap)
    if found is None:
        return fail("bwrap", f"{bwrap} is not on PATH; acceptance checks and command-line "
                    "employees refuse to run unconfined",
                    "install bubblewrap: `apt-get install bubblewrap` (Debian/Ubuntu), "
                    "`dnf install bubblewrap` (Fedora)")
    # The same kinds of namespace and mount as a job's sandbox (orchestra/confine/bwrap.py).
    argv = [found, "--unshare-all", "--cap-drop", "ALL", "--die-with-parent",
            "--new-session", *system_mounts_args(), "--dev", "/dev", "--proc", "/proc",
            "--tmpfs", "/tmp", "--", "/bin/sh", "-c", "true"]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=BWRAP_START_S, check=False)
    except subprocess.TimeoutExpired:
        return fail("bwrap", f"{found} did not start a sandbox within {BWRAP_START_S:g} s",
                    _BWRAP_FIX_CONTAINER)
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", errors="replace").strip() or "no message"
        return fail("bwrap", f"{found} cannot create a sandbox here (exit {done.returncode}: "
                    f"{said})", _BWRAP_FIX_CONTAINER)
    return ok("bwrap", f"{found} creates a sandbox")


def check_disk(settings: Settings, min_free_gib: float) -> CheckResult:
    """Free space on each file system holding data, sandboxes, snapshots or backups: fail
    under `min_free_gib`, warn under five times that."""
    places = {"AURA_DATA_DIR": settings.data_dir, "AURA_SANDBOX_DIR": settings.sandbox_dir,
              "AURA_SNAPSHOT_DIR": settings.snapshot_dir, "AURA_BACKUP_DIR": settings.backup_dir}
    by_device: dict[int, tuple[list[str], Path]] = {}
    for setting, path in places.items():
        existing = _nearest_existing(path)
        names, _ = by_device.setdefault(existing.stat().st_dev, ([], existing))
        names.append(setting)
    lows: list[tuple[str, float]] = []
    lowest = float("inf")
    for names, existing in by_device.values():
        free = shutil.disk_usage(existing).free / GIB
        lowest = min(lowest, free)
        if free < 5 * min_free_gib:
            lows.append((f"{existing} ({', '.join(names)}): {free:.1f} GiB free", free))
    fix = ("free space there (`aura retention prune --older-than 365d` lists what may go; "
           "old files in AURA_BACKUP_DIR), or point those settings at a larger disk")
    if any(free < min_free_gib for _, free in lows):
        return fail("disk", f"under {min_free_gib:g} GiB free: "
                    + "; ".join(text for text, _ in lows), fix)
    if lows:
        return warn("disk", f"under {5 * min_free_gib:g} GiB free: "
                    + "; ".join(text for text, _ in lows), fix)
    return ok("disk", f"at least {lowest:.1f} GiB free where Aura writes")


def _nearest_existing(path: Path) -> Path:
    """`path`, or its closest ancestor that exists (a directory Aura has not made yet)."""
    current = path.absolute()
    while not current.exists():
        current = current.parent
    return current


def check_ports(settings: Settings) -> CheckResult:
    """The API and MCP ports can be listened on, or are held by this home's running Aura."""
    running = find_running()
    ours = running is not None and running.home == settings.data_dir.absolute()
    held = {urlsplit(url).port for url in (running.api_url, running.mcp_url)} if (
        ours and running is not None) else set()
    taken: list[str] = []
    for host, port, setting in ((settings.api_host, settings.api_port, "AURA_API_PORT"),
                                (settings.mcp_host, settings.mcp_port, "AURA_MCP_PORT")):
        try:
            ensure_free(host, port, setting)
        except PortInUse:
            if port not in held:
                taken.append(f"{host}:{port} ({setting})")
        except Unavailable as exc:
            taken.append(str(exc))
    if taken:
        return fail("ports", f"in use by another program: {', '.join(taken)}",
                    "stop what listens there (`ss -ltnp` names it) or set AURA_API_PORT / "
                    "AURA_MCP_PORT to free ports")
    detail = f"{settings.api_host}:{settings.api_port} and {settings.mcp_host}:{settings.mcp_port}"
    if ours and running is not None:
        return ok("ports", f"{detail} held by the running Aura (pid {running.pid})")
    return ok("ports", f"{detail} free")


def check_key_files(settings: Settings, dotenv: Path = Path(".env")) -> CheckResult:
    """Keys Aura writes (director.key, first-mcp.token) are private to their owner (0600);
    secret files named by `*_FILE` and `.env` are not writable by others, and readable by
    others only with a warning (docker secrets must be readable inside the container)."""
    written = [settings.director_key_path, settings.data_dir / "first-mcp.token"]
    given = [p for p in (settings.director_key_file, settings.database_url_file,
                         settings.metrics_token_file, dotenv) if p is not None]
    failures: list[str] = []
    warnings: list[str] = []
    fixes: list[str] = []
    for path in written:
        mode = _mode(path)
        if mode is not None and mode & 0o077:
            failures.append(f"{path} is {mode:04o}")
            fixes.append(f"chmod 600 {path}")
    for path in given:
        mode = _mode(path)
        if mode is not None and mode & 0o022:
            failures.append(f"{path} is {mode:04o} (others may write it)")
            fixes.append(f"chmod 600 {path}")
        elif mode is not None and mode & 0o004:
            warnings.append(f"{path} is {mode:04o} (anyone may read it)")
            fixes.append(f"chmod 600 {path} (unless a container needs it readable)")
    checked = len([p for p in [*written, *given] if _mode(p) is not None])
    if failures:
        return fail("key files", "; ".join(failures + warnings), "; ".join(fixes))
    if warnings:
        return warn("key files", "; ".join(warnings), "; ".join(fixes))
    return ok("key files", f"{checked} key file(s) private" if checked
              else "no key files yet (made on first start, 0600)")


def _mode(path: Path) -> int | None:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None
