"""The host's system directories as bwrap arguments, read-only, secrets in /etc hidden."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

from orchestra.sandbox.view import SYSTEM_DIRS


def system_mounts_args() -> list[str]:
    """bwrap arguments showing the system directories (`SYSTEM_DIRS`) read-only.

    A system directory that is a symlink (merged /usr: `/bin -> usr/bin`) is recreated as the
    same symlink when it points into a directory shown anyway, else its target is bound in its
    place. Entries of /etc that others may not read (/etc/shadow, /etc/ssl/private…) are
    hidden: a service running as root stays uid 0 inside, and owns them.
    """
    dirs = [d for d in SYSTEM_DIRS if os.path.isdir(d) and not os.path.islink(d)]
    args: list[str] = []
    for d in dirs:
        args += ["--ro-bind", d, d]
    for d in SYSTEM_DIRS:
        if not os.path.islink(d):
            continue
        real = os.path.realpath(d)
        if any(real == shown or real.startswith(shown + "/") for shown in dirs):
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(real):
            args += ["--ro-bind", real, d]
    if "/etc" in dirs:
        args += _hidden_entries("/etc")
    return args


def _hidden_entries(top: str) -> list[str]:
    """bwrap arguments covering the files and directories under `top` others cannot read."""
    args: list[str] = []
    for here, subdirs, files in os.walk(top):
        kept = []
        for name in sorted(subdirs):
            path = os.path.join(here, name)
            if _private(path, stat.S_ISDIR):
                args += ["--tmpfs", path, "--remount-ro", path]
            else:
                kept.append(name)
        subdirs[:] = kept  # nothing to look at inside a hidden directory
        for name in sorted(files):
            path = os.path.join(here, name)
            if _private(path, stat.S_ISREG):
                args += ["--ro-bind", "/dev/null", path]
    return args


def _private(path: str, kind: Callable[[int], bool]) -> bool:
    """Whether `path` is of `kind` (not a symlink) and others may not read it."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return False
    return kind(mode) and not mode & stat.S_IROTH
