"""The edit format API-model employees use to change files, and the code that applies it.

A reply may contain any prose; only these blocks act on the sandbox.

Write a file (create it, or replace its whole content)::

    <<<FILE path/relative/to/project
    ...entire new content of the file...
    >>>FILE

Delete a file, on a line of its own::

    <<<DELETE path/relative/to/project>>>

Change part of a file (the SEARCH/REPLACE blocks models know from aider)::

    path/relative/to/project
    <<<<<<< SEARCH
    the exact existing lines
    =======
    the lines that replace them
    >>>>>>> REPLACE

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
- A path may appear in at most one block per reply (but see SEARCH/REPLACE). `<<<DELETE` must
  name an existing file (not a directory); deleting a symlink removes the link itself.
- A `<<<FILE` block that is never closed is an error. A reply with no blocks changes nothing.
- SEARCH/REPLACE: the path is the nearest non-blank line above `<<<<<<< SEARCH` that is not a
  code fence (a block right after another one may leave it out and reuses its path). The
  SEARCH lines must occur exactly once in the file, starting at a line start, as it stands
  after the earlier edits of the same reply; an empty SEARCH creates a file that does not
  exist yet. Several blocks may change one file; a path changed by SEARCH/REPLACE cannot also
  be written whole or deleted in the same reply.
- All edits are checked before any is applied: if one is invalid, nothing is written and the
  error (`InvalidInput`) names the offending path.

The same text, with examples, is in `docs/edit-format.md`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Literal

from orchestra.errors import InvalidInput

FILE_OPEN = "<<<FILE "
FILE_CLOSE = ">>>FILE"
DELETE_OPEN = "<<<DELETE "
DELETE_CLOSE = ">>>"
SEARCH_OPEN = "<<<<<<< SEARCH"
SEARCH_DIVIDER = "======="
REPLACE_CLOSE = ">>>>>>> REPLACE"
FENCE = "```"
# How much of a SEARCH text a refusal quotes: enough to recognise it, not the whole block.
QUOTED_SEARCH_LINES = 3

# What an API-model employee is told about this format, appended to its prompt.
FORMAT_INSTRUCTIONS = """To change files, answer with blocks in this exact format
(each marker starts a line):
<<<FILE path/relative/to/project
the entire new content of the file
>>>FILE
and, to delete a file, a line: <<<DELETE path/relative/to/project>>>
To change part of a file, give its path on a line, then a SEARCH/REPLACE block:
src/app.py
<<<<<<< SEARCH
def greet():
    return "hi"
=======
def greet():
    return "hello"
>>>>>>> REPLACE
The SEARCH lines must match the file's current lines exactly and only once (include enough
lines to be unique); an empty SEARCH creates a new file.
Paths are relative to the project root. Text outside the blocks is kept as your answer."""


@dataclass(frozen=True, slots=True)
class Edit:
    """One change: write `content` to `path`, delete `path`, or (`replace`) put `content` in
    place of the one occurrence of `search` in it."""

    kind: Literal["write", "delete", "replace"]
    path: str
    content: str = ""
    search: str = ""


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
            index = _file_block(lines, index, edits)
        elif marker == SEARCH_OPEN:
            index = _search_block(lines, index, edits)
        elif marker.startswith(DELETE_OPEN) and marker.endswith(DELETE_CLOSE):
            path = _clean_path(marker[len(DELETE_OPEN) : -len(DELETE_CLOSE)])
            edits.append(Edit("delete", path))
        index += 1
    _refuse_clashes(edits)
    return edits


def _until(lines: list[str], index: int, marker: str) -> tuple[list[str], int]:
    """The lines after `index` up to the next line that is `marker`, and that line's index
    (`len(lines)` when there is none)."""
    body: list[str] = []
    index += 1
    while index < len(lines) and lines[index].rstrip() != marker:
        body.append(lines[index])
        index += 1
    return body, index


def _joined(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


def _file_block(lines: list[str], index: int, edits: list[Edit]) -> int:
    path = _clean_path(lines[index].rstrip()[len(FILE_OPEN) :])
    body, index = _until(lines, index, FILE_CLOSE)
    if index >= len(lines):
        raise InvalidInput(f"the block for {path} is not closed with {FILE_CLOSE}")
    edits.append(Edit("write", path, _joined(body)))
    return index


def _search_block(lines: list[str], index: int, edits: list[Edit]) -> int:
    path = _search_path(lines, index, edits)
    both, end = _until(lines, index, REPLACE_CLOSE)
    if end >= len(lines):
        raise InvalidInput(f"the SEARCH/REPLACE block for {path} is not closed with "
                           f"{REPLACE_CLOSE}")
    stripped = [line.rstrip() for line in both]
    if stripped.count(SEARCH_DIVIDER) != 1:
        raise InvalidInput(f"the SEARCH/REPLACE block for {path} needs exactly one "
                           f"{SEARCH_DIVIDER} line between SEARCH and REPLACE")
    divider = stripped.index(SEARCH_DIVIDER)
    edits.append(Edit("replace", path, _joined(both[divider + 1 :]), _joined(both[:divider])))
    return end


def _search_path(lines: list[str], index: int, edits: list[Edit]) -> str:
    """The path a SEARCH block acts on: the nearest line above it that is neither blank nor a
    code fence. Models often wrap blocks in fences, and put several blocks for one file one
    after the other; those reuse the previous block's path."""
    for line in reversed(lines[:index]):
        text = line.strip()
        if not text or text.startswith(FENCE):
            continue
        if text == REPLACE_CLOSE and edits and edits[-1].kind == "replace":
            return edits[-1].path
        # Models sometimes dress the path up as `code` or **bold**.
        return _clean_path(text.strip("`*").strip())
    raise InvalidInput("a SEARCH/REPLACE block has no file path on a line before it")


def _refuse_clashes(edits: Iterable[Edit]) -> None:
    """One reply may write or delete a path once (SEARCH/REPLACE may change it several
    times, and then nothing else may touch it), and may not use a path both as a file and a
    folder."""
    kinds: dict[str, set[str]] = {}
    folders: set[str] = set()
    for edit in edits:
        seen = kinds.setdefault(edit.path, set())
        if seen and (seen != {"replace"} or edit.kind != "replace"):
            raise InvalidInput(f"edit path {edit.path} is changed more than once in one reply")
        seen.add(edit.kind)
        folders.update(str(parent) for parent in PurePosixPath(edit.path).parents)
    clashes = sorted(set(kinds) & folders)
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

    Every edit is checked first, and every file's new content worked out in memory; if any
    edit is invalid, `InvalidInput` names it and nothing is written.
    """
    root = sandbox.resolve(strict=True)
    todo = [replace(edit, path=_clean_path(edit.path)) for edit in edits]
    _refuse_clashes(todo)
    planned = _plan([(edit, *_check(root, edit)) for edit in todo])
    for entry, content in planned.values():
        if content is None:
            entry.unlink()
        else:
            entry.parent.mkdir(parents=True, exist_ok=True)
            with open(entry, "w", encoding="utf-8", newline="") as handle:
                handle.write(content)
    return list(planned)


def _plan(checked: list[tuple[Edit, Path, str]]) -> dict[str, tuple[Path, str | None]]:
    """Each path's entry and new content (None: delete), in the order first touched."""
    planned: dict[str, tuple[Path, str | None]] = {}
    for edit, entry, rel in checked:
        if edit.kind == "delete":
            planned[rel] = (entry, None)
        elif edit.kind == "write":
            planned[rel] = (entry, edit.content)
        else:
            # Later blocks see what earlier blocks of the same reply made of the file.
            current = planned[rel][1] if rel in planned else _read(entry, rel)
            planned[rel] = (entry, _replaced(rel, current, edit))
    return planned


def _read(entry: Path, rel: str) -> str | None:
    if not entry.exists():
        return None
    try:
        return entry.read_text("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"cannot edit {rel}: it is not UTF-8 text") from exc


def _replaced(rel: str, current: str | None, edit: Edit) -> str:
    """`current` with the one occurrence of `edit.search` replaced; refused when there is not
    exactly one."""
    if not edit.search:
        if current is not None:
            raise InvalidInput(f"cannot create {rel} with an empty SEARCH: it already exists; "
                               "search for lines of it instead")
        return edit.content
    if current is None:
        raise InvalidInput(f"cannot edit {rel}: it does not exist")
    # A last line without its newline still matches a SEARCH line (which always has one).
    unterminated = bool(current) and not current.endswith("\n")
    text = current + "\n" if unterminated else current
    starts = _line_starts_of(text, edit.search)
    if len(starts) != 1:
        found = "no match" if not starts else "several matches"
        raise InvalidInput(f"the SEARCH text for {rel} has {found} in the file; it must match "
                           f"exactly once. It begins:\n{_quoted(edit.search)}")
    start = starts[0]
    result = text[:start] + edit.content + text[start + len(edit.search) :]
    return result[:-1] if unterminated and result.endswith("\n") else result


def _line_starts_of(text: str, search: str) -> list[int]:
    """Where `search` occurs starting at a line start, at most two places (enough to tell
    one from several); overlapping occurrences count."""
    starts: list[int] = []
    position = text.find(search)
    while position >= 0 and len(starts) < 2:
        if position == 0 or text[position - 1] == "\n":
            starts.append(position)
        position = text.find(search, position + 1)
    return starts


def _quoted(search: str) -> str:
    lines = search.splitlines()
    shown = lines[:QUOTED_SEARCH_LINES]
    more = ["    ..."] if len(lines) > QUOTED_SEARCH_LINES else []
    return "\n".join(["    " + line for line in shown] + more)
