"""Confinement of a job's commands: bubblewrap's file system view and the job's limits.

- `mounts.py`  the host's system directories shown read-only (secrets in /etc hidden)
- `limits.py`  `JobLimits`, and the cgroups (v1 or v2) that hold them for a job as a whole,
               or per-process rlimits when no cgroup can be created
- `bwrap.py`   `Confiner`: the bwrap command line and running a command confined

Used by the command-line employee (`orchestra.employees.cli`) and the accountant's validator
(`governance.validation`), so both confine the same way.
"""

from orchestra.confine.bwrap import ConfinedRun, Confiner
from orchestra.confine.limits import Cgroups, JobLimits
from orchestra.confine.mounts import system_mounts_args

__all__ = ["Cgroups", "ConfinedRun", "Confiner", "JobLimits", "system_mounts_args"]
