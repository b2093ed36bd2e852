"""What a job's commands see: the job view, as bubblewrap mount arguments.

One function (`view_args`) serves the validator and the command-line employee, so both see the
same tree:

- the job's working copy, bound read-write at the project's own real path (`--bind SANDBOX
  PROJECT`, `--chdir PROJECT`), so absolute paths baked into a virtualenv (shebangs, `.pth`
  files, editable installs) lead to the job's copy, not to the project;
- on top, each ignored dependency folder of the project (`.venv`, `node_modules`…) bound
  read-only from the host at the same place: usable, never copied, never written;
- the toolchain, read-only: the interpreter prefix a project's `.venv/pyvenv.cfg` `home =`
  points at (a pyenv/uv/asdf Python under the user's home), the directories on the service's
  PATH outside the system directories, and the prefixes of the interpreters their entries point
  at through a symlink or a `#!` line. Never `$HOME` as a whole, `/`, or Aura's own
  directories (data, sandboxes, snapshots, backups).

Commands get PATH with the project's `.venv/bin` first (and VIRTUAL_ENV) when it has one,
then the service's PATH, and `PYTHONDONTWRITEBYTECODE=1`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestra.sandbox.jobcopy import JobCopy

# The host directories every confined command sees anyway (read-only, see the validator).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc", "/opt")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
VENV_NAMES = (".venv", "venv")
_SCAN_ENTRIES = 2000  # entries looked at per PATH directory: bounded work on a huge ~/bin
_SHEBANG_BYTES = 256


def view_args(copy: JobCopy, *, toolchain: bool = True) -> list[str]:
    """bwrap arguments for the job view (no `bwrap`, no command; mounts and `--chdir`)."""
    args: list[str] = []
    if toolchain:
        for path in copy.toolchain:
            args += ["--ro-bind", str(path), str(path)]
    args += ["--bind", str(copy.path), str(copy.project)]
    for path in copy.read_only:
        # The host's folder (source paths are looked up on the host, not in the view).
        args += ["--ro-bind", str(path), str(path)]
    args += ["--chdir", str(copy.project)]
    return args


def command_env(project: Path, read_only: Sequence[Path], service_path: str) -> dict[str, str]:
    """PATH, VIRTUAL_ENV and friends for commands in the view (no secrets)."""
    env = {"PYTHONDONTWRITEBYTECODE": "1"}
    path = service_path or DEFAULT_PATH
    venv = project_venv(project, read_only)
    if venv is not None:
        env["VIRTUAL_ENV"] = str(venv)
        path = f"{venv / 'bin'}:{path}"
    env["PATH"] = path
    return env


def program_paths(named: Iterable[str]) -> list[Path]:
    """Host paths to show read-only so the files a command names by absolute path run: each
    existing regular file itself and, for a program (or `#!` interpreter) in a virtualenv's or
    an installation's `bin`, that virtualenv and the interpreter prefix its `home =` names.
    Never a directory named outright (it could be a whole home)."""
    found: list[Path] = []
    for name in named:
        if not os.path.isabs(name) or not os.path.isfile(name):
            continue
        found.append(Path(name))
        for program in (name, _shebang(os.path.realpath(name))):
            if program is None or _is_system(os.path.realpath(program)):
                continue
            prefix = Path(_prefix(program))
            if (prefix / "pyvenv.cfg").is_file():
                found.append(prefix)
                home = _venv_home(prefix)
                if home is not None:
                    found.append(Path(_prefix(os.path.join(os.path.realpath(home), "python"))))
            elif program != name:
                found.append(Path(program))
    return found


def project_venv(project: Path, read_only: Sequence[Path]) -> Path | None:
    for name in VENV_NAMES:
        venv = project / name
        if venv in read_only and (venv / "pyvenv.cfg").is_file():
            return venv
    return None


def _inside(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def _is_system(path: str) -> bool:
    return any(_inside(path, os.path.realpath(d)) or _inside(path, d) for d in SYSTEM_DIRS)


class Toolchain:
    """Finds the host paths to show read-only so a project's own tools run in the view.

    `hidden` are directories never to expose (Aura's data, sandbox, snapshot and backup
    directories); `home` is the service user's home, never exposed whole. The PATH scan is done
    once per PATH value and cached.
    """

    def __init__(self, hidden: Iterable[Path], home: Path | None = None) -> None:
        self.hidden = tuple(os.path.realpath(p) for p in hidden)
        self.home = os.path.realpath(home or Path.home())
        self._cache: dict[str, tuple[Path, ...]] = {}

    def for_project(self, project: Path, read_only: Sequence[Path], path_env: str) -> tuple[
        Path, ...
    ]:
        found = list(self.for_path(path_env))
        venv = project_venv(project, read_only)
        if venv is not None:
            found += self._python_prefixes(venv)
        return self._tidy(found, project)

    def for_path(self, path_env: str) -> tuple[Path, ...]:
        if path_env not in self._cache:
            found: list[str] = []
            for entry in path_env.split(":"):
                if entry and os.path.isabs(entry) and os.path.isdir(entry):
                    found += self._path_dir(os.path.realpath(entry))
            self._cache[path_env] = tuple(Path(p) for p in found)
        return self._cache[path_env]

    def _path_dir(self, directory: str) -> list[str]:
        if _is_system(directory):
            return []
        found = [directory]
        parent = os.path.dirname(directory)
        if os.path.basename(directory) == "shims" and any(
            os.path.isdir(os.path.join(parent, name)) for name in ("versions", "installs")
        ):
            found.append(parent)  # pyenv / asdf: the shims run tools from the root beside them
        for interpreter in self._interpreters(directory):
            found += [str(p) for p in self._python_prefixes(Path(_prefix(interpreter)))]
        return found

    def _interpreters(self, directory: str) -> list[str]:
        """Programs outside the system dirs that entries of `directory` run: symlink targets
        and `#!` interpreters."""
        found: list[str] = []
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)[:_SCAN_ENTRIES]
        except OSError:
            return found
        for entry in entries:
            target = os.path.realpath(entry.path)
            if not _is_system(target) and not _inside(target, directory):
                found.append(target)
            interpreter = _shebang(target)
            if interpreter and not _is_system(interpreter):
                found.append(os.path.realpath(interpreter))
        return found

    def _python_prefixes(self, prefix: Path) -> list[Path]:
        """`prefix` itself, and for a virtualenv the interpreter prefix its `home =` names."""
        found = [prefix]
        home = _venv_home(prefix)
        if home is not None:
            found.append(Path(_prefix(os.path.join(os.path.realpath(home), "python"))))
        return found

    def _allowed(self, path: str, project: str) -> bool:
        if path == "/" or _is_system(path) or _inside(self.home, path):
            return False  # `/`, or $HOME or one of its parents: far too much
        if _inside(path, project):
            return False  # the view shows the job's copy there
        return not any(_inside(path, h) or _inside(h, path) for h in self.hidden)

    def _tidy(self, paths: Iterable[Path], project: Path) -> tuple[Path, ...]:
        """Existing, allowed, de-duplicated, and none inside another."""
        real = sorted({os.path.realpath(p) for p in paths if os.path.isdir(p)})
        kept: list[str] = []
        for path in real:
            if self._allowed(path, str(project)) and not any(_inside(path, k) for k in kept):
                kept.append(path)
        return tuple(Path(p) for p in kept)


def _prefix(program: str) -> str:
    """`/x/y/bin/python3` → `/x/y`; a program not in a `bin` directory → its directory."""
    directory = os.path.dirname(program)
    return os.path.dirname(directory) if os.path.basename(directory) == "bin" else directory


def _shebang(path: str) -> str | None:
    """The absolute interpreter of a `#!` script (not `env`), if any."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode) or not os.access(path, os.X_OK):
            return None
        with open(path, "rb") as handle:
            head = handle.read(_SHEBANG_BYTES)
    except OSError:
        return None
    if not head.startswith(b"#!"):
        return None
    words = head[2:].split(b"\n", 1)[0].split()
    if not words or not words[0].startswith(b"/"):
        return None
    return os.fsdecode(words[0])


def _venv_home(prefix: Path) -> str | None:
    """`home =` of `prefix/pyvenv.cfg` (the directory of the interpreter a venv runs)."""
    try:
        lines = (prefix / "pyvenv.cfg").read_text("utf-8", "replace").splitlines()
    except OSError:
        return None
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and key.strip() == "home" and os.path.isabs(value.strip()):
            return value.strip()
    return None
