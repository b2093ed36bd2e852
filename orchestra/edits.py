"""The edit format API-model employees use to change files, and the code that applies it.

A reply may contain any prose; only these blocks act on the sandbox.

Write a file (create it, or replace its whole content)::

    <<<FILE path/relative/to/project
    ...entire new content of the file...
    >>>FILE

Delete a file, on a line of its own::

    <<<DELETE path/relative/to/project>>>

Rules, exactly:

- Markers are whole lines starting in the first column; trailing whitespace (including a `\\r`)
  after a marker is ignored. `<<<FILE ` is followed by one space and the path.
- The new content is every line between the `<<<FILE` line and the next line that is exactly
  `>>>FILE`, taken verbatim (nothing inside is interpreted: a `<<<DELETE` or code fence there is
  content). Each content line keeps its newline, so a written file always ends with a newline
  unless it is empty (`<<<FILE x` directly followed by `>>>FILE`). A file cannot contain a line
  that is exactly `>>>FILE`.
- Content is written as UTF-8; an existing file keeps its permissions.
- Paths are relative to the project root, written with `/`; `./` prefixes are dropped. An
  absolute path, a `..` component, an empty path, or a path that (after resolving symlinks)
  leads outside the sandbox is refused. Directories are created as needed.
- A path may appear in at most one block per reply. `<<<DELETE` must name an existing file (not a
  directory); deleting a symlink removes the link itself.
- A `<<<FILE` block that is never closed is an error. A reply with no blocks changes nothing.
- All edits are checked before any is applied: if one is invalid, nothing is written and the
  error (`InvalidInput`) names the offending path.

The same text, with examples, is in `docs/edit-format.md`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from orchestra.errors import InvalidInput

FILE_OPEN = "<<<FILE "
FILE_CLOSE = ">>>FILE"
DELETE_OPEN = "<<<DELETE "
DELETE_CLOSE = ">>>"

# What an API-model employee is told about this format, appended to its prompt.
FORMAT_INSTRUCTIONS = """To change files, answer with blocks in this exact format
(each marker starts a line):
<<<FILE path/relative/to/project
the entire new content of the file
>>>FILE
and, to delete a file, a line: <<<DELETE path/relative/to/project>>>
Paths are relative to the project root. Text outside the blocks is kept as your answer."""


@dataclass(frozen=True, slots=True)
class Edit:
    """One change: write `content` to `path`, or delete `path`."""

    kind: Literal["write", "delete"]
    path: str
    content: str = ""


def _clean_path(raw: str) -> str:
    """Normalise a relative path and refuse the ones that cannot name a file in the project."""
    text = raw.strip()
    if not text:
        raise InvalidInput("an edit names an empty path")
    if "\x00" in text:
        raise InvalidInput(f"edit path {text!r} contains a NUL byte")
    pure = PurePosixPath(text)
    if pure.is_absolute() or text.startswith("~"):
        raise InvalidInput(f"edit path {text} must be relative to the project, not absolute")
    if ".." in pure.parts:
        raise InvalidInput(f"edit path {text} may not contain '..'")
    if not pure.parts:
        raise InvalidInput(f"edit path {text} names the project root, not a file")
    return pure.as_posix()


def parse_edits(reply: str) -> list[Edit]:
    """The edits in a model's reply, in order; an empty list when it has none."""
    edits: list[Edit] = []
    lines = reply.split("\n")
    index = 0
    while index < len(lines):
        marker = lines[index].rstrip()
        if marker == FILE_OPEN.rstrip() or marker.startswith(FILE_OPEN):
            path = _clean_path(marker[len(FILE_OPEN) :])
            body: list[str] = []
            index += 1
            while index < len(lines) and lines[index].rstrip() != FILE_CLOSE:
                body.append(lines[index])
                index += 1
            if index >= len(lines):
                raise InvalidInput(f"the block for {path} is not closed with {FILE_CLOSE}")
            content = "".join(line + "\n" for line in body)
            edits.append(Edit("write", path, content))
        elif marker.startswith(DELETE_OPEN) and marker.endswith(DELETE_CLOSE):
            path = _clean_path(marker[len(DELETE_OPEN) : -len(DELETE_CLOSE)])
            edits.append(Edit("delete", path))
        index += 1
    _refuse_clashes(edits)
    return edits


def _refuse_clashes(edits: Iterable[Edit]) -> None:
    """One reply may touch a path once, and may not use a path both as a file and a folder."""
    seen: set[str] = set()
    folders: set[str] = set()
    for edit in edits:
        if edit.path in seen:
            raise InvalidInput(f"edit path {edit.path} is changed more than once in one reply")
        seen.add(edit.path)
        folders.update(str(parent) for parent in PurePosixPath(edit.path).parents)
    clashes = sorted(seen & folders)
    if clashes:
        raise InvalidInput(f"edit path {clashes[0]} is used both as a file and as a folder")


def _inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def _check(root: Path, edit: Edit) -> tuple[Path, str]:
    """Return where the edit acts (not following a final symlink) and its clean path."""
    rel = _clean_path(edit.path)
    target = root / rel
    # The directory the entry lives in, with every symlink resolved, must stay in the sandbox.
    parent = target.parent.resolve(strict=False)
    if not _inside(parent, root):
        raise InvalidInput(f"edit path {rel} leads outside the sandbox")
    existing_parent = parent
    while not existing_parent.exists():
        existing_parent = existing_parent.parent
    if not existing_parent.is_dir():
        blocker = existing_parent.relative_to(root)
        raise InvalidInput(f"edit path {rel}: {blocker} is not a directory")
    entry = parent / target.name
    if edit.kind == "delete":
        if not entry.is_symlink() and not entry.exists():
            raise InvalidInput(f"cannot delete {rel}: it does not exist")
        if entry.is_dir() and not entry.is_symlink():
            raise InvalidInput(f"cannot delete {rel}: it is a directory")
        return entry, rel
    if entry.is_symlink():
        # Writing follows the link, so where it points must be inside the sandbox too.
        if not _inside(entry.resolve(strict=False), root):
            raise InvalidInput(f"edit path {rel} is a symlink that leads outside the sandbox")
        if entry.resolve(strict=False).is_dir():
            raise InvalidInput(f"cannot write {rel}: it is a directory")
    elif entry.is_dir():
        raise InvalidInput(f"cannot write {rel}: it is a directory")
    return entry, rel


def apply_edits(sandbox: Path, edits: Iterable[Edit]) -> list[str]:
    """Apply `edits` inside `sandbox`; return the relative paths changed, in order.

    Every edit is checked first; if any is invalid, `InvalidInput` names it and nothing is
    written.
    """
    root = sandbox.resolve(strict=True)
    todo = list(edits)
    _refuse_clashes([Edit(edit.kind, _clean_path(edit.path)) for edit in todo])
    checked = [(edit, *_check(root, edit)) for edit in todo]
    changed: list[str] = []
    for edit, entry, rel in checked:
        if edit.kind == "delete":
            entry.unlink()
        else:
            entry.parent.mkdir(parents=True, exist_ok=True)
            with open(entry, "w", encoding="utf-8", newline="") as handle:
                handle.write(edit.content)
        changed.append(rel)
    return changed

