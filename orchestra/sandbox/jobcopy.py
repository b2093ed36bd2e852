"""`JobCopy`: one job's working copy and how commands are to see it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class JobCopy:
    """A prepared job: its working copy, its before state, and its view.

    `project` is the project's real path; inside the job view (`view_args`) commands see the
    working copy there. `path` is where the copy lives on the host
    (`AURA_SANDBOX_DIR/<job-id>`); code that runs outside the view (the edit applier, the
    prompt builder) uses it. `before` is the before commit in the snapshot store.
    `read_only` are the project's ignored dependency folders (absolute, under `project`) shown
    read-only from the host; `toolchain` are other host paths shown read-only (interpreter
    prefixes, PATH directories); `env` holds PATH, VIRTUAL_ENV and the like for commands in
    the view (never a secret).
    """

    job_id: str
    project: Path
    path: Path
    before: str
    read_only: tuple[Path, ...]
    toolchain: tuple[Path, ...]
    env: Mapping[str, str]

    @classmethod
    def of_directory(cls, path: Path, job_id: str = "adhoc") -> JobCopy:
        """A plain directory as its own copy (no project, no snapshot): the view shows it at
        its own path. For tools and tests that run commands in a directory."""
        real = path.resolve()
        return cls(job_id=job_id, project=real, path=real, before="", read_only=(),
                   toolchain=(), env={})
