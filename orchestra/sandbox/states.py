"""Recording a directory's state as a commit, through an index file of our own.

`git update-index --add --remove --replace` rehashes only files whose stat data differs from
the index, so keeping an index per project (and per job, for its copy) makes a snapshot cost
what changed since the last one, not the size of the tree.
"""

from __future__ import annotations

from pathlib import Path

from orchestra.sandbox.repo import SnapshotRepo, join_z
from orchestra.sandbox.selection import indexed_paths


async def update(
    repo: SnapshotRepo, index: Path, work_tree: Path, paths: list[str], *, prune: bool
) -> None:
    """Make `index` hold exactly `paths` (with `prune`) as they are now under `work_tree`.

    Without `prune`, entries not in `paths` stay (the caller lists them itself). A listed path
    that is gone is removed; one whose parent became a file, or the other way round, is
    replaced.
    """
    if prune:
        stale = set(await indexed_paths(repo, index, work_tree)) - set(paths)
        if stale:
            await repo.git(["update-index", "--force-remove", "-z", "--stdin"],
                           index=index, work_tree=work_tree, stdin=join_z(sorted(stale)))
    await repo.git(["update-index", "--add", "--remove", "--replace", "-z", "--stdin"],
                   index=index, work_tree=work_tree, stdin=join_z(paths))


async def commit(
    repo: SnapshotRepo, index: Path, ref: str, message: str, parent: str | None = None
) -> str:
    """Write the index as a tree, commit it, point `ref` at the commit; return the commit."""
    tree = await repo.rev(["write-tree"], index=index)
    args = ["commit-tree", tree, "-m", message]
    if parent is not None:
        args += ["-p", parent]
    commit_id = await repo.rev(args)
    await repo.update_ref(ref, commit_id)
    return commit_id
