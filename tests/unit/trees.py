"""Project trees for the sandbox tests: a git helper, a tree reader, a job's edits."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

Tree = dict[str, tuple[str, bytes]]


def git(cwd: Path, *args: str, stdin: bytes | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, input=stdin, capture_output=True,
                          check=True)
    return done.stdout.decode()


def tree(root: Path, skip: tuple[str, ...] = (".git",)) -> Tree:
    """Every file (kind, bytes) and symlink (link, target) under root, never following links."""
    found: Tree = {}
    for here, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in skip or here != str(root)]
        for name in files + [d for d in dirs if os.path.islink(os.path.join(here, d))]:
            path = Path(here, name)
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[rel] = ("link", os.fsencode(os.readlink(path)))
            else:
                kind = "exec" if path.stat().st_mode & stat.S_IXUSR else "file"
                found[rel] = (kind, path.read_bytes())
    return found


def edit_everything(copy: Path, outside: Path) -> None:
    (copy / "src" / "mod.py").write_text("def f():\n    return 2\n")
    (copy / "data.bin").write_bytes(b"\x00\xff\x00binary")
    (copy / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (copy / "run.sh").chmod(0o644)
    (copy / "README.md").write_text("hello\nworld")
    (copy / "gone.txt").unlink()
    (copy / "old-name.txt").rename(copy / "new-name.txt")
    (copy / "link").unlink()
    (copy / "link").symlink_to("src/mod.py")
    (copy / "escape").symlink_to(outside)
    (copy / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
