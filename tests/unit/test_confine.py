"""The job's limits: a cgroup per run that is made, joined and removed; the rlimit fallback."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from governance.validation import BwrapValidator
from orchestra.confine import Cgroups, Confiner, JobLimits
from orchestra.runlog import RunLog
from orchestra.sandbox import JobCopy

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap not installed")


def test_a_run_cgroup_carries_the_limits_and_is_removed() -> None:
    cgroups = Cgroups()
    if cgroups.mechanism == "rlimit":
        pytest.skip("no writable cgroup here: the rlimit fallback is tested below")
    limits = JobLimits(memory_mb=300, tmp_mb=10, pids=40)
    cgroup = cgroups.create("job/../x", limits)  # odd characters cannot leave the hierarchy
    try:
        assert all(d.name.startswith("aura-job_.._x-") for d in cgroup.dirs)
        files = {f.name: f.read_text().split()[0] for d in cgroup.dirs for f in d.iterdir()
                 if f.name in ("memory.limit_in_bytes", "memory.max", "pids.max")}
        assert files.get("pids.max") == "40"
        assert str(300 * 1024 * 1024) in (files.get("memory.max"),
                                          files.get("memory.limit_in_bytes"))
        joined = subprocess.run(cgroup.wrap(["cat", "/proc/self/cgroup"]), capture_output=True,
                                text=True, check=True).stdout
        assert all(d.name in joined for d in cgroup.dirs)
    finally:
        cgroups.release(cgroup)
    assert not any(d.exists() for d in cgroup.dirs)


def test_without_cgroups_the_wrapper_sets_per_process_rlimits() -> None:
    cgroup = Cgroups(force="rlimit").create("job", JobLimits(memory_mb=300))
    assert cgroup.dirs == ()
    shown = subprocess.run(cgroup.wrap(["sh", "-c", "ulimit -v"]), capture_output=True,
                           text=True, check=True).stdout
    assert shown.strip() == str(300 * 1024)


@needs_bwrap
async def test_the_fallback_still_stops_a_greedy_check_and_says_it_is_per_process(
    tmp_path: Path
) -> None:
    confiner = Confiner(JobLimits(memory_mb=256), cgroups=Cgroups(force="rlimit"))
    runlog = RunLog(tmp_path / "runlog.txt")
    report = await BwrapValidator(confiner=confiner).validate(
        JobCopy.of_directory(tmp_path), ["python3 -c 'x = b\"x\" * (1024 ** 3)'"], runlog)
    assert not report.passed and "MemoryError" in report.checks[0].output_tail
    assert "PER PROCESS ONLY" in runlog.path.read_text()
