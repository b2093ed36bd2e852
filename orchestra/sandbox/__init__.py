"""Per-job working copies, before/after snapshots, diffs and the job view.

- `repo.py`      the private snapshot repository (`AURA_SNAPSHOT_DIR/objects.git`), running git
- `selection.py` which files a state holds; which ignored folders are shown read-only
- `states.py`    a directory's state as a commit, through an index of our own
- `copies.py`    working copies: check out, move into place, delete
- `diff.py`      the bounded git-style diff between two states
- `apply.py`     a job's change written into the real project, when nothing it touches moved
- `view.py`      what commands see (bwrap mount arguments, toolchain, PATH)
- `sandboxes.py` `Sandboxes`, the interface the manager uses
"""

from orchestra.sandbox.jobcopy import JobCopy
from orchestra.sandbox.sandboxes import Sandboxes
from orchestra.sandbox.view import view_args

__all__ = ["JobCopy", "Sandboxes", "view_args"]
