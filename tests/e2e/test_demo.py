"""`aura demo` as a newcomer runs it: one command, exit 0, every step printed, and the demo
project itself left as shipped (its tests still fail)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mcp_server.demo.config import load_script
from mcp_server.demo.run import default_project, run_check

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap not installed"),
]


def _project_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


@pytest.mark.timeout(300)
def test_aura_demo_fixes_the_failing_tests_end_to_end(tmp_path: Path) -> None:
    project = default_project()
    before = _project_files(project)
    # From an unrelated directory with the caller's own AURA_* settings present: the demo
    # must ignore them (its Aura lives in a throwaway home).
    env = {**os.environ, "AURA_API_PORT": "1", "AURA_HOME": str(tmp_path / "not-used"),
           "XDG_STATE_HOME": str(tmp_path / "user-state")}
    done = subprocess.run([sys.executable, "-m", "mcp_server.cli", "demo"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=280, check=False)
    out = " ".join(done.stdout.split())  # rich wraps long lines at the terminal's width
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "exits 1: FAILED (failures=3)" in out  # the tests fail before the job
    assert "job" in out and "succeeded after 1 attempt(s)" in out
    assert "-    return price_cents * percent // 100" in done.stdout
    assert "+    return price_cents * (100 - percent) // 100" in done.stdout
    assert re.search(r"python3 -B -m unittest\W+0\W+\d+\W+yes", out)  # validation report
    assert "estimated" in out  # the ledger's charge for the model call
    assert "audit chain ok:" in out
    assert "`python3 -B -m unittest` exits 0: OK" in out  # applied to the copy, tests pass
    assert "The demo ran end to end." in out
    # The steps are numbered once, in order.
    assert re.findall(r"^(\d+)\. ", done.stdout, re.MULTILINE) == [str(n) for n in range(1, 11)]
    # Nothing of the caller's: no home made, no "running Aura" pointer left or changed.
    assert not (tmp_path / "not-used").exists()
    assert not (tmp_path / "user-state").exists()
    # The shipped project is untouched, and its tests still fail.
    assert _project_files(project) == before
    code, _ = run_check(load_script(project).job.acceptance[0], project)
    assert code != 0


def test_aura_demo_on_a_directory_that_is_no_demo_says_so(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "mcp_server.cli", "demo", str(tmp_path)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "aura/demo.toml" in done.stderr and "is" in done.stderr
    assert "Traceback" not in done.stderr
