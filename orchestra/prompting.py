"""What an employee is told: the Director's prompt, and for API models the project and format.

Command-line agents work in the sandbox themselves and get the prompt as written. API models
cannot touch files, so they get the project's text files inline and answer in the edit format
(`orchestra/edits.py`, `docs/edit-format.md`) that the worker applies to the sandbox.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from orchestra.edits import FORMAT_INSTRUCTIONS
from orchestra.models import Adapter, Employee

MAX_INLINE_BYTES = 60_000
MAX_FILE_BYTES = 20_000


def compose_prompt(prompt: str, employee: Employee, sandbox: Path | None) -> str:
    if sandbox is None or employee.adapter is Adapter.CLI:
        return prompt
    return "\n\n".join([prompt, FORMAT_INSTRUCTIONS, "Project files:", project_listing(sandbox)])


# Directories that are never source worth showing a model, and can be huge.
SKIPPED_DIRS = frozenset({".git", "node_modules", ".venv", "venv", "__pycache__", ".mypy_cache",
                          ".ruff_cache", ".pytest_cache", ".tox", "dist", "build", "target"})


def project_listing(root: Path) -> str:
    """The project's text files, each under a header, within a size budget.

    Walks in sorted order, prunes `SKIPPED_DIRS`, and stops once the budget is spent, so a large
    tree costs only what is shown. Synchronous: the caller runs it in a thread.
    """
    parts: list[str] = []
    budget = MAX_INLINE_BYTES
    for path in _files(root):
        if budget <= 0:
            parts.append("--- (more files not shown)")
            break
        rel = path.relative_to(root).as_posix()
        size = path.stat().st_size
        if size > MAX_FILE_BYTES or size > budget:
            parts.append(f"--- {rel} ({size} bytes, not shown)")
            budget -= len(rel)  # even the headers count, so a huge tree ends
            continue
        try:
            text = path.read_text("utf-8")
        except UnicodeDecodeError:
            parts.append(f"--- {rel} (binary, not shown)")
            continue
        budget -= size
        parts.append(f"--- {rel}\n{text}")
    return "\n".join(parts) if parts else "(the project is empty)"


def _files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if not path.is_symlink():
                yield path
