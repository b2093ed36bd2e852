"""The diff between a job's before and after states: exact, git-style, and bounded.

`git diff-tree` between the two commits in the private repository gives a patch that
`git apply` applies in the project (paths are relative to the project, binary files are full
`GIT binary patch` blocks, modes, symlinks, deletions and renames included). Two bounds keep
the worker's memory small whatever a job does:

- a file whose before or after content is over `FILE_LIMIT` is not put in the patch; it gets a
  header with its `index` line and `Binary files … differ (binary, N bytes; export the after
  state for its content)`. `git apply` cannot apply such an entry; the exported state has it;
- the whole text stops at `DIFF_LIMIT`, at a file boundary, with a note saying so.

A text file that is not UTF-8 is given as a binary patch, so the diff is a valid `str` and
still exact.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

from orchestra.sandbox.repo import LIST_LIMIT, SnapshotRepo, complete

FILE_LIMIT = 1024 * 1024
DIFF_LIMIT = 8 * 1024 * 1024
_NULL_ID = "0" * 40
_HEADER = re.compile(rb"\ndiff --git ")
_PATCH = ["diff-tree", "-r", "-p", "--binary", "--full-index", "-M", "--no-color"]


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of `git diff-tree --raw`."""

    old_mode: str
    new_mode: str
    old_id: str
    new_id: str
    status: str  # M, A, D, T, or R<score>
    old_path: str
    new_path: str

    @property
    def sections(self) -> int:
        """How many `diff --git` blocks git prints for it (a type change is two)."""
        return 2 if self.status == "T" else 1


def parse_raw(data: bytes) -> list[Change]:
    fields = data.split(b"\0")
    changes: list[Change] = []
    at = 0
    while at < len(fields) and fields[at]:
        old_mode, new_mode, old_id, new_id, status = fields[at].decode().lstrip(":").split()
        old_path = fields[at + 1].decode("utf-8", "surrogateescape")
        at += 2
        new_path = old_path
        if status[0] in "RC":
            new_path = fields[at].decode("utf-8", "surrogateescape")
            at += 1
        changes.append(Change(old_mode, new_mode, old_id, new_id, status, old_path, new_path))
    return changes


async def _sizes(repo: SnapshotRepo, changes: Sequence[Change]) -> dict[str, int]:
    ids = sorted({i for c in changes for i in (c.old_id, c.new_id)} - {_NULL_ID})
    if not ids:
        return {}
    result = await repo.git(
        ["cat-file", "--batch-check=%(objectname) %(objectsize)"],
        stdin="".join(f"{i}\n" for i in ids).encode(),
    )
    sizes = {}
    for line in result.stdout.decode().splitlines():
        name, _, size = line.partition(" ")
        if size.isdigit():
            sizes[name] = int(size)
    return sizes


def _literal(path: str) -> str:
    return f":(literal){path}"


async def _patch(
    repo: SnapshotRepo, before: str, after: str, pathspec: Sequence[str], *,
    all_binary: bool = False,
) -> tuple[bytes, int]:
    """The patch bytes (at most `DIFF_LIMIT` + 1) and how many more bytes there were."""
    args = list(_PATCH)
    with contextlib.ExitStack() as stack:
        if all_binary:
            attributes = stack.enter_context(tempfile.NamedTemporaryFile("w", suffix=".attr"))
            attributes.write("* -diff\n")
            attributes.flush()
            args = ["-c", f"core.attributesFile={attributes.name}", *args]
        result = await repo.git(
            [*args, before, after, "--", *pathspec], limit=DIFF_LIMIT + 1
        )
    return result.stdout, result.stdout_dropped


def _sections(patch: bytes) -> list[bytes]:
    """The patch cut before each `diff --git` line. Inside a section no line can start so:
    hunk lines start with ` `, `+`, `-`, `@` or `\\`, and base85 lines with a letter."""
    starts = [0, *(m.start() + 1 for m in _HEADER.finditer(patch))]
    ends = [*starts[1:], len(patch)]
    return [patch[s:e] for s, e in zip(starts, ends, strict=True) if e > s]


def _quote(name: str) -> str:
    """A path as git prints it in headers (C-quoted when it has unusual characters)."""
    raw = name.encode("utf-8", "surrogateescape")
    if not any(b < 0x20 or b >= 0x7F or b in b'"\\' for b in raw):
        return name
    escapes = {0x07: "\\a", 0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0B: "\\v", 0x0C: "\\f",
               0x0D: "\\r", 0x22: '\\"', 0x5C: "\\\\"}
    body = "".join(
        escapes.get(b, f"\\{b:03o}" if b < 0x20 or b >= 0x7F else chr(b)) for b in raw
    )
    return f'"{body}"'


def oversized_entry(change: Change, size: int) -> str:
    """Header-only entry for a file too large to put in the patch."""
    added, deleted = change.old_id == _NULL_ID, change.new_id == _NULL_ID
    a, b = _quote(f"a/{change.old_path}"), _quote(f"b/{change.new_path}")
    lines = [f"diff --git {a} {b}"]
    if added:
        lines.append(f"new file mode {change.new_mode}")
    elif deleted:
        lines.append(f"deleted file mode {change.old_mode}")
    elif change.old_mode != change.new_mode:
        lines += [f"old mode {change.old_mode}", f"new mode {change.new_mode}"]
    if change.status.startswith("R"):
        lines += [f"similarity index {int(change.status[1:] or 0)}%",
                  f"rename from {_quote(change.old_path)}", f"rename to {_quote(change.new_path)}"]
    same_mode = not added and not deleted and change.old_mode == change.new_mode
    lines.append(f"index {change.old_id}..{change.new_id}"
                 + (f" {change.new_mode}" if same_mode else ""))
    lines.append(
        f"Binary files {'/dev/null' if added else a} and {'/dev/null' if deleted else b} differ"
        f" (binary, {size} bytes; export the after state for its content)"
    )
    return "\n".join(lines) + "\n"


async def _decoded(
    repo: SnapshotRepo, before: str, after: str, patch: bytes, changes: list[Change]
) -> list[str]:
    """The patch's sections as text; a non-UTF-8 text file's section is redone as binary."""
    sections = _sections(patch)
    owners: list[Change | None] = [c for c in changes for _ in range(c.sections)]
    if len(owners) != len(sections):
        owners = [None] * len(sections)  # not the expected shape: decode as best we can
    out: list[str] = []
    for section, owner in zip(sections, owners, strict=True):
        try:
            out.append(section.decode("utf-8"))
            continue
        except UnicodeDecodeError:
            pass
        if owner is None:
            out.append(section.decode("utf-8", "replace"))
            continue
        paths = sorted({_literal(owner.old_path), _literal(owner.new_path)})
        redone, _ = await _patch(repo, before, after, paths, all_binary=True)
        out.append(redone.decode("utf-8", "replace"))
    return out


def _cut(parts: list[str], dropped: int) -> str:
    """Join whole sections up to `DIFF_LIMIT` bytes; note what was left out."""
    kept: list[str] = []
    used = 0
    for number, part in enumerate(parts):
        size = len(part.encode("utf-8", "surrogateescape"))
        if used + size > DIFF_LIMIT:
            rest = len(parts) - number
            kept.append(
                f"# aura: the diff stops here at its {DIFF_LIMIT // (1024 * 1024)} MiB limit; "
                f"{rest} more file section(s) are left out; export the after state for them\n"
            )
            return "".join(kept)
        kept.append(part)
        used += size
    if dropped:
        kept.append(f"# aura: the diff stops here; {dropped} more bytes were left out\n")
    return "".join(kept)


async def _under(repo: SnapshotRepo, tree: str, prefix: str) -> str:
    """`tree` (a commit or tree) placed at `prefix` (`services/api/`) in an otherwise empty
    tree."""
    tree = await repo.rev(["rev-parse", "--verify", f"{tree}^{{tree}}"])
    for name in reversed([part for part in prefix.split("/") if part]):
        entry = b"040000 tree " + tree.encode() + b"\t" + name.encode("utf-8", "surrogateescape")
        result = await repo.git(["mktree", "-z"], stdin=entry + b"\0")
        tree = result.stdout.decode().strip()
    return tree


async def job_diff(repo: SnapshotRepo, before: str, after: str, prefix: str = "") -> str:
    """The git-style diff from commit `before` to commit `after`; empty when equal.

    `prefix` is the project's place in its git repository: `git apply` takes a patch's paths
    as relative to the top of the work tree even when run in a subdirectory, so a project at
    `services/api/` gets paths such as `a/services/api/app.py` (and applies from either place).
    """
    if prefix:
        before = await _under(repo, before, prefix)
        after = await _under(repo, after, prefix)
    raw = await repo.git(["diff-tree", "-r", "-z", "--raw", "--no-abbrev", "-M", before, after],
                         limit=LIST_LIMIT)
    changes = parse_raw(complete(raw, "the list of changed files"))
    if not changes:
        return ""
    sizes = await _sizes(repo, changes)
    oversized = {c: max(sizes.get(c.old_id, 0), sizes.get(c.new_id, 0)) for c in changes}
    big = [c for c in changes if oversized[c] > FILE_LIMIT]
    small = [c for c in changes if oversized[c] <= FILE_LIMIT]
    parts: list[str] = []
    dropped = 0
    if small:
        exclude = sorted({f":(exclude,literal){p}" for c in big
                          for p in (c.old_path, c.new_path)})
        patch, dropped = await _patch(repo, before, after, exclude)
        if dropped:
            patch = patch[: patch.rfind(b"\ndiff --git ") + 1]  # whole sections only
        parts = await _decoded(repo, before, after, patch, small if not dropped else [])
    parts += [oversized_entry(c, oversized[c]) for c in big]
    return _cut(parts, dropped)
