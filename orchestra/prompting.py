"""What an employee is told: the Director's prompt, and for API models the project and format.

Command-line agents work in the sandbox themselves and get the prompt as written. API models
cannot touch files, so they get a listing of the project, the text of the files they need, and
the edit format (`orchestra/edits.py`, `docs/edit-format.md`) that the worker applies to the
sandbox.

Which files are sent: the files the prompt names (any word of it that is the relative path of
a file in the copy), within `MAX_INLINE_BYTES`. When it names none, a bounded selection: the
first `MAX_SELECTED_FILES` files of at most `MAX_FILE_BYTES` each, in sorted walk order,
within the same budget. The listing (at most `MAX_LISTED_PATHS` paths) is always sent, so the
model knows what exists and can name a file it was not shown.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from itertools import islice
from pathlib import Path, PurePosixPath

from orchestra.edits import FORMAT_INSTRUCTIONS
from orchestra.models import Adapter, Employee

MAX_INLINE_BYTES = 60_000
MAX_FILE_BYTES = 20_000
MAX_SELECTED_FILES = 20
MAX_LISTED_PATHS = 300

# A word of the prompt that could be a path: letters, digits and `_ . / -`; quotes, backticks
# and sentence punctuation around it are not part of it.
_PATH_WORD = re.compile(r"[\w./-]+")


def compose_prompt(prompt: str, employee: Employee, sandbox: Path | None) -> str:
    """The text an employee is sent. Synchronous (it reads the copy): run it in a thread."""
    if sandbox is None or employee.adapter is Adapter.CLI:
        return prompt
    listed = list(islice(_walk(sandbox), MAX_LISTED_PATHS + 1))
    shown = named_files(prompt, sandbox) or [
        path for path in listed if path.stat().st_size <= MAX_FILE_BYTES
    ][:MAX_SELECTED_FILES]
    return "\n\n".join([
        prompt, FORMAT_INSTRUCTIONS,
        "Files in the project:", file_listing(sandbox, listed),
        "Their content (the files named in the task, or a selection):",
        file_contents(sandbox, shown),
    ])


def compose_retry(prompt: str, reply: str, reason: str) -> str:
    """The second call after a reply whose edits could not be applied.

    The adapters take one prompt string, so the conversation (the first prompt, the model's
    reply, and why its edits failed) is sent as one prompt rather than as chat turns.
    """
    return "\n\n".join([
        prompt,
        f"--- your previous reply ---\n{reply.rstrip()}\n--- end of your previous reply ---",
        f"None of its edits were applied: {reason}",
        "The files are as shown above. Reply with corrected edits.",
    ])


def named_files(prompt: str, root: Path) -> list[Path]:
    """The files in `root` whose relative path is a word of `prompt`, in the order named.
    Looked up directly rather than in a walk, so a large tree costs nothing extra."""
    real_root = root.resolve()
    named: dict[str, Path] = {}
    for word in _PATH_WORD.findall(prompt):
        rel = word.rstrip(".").removeprefix("./")  # a sentence's full stop is not the path's
        pure = PurePosixPath(rel)
        if not rel or pure.is_absolute() or ".." in pure.parts or rel in named:
            continue
        if SKIPPED_DIRS.intersection(pure.parts[:-1]):
            continue
        path = root / rel
        # Only regular files inside the copy: a symlink could show a file from elsewhere.
        if path.is_file() and not path.is_symlink() and path.resolve().is_relative_to(real_root):
            named[rel] = path
    return list(named.values())


def file_listing(root: Path, files: list[Path]) -> str:
    """The relative paths of `files`, at most `MAX_LISTED_PATHS` of them."""
    if not files:
        return "(the project is empty)"
    listed = [path.relative_to(root).as_posix() for path in files[:MAX_LISTED_PATHS]]
    if len(files) > MAX_LISTED_PATHS:
        listed.append("(more files not listed)")
    return "\n".join(listed)


def file_contents(root: Path, files: list[Path]) -> str:
    """Each file's text under a header, while the byte budget lasts."""
    parts: list[str] = []
    budget = MAX_INLINE_BYTES
    for path in files:
        rel = path.relative_to(root).as_posix()
        size = path.stat().st_size
        if size > budget:
            parts.append(f"--- {rel} ({size} bytes, not shown: over the budget)")
            continue
        try:
            text = path.read_text("utf-8")
        except UnicodeDecodeError:
            parts.append(f"--- {rel} (binary, not shown)")
            continue
        budget -= size
        parts.append(f"--- {rel}\n{text}")
    return "\n".join(parts) if parts else "(none)"


# Directories that are never source worth showing a model, and can be huge.
SKIPPED_DIRS = frozenset({".git", "node_modules", ".venv", "venv", "__pycache__", ".mypy_cache",
                          ".ruff_cache", ".pytest_cache", ".tox", "dist", "build", "target"})


def _walk(root: Path) -> Iterator[Path]:
    """The project's regular files in sorted walk order, `SKIPPED_DIRS` pruned. Symlinks are
    left out: what they point to may be outside the copy."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if not path.is_symlink():
                yield path
