"""Which files make up a job's states, and which of the project's directories are shown
read-only instead of copied.

- A git project (the top or a subdirectory of a git work tree) is asked, read-only, what it
  tracks and what it ignores: its tracked files (even ignored ones), its dirty files and its
  untracked files that are not ignored form the before state.
- A project that is not in a git work tree is walked by the private repository with the
  project as work tree: `.gitignore` files inside it are honoured, plus `NON_GIT_EXCLUDES`.
- Submodules and nested repositories are directories to git: they are not copied.
- Directories the project ignores (dependency folders such as `.venv`, `node_modules`) are not
  copied; they are shown read-only at their own place (see `view.py`). Caches Aura never wants
  in a diff (`CACHE_DIRS`) are neither copied nor shown.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from orchestra.sandbox.repo import SnapshotRepo, complete, join_z, split_z

# Never part of an after state: what running Python code or checks leaves behind.
BUILTIN_EXCLUDES = ("__pycache__/", "*.pyc", "*.pyo", ".pytest_cache/", ".mypy_cache/",
                    ".ruff_cache/")
# What a project without git would surely not want copied per job.
NON_GIT_EXCLUDES = (".venv/", "venv/", "node_modules/", "__pycache__/", ".tox/",
                    ".mypy_cache/", ".pytest_cache/", ".ruff_cache/")
# Ignored directories that are caches, not dependencies: a job rebuilds its own.
CACHE_DIRS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
# Ignored directories shown read-only are dependency folders, known by name (more can be named
# with AURA_DEPENDENCY_DIRS). Any other ignored directory (`secrets/`, `certs/`, `.terraform/`)
# is neither copied nor shown: it may hold what a job must not see.
DEPENDENCY_DIRS = frozenset({
    ".venv", "venv", ".virtualenv", "__pypackages__", ".tox", ".nox", ".eggs",
    "node_modules", "bower_components", ".yarn", ".pnpm-store",
    "vendor", ".bundle", "target", ".gradle", ".m2", "_build", "deps", ".dart_tool",
    ".stack-work", "elm-stuff", "Pods", "build", "dist",
})
# Each read-only directory is one bind mount; beyond this many the rest are left out.
MAX_READ_ONLY_DIRS = 64


@dataclass(frozen=True, slots=True)
class Project:
    """A project directory and whether git owns it."""

    path: Path  # real path
    in_git: bool
    prefix: str = ""  # where it lies in its repository (`services/api/`); "" at the top


async def probe(repo: SnapshotRepo, project: Path) -> Project:
    """Whether `project` lies in a git work tree, and where (asked of git, read-only)."""
    result = await repo.project_git(
        project, ["rev-parse", "--is-inside-work-tree", "--show-prefix"], ok_codes=(0, 128)
    )
    lines = result.stdout.decode("utf-8", "surrogateescape").split("\n")
    if result.exit_code != 0 or lines[0] != "true":
        return Project(project, False)
    return Project(project, True, lines[1] if len(lines) > 1 else "")


def _glob_escape(rel: str) -> str:
    return "".join("\\" + c if c in "*?[]\\!# " else c for c in rel)


def anchored(rel_dirs: list[str]) -> list[str]:
    """Exclude patterns matching exactly these directories (relative to the top)."""
    return [f"/{_glob_escape(rel)}/" for rel in rel_dirs]


def _excludes(patterns: tuple[str, ...] | list[str]) -> list[str]:
    return [f"--exclude={pattern}" for pattern in patterns]


def _regular_entries(top: Path, paths: list[str]) -> list[str]:
    """The paths that exist under `top` as files or symlinks (never directories)."""
    kept = []
    for rel in paths:
        if rel.endswith("/"):
            continue  # an untracked nested repository
        try:
            mode = os.lstat(top / rel).st_mode
        except OSError:
            continue  # deleted (or a parent replaced) since git listed it
        if not stat.S_ISDIR(mode):
            kept.append(rel)
    return kept


async def before_paths(repo: SnapshotRepo, project: Project, empty_index: Path) -> list[str]:
    """Every file of the project's current state, relative to the project."""
    if project.in_git:
        result = await repo.project_git(
            project.path, ["ls-files", "-z", "--cached", "--others", "--exclude-standard"]
        )
    else:
        result = await repo.git(
            ["ls-files", "-z", "--others", "--exclude-standard",
             *_excludes(NON_GIT_EXCLUDES + BUILTIN_EXCLUDES)],
            index=empty_index, work_tree=project.path,
        )
    listed = split_z(complete(result, f"the file list of {project.path}"))
    return _regular_entries(project.path, sorted(set(listed)))


async def read_only_dirs(
    repo: SnapshotRepo, project: Project, empty_index: Path,
    dependency_dirs: Collection[str] = DEPENDENCY_DIRS,
) -> list[str]:
    """The project's ignored dependency directories to show read-only, relative to the
    project: those whose name is in `dependency_dirs`."""
    args = ["ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory"]
    if project.in_git:
        result = await repo.project_git(project.path, args)
    else:
        result = await repo.git(
            [*args, *_excludes(NON_GIT_EXCLUDES)], index=empty_index, work_tree=project.path
        )
    found = []
    for entry in split_z(complete(result, f"the ignored folders of {project.path}")):
        if not entry.endswith("/"):
            continue  # an ignored file (`.env`…): neither copied nor shown
        rel = entry.rstrip("/")
        name = os.path.basename(rel)
        if name not in dependency_dirs or name in CACHE_DIRS:
            continue
        if not _real_dir(project.path / rel):
            continue
        found.append(rel)
    return sorted(found)[:MAX_READ_ONLY_DIRS]


def _real_dir(path: Path) -> bool:
    # A symlink is never followed: it could lead anywhere on the host.
    return path.is_dir() and not path.is_symlink()


async def new_paths(
    repo: SnapshotRepo, project: Project, sandbox: Path, index: Path, read_only: list[str]
) -> list[str]:
    """Files in the sandbox that the before state did not have and the project would not
    ignore (nor Aura's built-in excludes, nor the read-only mount points)."""
    patterns = [*BUILTIN_EXCLUDES, *anchored(read_only)]
    if not project.in_git:
        patterns += NON_GIT_EXCLUDES
    result = await repo.git(
        ["ls-files", "-z", "--others", "--exclude-standard", *_excludes(patterns)],
        index=index, work_tree=sandbox,
    )
    found = _regular_entries(sandbox, split_z(complete(result, "the job's new files")))
    if not project.in_git or not found:
        return found
    # The project's own rules also live outside the copy (a parent's .gitignore,
    # .git/info/exclude, the user's global excludes): ask the project, by path only.
    checked = await repo.project_git(
        project.path, ["check-ignore", "--no-index", "-z", "--stdin"],
        stdin=join_z(found), ok_codes=(0, 1),
    )
    ignored = set(split_z(checked.stdout))
    return [rel for rel in found if rel not in ignored]


async def indexed_paths(repo: SnapshotRepo, index: Path, work_tree: Path) -> list[str]:
    result = await repo.git(["ls-files", "-z"], index=index, work_tree=work_tree)
    return split_z(complete(result, "the snapshot index"))
