"""A git project and a plain directory through the whole job path, over MCP, on `aura up`.

Each project has an ignored dependency folder (a real venv with a package the acceptance
check imports), an ignored secrets file, and files the job edits, adds, deletes and renames.
The command-line employee also leaves `__pycache__` behind. The job must succeed, the project
must be untouched, the diff must leave out what the project ignores and apply with `git apply`
to a copy of the project, giving exactly the sandbox's result; `aura job ID --export` must give
the before and after states as tars.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_spine import REPO_ROOT, TERMINAL, Aura, _error_text, mcp_client

pytestmark = pytest.mark.e2e

# The employee: edits, adds, deletes and renames files, runs Python (leaving __pycache__), and
# tries to write into the dependency folder (which must be read-only for it).
AGENT = """#!/bin/sh
set -e
echo "VALUE = 2" > app/settings.py
echo "new module" > app/added.py
rm -f obsolete.txt
mv old_name.txt new_name.txt
printf '\\001\\002\\003' > data.bin
.venv/bin/python -c "import app.settings, depmod" 2>&1
touch .venv/written-by-job 2>/dev/null && echo "wrote into .venv" || echo ".venv is read-only"
echo done
"""
CHECK = ".venv/bin/python -c 'import depmod, app.settings; assert app.settings.VALUE == 2'"


def _git(project: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(project), *args], check=True, capture_output=True, text=True,
        env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
             "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"},
    ).stdout


def _make_project(root: Path, *, git: bool) -> Path:
    root.mkdir(parents=True)
    (root / "app").mkdir()
    (root / "app" / "__init__.py").write_text("")
    (root / "app" / "settings.py").write_text("VALUE = 1\n")
    (root / "obsolete.txt").write_text("to be deleted\n")
    (root / "old_name.txt").write_text("a file that will be renamed\n" * 5)
    (root / "data.bin").write_bytes(b"\x00\x01")
    (root / ".env").write_text("API_KEY=never-in-a-diff\n")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / ".venv")],
                   check=True)
    site = next((root / ".venv" / "lib").glob("python3*/site-packages"))
    (site / "depmod.py").write_text("NAME = 'a dependency'\n")
    (root / ".gitignore").write_text(".venv/\n.env\n__pycache__/\n")
    if git:
        _git(root, "init", "-q")
        _git(root, "add", "-A")
        _git(root, "commit", "-qm", "initial")
        (root / "app" / "settings.py").write_text("VALUE = 1  # dirty, not committed\n")
        (root / "untracked.txt").write_text("untracked but not ignored\n")
    return root


def _snapshot(tree: Path) -> dict[str, bytes]:
    found = {}
    for path in sorted(tree.rglob("*")):
        if path.is_file() and not path.is_symlink():
            found[path.relative_to(tree).as_posix()] = path.read_bytes()
    return found


@pytest.fixture(scope="module")
def aura(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Aura]:
    root = tmp_path_factory.mktemp("aura-projects")
    system = Aura(root=root, ollama_url="http://127.0.0.1:9")  # no Ollama employee here
    system.workspace.mkdir()
    (root / "agent.sh").write_text(AGENT)
    (root / "agent.sh").chmod(0o755)
    system.start()
    try:
        yield system
    finally:
        system.stop_and_check(signal.SIGTERM)


@pytest.fixture(scope="module")
def token(aura: Aura) -> str:
    headers = {"Authorization": f"Bearer {aura.director_key}"}
    with httpx.Client(base_url=f"{aura.api}/api/v1", headers=headers, timeout=30) as api:
        hired = api.post("/employees", json={
            "name": "agent", "adapter": "cli", "command": ["/bin/sh", str(aura.root / "agent.sh")],
        })
        assert hired.status_code == 201, hired.text
        issued = api.post("/tokens", json={"name": "projects"})
        assert issued.status_code == 201, issued.text
        return str(issued.json()["token"])


async def _run_job(aura: Aura, token: str, project: Path) -> dict[str, Any]:
    async with mcp_client(aura, token) as client:
        submitted = await client.call_tool("submit_job", {
            "prompt": "change the settings", "project": str(project), "employee": "agent",
            "acceptance": [CHECK],
        })
        assert not submitted.is_error, _error_text(submitted)
        job_id = (submitted.structured_content or {})["job_id"]
        for _ in range(10):
            result = await client.call_tool("wait_job", {"job_id": job_id, "timeout_s": 20})
            job = dict(result.structured_content or {})
            if job["status"] in TERMINAL:
                return job
    raise AssertionError(f"job {job_id} did not finish")


def _apply(tree: Path, patch: Path) -> None:
    subprocess.run(["git", "apply", "--check", str(patch)], cwd=tree, check=True)
    subprocess.run(["git", "apply", str(patch)], cwd=tree, check=True)


def _export(aura: Aura, job_id: str, state: str, dest: Path) -> dict[str, bytes]:
    env = {**aura.env(), "AURA_API_PORT": str(aura.api_port)}
    done = subprocess.run(
        [sys.executable, "-m", "mcp_server.cli", "job", job_id, "--export", state, str(dest)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    with tarfile.open(dest) as tar:
        return {m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
                for m in tar.getmembers() if m.isfile()}


@pytest.mark.parametrize("kind", ["git", "plain"])
async def test_a_project_goes_through_the_whole_job_path(
    aura: Aura, token: str, kind: str, tmp_path: Path
) -> None:
    project = _make_project(aura.workspace / kind, git=kind == "git")
    before = _snapshot(project)
    git_state = _git(project, "status", "--porcelain") if kind == "git" else ""

    job = await _run_job(aura, token, project)

    assert job["status"] == "succeeded", job
    assert ".venv is read-only" in job["output"], job["output"]
    assert _snapshot(project) == before  # the project was never written
    if kind == "git":
        assert _git(project, "status", "--porcelain") == git_state
    diff = job["diff"]
    for ignored in (".venv", ".env", "__pycache__", ".pyc", "never-in-a-diff"):
        assert ignored not in diff, ignored
    assert "+VALUE = 2" in diff and "app/added.py" in diff and "obsolete.txt" in diff
    assert "rename from old_name.txt" in diff and "GIT binary patch" in diff

    # The diff applies to a copy of the project as it was, and gives the job's result.
    copy = tmp_path / "copy"
    shutil.copytree(project, copy, symlinks=True)
    patch = tmp_path / "job.patch"
    patch.write_text(diff)
    _apply(copy, patch)
    applied = _snapshot(copy)
    assert applied["app/settings.py"] == b"VALUE = 2\n"
    assert applied["data.bin"] == b"\x01\x02\x03"
    assert "obsolete.txt" not in applied and "old_name.txt" not in applied
    assert applied["new_name.txt"] == before["old_name.txt"]

    # The states on demand: before as the project was, after as the job left it.
    before_tar = _export(aura, job["job_id"], "before", tmp_path / "before.tar")
    after_tar = _export(aura, job["job_id"], "after", tmp_path / "after.tar")
    assert before_tar["app/settings.py"] == before["app/settings.py"]
    assert ".env" not in before_tar and not any(".venv" in n for n in before_tar)
    expected_after = {k: v for k, v in applied.items()
                      if not k.startswith((".venv/", ".git/")) and k != ".env"}
    assert after_tar == expected_after
