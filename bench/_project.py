"""A realistic project to benchmark against: a git repository with a few hundred tracked
source files and a large ignored `.venv` (the running interpreter's installed packages).

    build_project(root, git=True) -> Path

The `.venv` is a copy of this interpreter's site-packages (thousands of files), topped up with
filler files until the tree holds at least `min_files` files and `min_bytes` bytes, so it has
the shape of the Flask-with-a-venv case from the sandbox issue (8,600 files, 246 MB).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

SOURCE_FILES = 300
_GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost",
            "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@localhost"}


def _source(root: Path) -> None:
    for n in range(SOURCE_FILES):
        package = root / "src" / f"pkg{n % 12}"
        package.mkdir(parents=True, exist_ok=True)
        body = "".join(f"def f_{n}_{i}(x):\n    return x * {i}\n\n" for i in range(60))
        (package / f"mod{n}.py").write_text(f'"""Module {n}."""\n\n{body}')
    (root / "README.md").write_text("# bench project\n")
    (root / ".gitignore").write_text(".venv/\n__pycache__/\n*.pyc\n.env\n")
    (root / ".env").write_text("SECRET=not-for-snapshots\n")


def _venv(root: Path, min_files: int, min_bytes: int) -> None:
    site = Path(sysconfig.get_paths()["purelib"])
    target = root / ".venv" / "lib" / "python3" / "site-packages"
    shutil.copytree(site, target, symlinks=True)
    (root / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    files, size = _count(root)
    filler = root / ".venv" / "share" / "filler"
    filler.mkdir(parents=True)
    n = 0
    while files < min_files or size < min_bytes:
        chunk = os.urandom(min(1024 * 1024, max(4096, min_bytes - size)))
        (filler / f"blob{n}.bin").write_bytes(chunk)
        files, size, n = files + 1, size + len(chunk), n + 1


def _count(root: Path) -> tuple[int, int]:
    files = size = 0
    for here, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(here, name)
            if not os.path.islink(path):
                files += 1
                size += os.path.getsize(path)
    return files, size


def build_project(
    root: Path, *, git: bool = True, min_files: int = 5000, min_bytes: int = 200 * 1024 * 1024
) -> Path:
    """Make the project under `root` (which must not exist) and return it."""
    root.mkdir(parents=True)
    _source(root)
    _venv(root, min_files, min_bytes)
    if git:
        env = {**os.environ, **_GIT_ENV}
        for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "initial"]):
            subprocess.run(["git", *args], cwd=root, env=env, check=True)
    return root


def tree_stats(root: Path) -> dict[str, int]:
    files, size = _count(root)
    return {"files": files, "bytes": size}
