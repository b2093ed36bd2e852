"""What an employee is told: the Director's prompt, and for API models the project and format.

Command-line agents work in the sandbox themselves and get the prompt as written. API models
cannot touch files, so they get the project's text files inline and answer in the edit format
(`orchestra/edits.py`, `docs/edit-format.md`) that the worker applies to the sandbox.
"""

from __future__ import annotations

from pathlib import Path

from orchestra.edits import FORMAT_INSTRUCTIONS
from orchestra.models import Adapter, Employee

MAX_INLINE_BYTES = 60_000
MAX_FILE_BYTES = 20_000


def compose_prompt(prompt: str, employee: Employee, sandbox: Path | None) -> str:
    if sandbox is None or employee.adapter is Adapter.CLI:
        return prompt
    return "\n\n".join([prompt, FORMAT_INSTRUCTIONS, "Project files:", project_listing(sandbox)])


def project_listing(root: Path) -> str:
    """The project's text files, each under a header, within a size budget."""
    parts: list[str] = []
    budget = MAX_INLINE_BYTES
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(".git/"):
            continue
        size = path.stat().st_size
        if size > MAX_FILE_BYTES or size > budget:
            parts.append(f"--- {rel} ({size} bytes, not shown)")
            continue
        try:
            text = path.read_text("utf-8")
        except UnicodeDecodeError:
            parts.append(f"--- {rel} (binary, not shown)")
            continue
        budget -= size
        parts.append(f"--- {rel}\n{text}")
    return "\n".join(parts) if parts else "(the project is empty)"
