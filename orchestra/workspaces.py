"""Which directories a job may name as its `project` (`AURA_WORKSPACES`).

A project must be an absolute path to an existing directory that, once every symlink is
resolved, lies inside one of the configured workspace roots (themselves resolved). Containment
is decided component by component (`/ws-evil` is not inside `/ws`), after `..` and symlinks are
resolved, so neither a `..` nor a symlink inside a workspace can lead outside it. With no roots
configured nothing is allowed.

Containment is checked before existence, so a refusal never tells the caller whether a path
outside the workspaces exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from orchestra.errors import Forbidden, InvalidInput, NotFound


class Workspaces:
    """The roots jobs may work in, and the check that a project lies inside one of them."""

    def __init__(self, roots: Sequence[Path], *, reserved: Sequence[Path] = ()) -> None:
        """`reserved`: Aura's own directories (data, sandboxes, snapshots, backups). A project
        may neither contain one (its keys and other jobs' copies would be copied, archived and
        shown to a model) nor lie inside one."""
        self._configured = tuple(Path(root) for root in roots if str(root).strip())
        self._roots = tuple(root.expanduser().resolve(strict=False) for root in self._configured)
        self._reserved = tuple(Path(p).expanduser().resolve(strict=False) for p in reserved)

    @property
    def roots(self) -> tuple[Path, ...]:
        """The roots, symlinks resolved."""
        return self._roots

    def _describe(self) -> str:
        return ":".join(str(root) for root in self._configured)

    def resolve_project(self, project: str) -> Path:
        """Return the project's real path, or raise if a job may not work there.

        Raises `InvalidInput` (not absolute, not a directory, malformed), `Forbidden` (no
        workspaces configured, or outside them) and `NotFound` (inside, but missing).
        """
        if not isinstance(project, str) or not project.strip():
            raise InvalidInput("project must be an absolute path to a directory")
        if "\x00" in project:
            raise InvalidInput("project path contains a NUL byte")
        path = Path(project)
        if not path.is_absolute():
            raise InvalidInput(f"project {project} must be an absolute path")
        if not self._roots:
            raise Forbidden(
                f"project {project} is refused: no workspaces are configured; set "
                "AURA_WORKSPACES to the directories jobs may work in (colon-separated)"
            )
        try:
            # Not strict yet: containment first, so refusals do not reveal what exists outside.
            resolved = path.resolve(strict=False)
        except (OSError, RuntimeError) as exc:  # symlink loops, permission problems
            raise InvalidInput(f"project {project} cannot be resolved: {exc}") from exc
        if not self._inside(resolved):
            raise self._outside(project)
        try:
            real = path.resolve(strict=True)
        except FileNotFoundError as exc:
            raise NotFound(f"project {project} does not exist") from exc
        except (OSError, RuntimeError) as exc:
            raise InvalidInput(f"project {project} cannot be resolved: {exc}") from exc
        # Resolve again strictly: the path may have changed between the two looks.
        if not self._inside(real):
            raise self._outside(project)
        if not real.is_dir():
            raise InvalidInput(f"project {project} is not a directory")
        for own in self._reserved:
            if own == real or own.is_relative_to(real) or real.is_relative_to(own):
                raise Forbidden(
                    f"project {project} overlaps Aura's own directory {own}; move Aura's data, "
                    "sandbox and snapshot directories out of the project"
                )
        return real

    def _inside(self, path: Path) -> bool:
        # `is_relative_to` compares whole components, so `/ws-evil` is not inside `/ws`.
        return any(path == root or path.is_relative_to(root) for root in self._roots)

    def _outside(self, project: str) -> Forbidden:
        return Forbidden(
            f"project {project} is outside the workspaces (AURA_WORKSPACES={self._describe()})"
        )
