"""Job copies and snapshots: real files, real git, and (where it matters) real bubblewrap."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tarfile
import time
from pathlib import Path

import pytest

from governance.validation import BwrapValidator
from orchestra.employees.base import WorkRequest
from orchestra.employees.cli import CliEmployee
from orchestra.errors import InvalidInput, NotFound, Unavailable
from orchestra.models import Adapter, Employee
from orchestra.runlog import RunLog
from orchestra.sandbox import JobCopy, Sandboxes, diff
from orchestra.sandbox.view import Toolchain
from tests.unit.trees import Tree, edit_everything, git, tree

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap not installed")


def listing(root: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every entry under root with its mode, mtime and content: to prove nothing was written."""
    found = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        data = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        found[path.relative_to(root).as_posix()] = (info.st_mode, info.st_mtime_ns, data)
    return found


def tar_tree(archive: Path) -> Tree:
    found: Tree = {}
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if member.issym():
                found[member.name] = ("link", os.fsencode(member.linkname))
            elif member.isfile():
                extracted = tar.extractfile(member)
                assert extracted is not None
                kind = "exec" if member.mode & 0o100 else "file"
                found[member.name] = (kind, extracted.read())
    return found


async def test_a_whole_job_writes_neither_the_project_nor_its_git_directory(
    project: Path, boxes: Sandboxes, tmp_path: Path
) -> None:
    (project / "README.md").write_text("dirty\n")  # a dirty tracked file
    git_before, files_before = listing(project / ".git"), tree(project)
    copy = await boxes.prepare("job-1", project)
    edit_everything(copy.path, tmp_path)
    await boxes.finish(copy)
    await boxes.export("job-1", "after", tmp_path / "after.tar")
    await boxes.remove("job-1")
    assert listing(project / ".git") == git_before
    assert tree(project) == files_before


async def test_the_diff_applies_exactly_with_git_apply_in_a_clone(
    project: Path, boxes: Sandboxes, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not to be copied\n")
    copy = await boxes.prepare("job-2", project)
    edit_everything(copy.path, outside)
    text = await boxes.finish(copy)

    assert "diff --git a/src/mod.py b/src/mod.py" in text
    assert "GIT binary patch" in text  # data.bin, image.png, and the latin-1 text file
    assert "old mode 100755\nnew mode 100644" in text
    assert "rename from old-name.txt\nrename to new-name.txt" in text
    assert "deleted file mode 100644" in text and "gone.txt" in text
    assert "+world\n\\ No newline at end of file" in text
    assert "new file mode 120000" in text and "+" + str(outside) in text
    assert "not to be copied" not in text  # a symlink out is a link, never followed
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(project), str(clone))
    git(clone, "apply", "--check", stdin=text.encode())
    git(clone, "apply", stdin=text.encode())
    skip = (".git", "node_modules")
    assert tree(clone, skip) == tree(copy.path, skip)


async def test_dirty_and_untracked_files_are_in_the_before_state_ignored_ones_are_not(
    project: Path, boxes: Sandboxes, tmp_path: Path
) -> None:
    (project / "README.md").write_text("dirty\n")
    (project / "notes.txt").write_text("untracked\n")
    (project / "gone.txt").unlink()  # deleted in the work tree, still tracked
    copy = await boxes.prepare("job-3", project)
    assert (copy.path / "README.md").read_text() == "dirty\n"
    assert (copy.path / "notes.txt").read_text() == "untracked\n"
    assert not (copy.path / "gone.txt").exists()
    assert not (copy.path / ".env").exists()
    assert os.listdir(copy.path / "node_modules") == []  # only a mount point
    before = tar_tree(await boxes.export("job-3", "before", tmp_path / "before.tar"))
    assert before == tree(copy.path, (".git", "node_modules"))
    assert copy.read_only == (project / "node_modules",)


async def test_ignored_and_cache_files_created_by_a_job_never_reach_the_diff(
    project: Path, boxes: Sandboxes
) -> None:
    copy = await boxes.prepare("job-4", project)
    (copy.path / ".env").write_text("API_KEY=other\n")
    (copy.path / "src" / "__pycache__").mkdir()
    (copy.path / "src" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\x00pyc")
    (copy.path / "stray.pyc").write_bytes(b"\x00pyc")
    (copy.path / ".pytest_cache").mkdir()
    (copy.path / ".pytest_cache" / "v").write_text("x")
    (copy.path / "node_modules" / "written.js").write_text("x")  # the mount point, on the host
    (copy.path / "kept.txt").write_text("a real new file\n")
    text = await boxes.finish(copy)
    assert "kept.txt" in text
    for name in (".env", "pyc", ".pytest_cache", "node_modules"):
        assert name not in text


async def test_a_tracked_file_that_matches_an_ignore_rule_is_still_copied(
    project: Path, boxes: Sandboxes
) -> None:
    (project / "keep.env").write_text("tracked anyway\n")
    (project / ".gitignore").write_text(".env\n*.env\n")
    git(project, "add", "-f", "keep.env")
    copy = await boxes.prepare("job-5", project)
    assert (copy.path / "keep.env").read_text() == "tracked anyway\n"
    (copy.path / "keep.env").write_text("changed\n")
    assert "+changed" in await boxes.finish(copy)


async def test_editing_the_project_during_a_job_changes_neither_its_before_state_nor_diff(
    project: Path, boxes: Sandboxes, tmp_path: Path
) -> None:
    copy = await boxes.prepare("job-6", project)
    before = tar_tree(await boxes.export("job-6", "before", tmp_path / "b1.tar"))
    (project / "README.md").write_text("the Director's edit\n")
    (project / "director.txt").write_text("new\n")
    (copy.path / "src" / "mod.py").write_text("def f():\n    return 3\n")
    text = await boxes.finish(copy)
    assert tar_tree(await boxes.export("job-6", "before", tmp_path / "b2.tar")) == before
    assert "README.md" not in text and "director.txt" not in text
    assert "+    return 3" in text


async def test_two_jobs_on_one_project_at_once_do_not_see_each_other(
    project: Path, boxes: Sandboxes
) -> None:
    one, two = await asyncio.gather(
        boxes.prepare("job-a", project), boxes.prepare("job-b", project)
    )
    (one.path / "a.txt").write_text("from a\n")
    (two.path / "b.txt").write_text("from b\n")
    assert not (two.path / "a.txt").exists() and not (one.path / "b.txt").exists()
    diff_a, diff_b = await asyncio.gather(boxes.finish(one), boxes.finish(two))
    assert "a.txt" in diff_a and "b.txt" not in diff_a
    assert "b.txt" in diff_b and "a.txt" not in diff_b


async def test_export_of_before_and_after_equals_the_states(
    project: Path, boxes: Sandboxes, tmp_path: Path
) -> None:
    copy = await boxes.prepare("job-7", project)
    skip = (".git", "node_modules")
    state_before = tree(copy.path, skip)
    edit_everything(copy.path, tmp_path)
    await boxes.finish(copy)
    assert tar_tree(await boxes.export("job-7", "before", tmp_path / "b.tar")) == state_before
    after = tar_tree(await boxes.export("job-7", "after", tmp_path / "a.tar"))
    assert after == tree(copy.path, skip)
    with pytest.raises(NotFound):
        await boxes.export("no-such-job", "after", tmp_path / "x.tar")


def _peak_rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


async def test_a_sparse_512_mb_file_is_summarised_without_growing_our_memory(
    project: Path, boxes: Sandboxes
) -> None:
    copy = await boxes.prepare("job-8", project)
    size = 512 * 1024 * 1024
    with (copy.path / "huge.img").open("wb") as handle:
        handle.truncate(size)
    (copy.path / "src" / "mod.py").write_text("small change\n")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak to the current RSS
    start = _peak_rss_kb()
    text = await boxes.finish(copy)
    grown_mb = (_peak_rss_kb() - start) / 1024
    assert grown_mb < 100, f"finish grew the peak RSS by {grown_mb:.0f} MB"
    assert f"Binary files /dev/null and b/huge.img differ (binary, {size} bytes" in text
    assert "+small change" in text


async def test_the_diff_is_cut_at_its_limit_between_files(
    project: Path, boxes: Sandboxes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(diff, "DIFF_LIMIT", 4000)
    copy = await boxes.prepare("job-9", project)
    for n in range(10):
        (copy.path / f"f{n}.txt").write_text(f"line {n}\n" * 100)
    text = await boxes.finish(copy)
    assert len(text.encode()) < 4000 + 300
    assert "the diff stops here" in text
    assert text.count("diff --git") < 10


async def test_cancelling_prepare_of_a_large_non_git_project_is_quick_and_leaves_nothing(
    tmp_path: Path, boxes: Sandboxes
) -> None:
    big = tmp_path / "big"
    for d in range(20):
        (big / f"d{d}").mkdir(parents=True)
        for f in range(100):
            (big / f"d{d}" / f"{f}.bin").write_bytes(os.urandom(64 * 1024))  # 125 MiB
    task = asyncio.create_task(boxes.prepare("job-big", big))
    await asyncio.sleep(0.5)
    assert not task.done(), "prepare finished too fast for this test to mean anything"
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 1.0
    assert not boxes.path("job-big").exists()
    for _ in range(100):  # a staged half copy is being deleted in the background
        if not list(boxes.root.glob(".*")):
            break
        await asyncio.sleep(0.1)
    assert list(boxes.root.glob(".*")) == []


async def test_a_project_in_a_subdirectory_of_a_repository(
    boxes: Sandboxes, tmp_path: Path
) -> None:
    repo = tmp_path / "mono"
    sub = repo / "services" / "api"
    sub.mkdir(parents=True)
    (repo / ".gitignore").write_text("*.log\n")
    (repo / "top.txt").write_text("outside the project\n")
    (sub / "app.py").write_text("print('v1')\n")
    (sub / "old.txt").write_text("renamed in the job\n" * 5)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "initial")
    copy = await boxes.prepare("job-sub", sub)
    assert sorted(os.listdir(copy.path)) == ["app.py", "old.txt"]
    (copy.path / "app.py").write_text("print('v2')\n")
    (copy.path / "old.txt").rename(copy.path / "new.txt")
    (copy.path / "debug.log").write_text("ignored by the parent's .gitignore\n")
    text = await boxes.finish(copy)
    # git apply reads paths from the top of the work tree, even in a subdirectory.
    assert "diff --git a/services/api/app.py b/services/api/app.py" in text
    assert "debug.log" not in text
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    git(clone / "services" / "api", "apply", "--check", stdin=text.encode())
    git(clone / "services" / "api", "apply", stdin=text.encode())
    expected = tree(copy.path)
    del expected["debug.log"]
    assert tree(clone / "services" / "api") == expected


async def test_a_project_without_git(boxes: Sandboxes, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    (plain / ".venv" / "lib").mkdir(parents=True)
    (plain / ".venv" / "lib" / "dep.py").write_text("x = 1\n")
    (plain / "build").mkdir()
    (plain / "build" / "out.o").write_bytes(b"\x00")
    (plain / ".gitignore").write_text("build/\n")
    (plain / "main.py").write_text("print(1)\n")
    (plain / "tool.sh").write_text("#!/bin/sh\n")
    (plain / "tool.sh").chmod(0o755)
    copy = await boxes.prepare("job-plain", plain)
    assert tree(copy.path, (".venv", "build")) == tree(plain, (".venv", "build"))
    assert set(copy.read_only) == {plain / ".venv", plain / "build"}
    assert not (plain / ".git").exists()
    (copy.path / "main.py").write_text("print(2)\n")
    (copy.path / "new.py").write_text("x\n")
    text = await boxes.finish(copy)
    assert "-print(1)\n+print(2)" in text and "new.py" in text
    assert ".venv" not in text and "build/" not in text
    assert not (plain / ".git").exists()


async def test_prepare_again_replaces_an_earlier_attempt_and_remove_deletes_it(
    project: Path, boxes: Sandboxes
) -> None:
    copy = await boxes.prepare("job-r", project)
    (copy.path / "leftover.txt").write_text("from attempt 1\n")
    copy = await boxes.prepare("job-r", project)
    assert not (copy.path / "leftover.txt").exists()
    await boxes.remove("job-r")
    assert not copy.path.exists()
    await boxes.remove("job-r")  # removing twice is harmless
    for _ in range(50):
        if not list(boxes.root.iterdir()):
            break
        await asyncio.sleep(0.1)
    assert list(boxes.root.iterdir()) == []
    assert (boxes.snapshots.job_dir("job-r") / "snapshot.json").exists()  # refs and metadata stay


async def test_job_ids_that_are_not_plain_names_and_missing_projects_are_refused(
    boxes: Sandboxes, tmp_path: Path
) -> None:
    for bad in ("../escape", "a/b", ".hidden", "x.lock", ""):
        with pytest.raises(InvalidInput):
            boxes.path(bad)
    with pytest.raises(NotFound):
        await boxes.prepare("job-x", tmp_path / "missing")


async def test_missing_git_is_unavailable_and_says_so(project: Path, tmp_path: Path) -> None:
    boxes = Sandboxes(tmp_path / "s", tmp_path / "n", git="/nonexistent/git")
    with pytest.raises(Unavailable, match="git"):
        await boxes.prepare("job-g", project)


def test_the_toolchain_shows_interpreters_and_path_dirs_but_never_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    python = home / ".pyenv" / "versions" / "3.12.1"
    (python / "bin").mkdir(parents=True)
    (python / "bin" / "python3.12").write_text("")
    tools = home / ".local" / "bin"
    tools.mkdir(parents=True)
    (tools / "pytest").write_text(f"#!{python / 'bin' / 'python3.12'}\nimport pytest\n")
    (tools / "pytest").chmod(0o755)
    data = home / "aura-data"
    data.mkdir()
    project = tmp_path / "project"
    (project / ".venv").mkdir(parents=True)
    (project / ".venv" / "pyvenv.cfg").write_text(f"home = {python / 'bin'}\n")
    finder = Toolchain(hidden=[data], home=home)
    path_env = f"{tools}:{home}:{data}:/usr/bin"
    found = finder.for_project(project, (project / ".venv",), path_env)
    assert set(found) == {tools, python}
    assert finder.for_project(project, (), path_env) == (tools, python)


@needs_bwrap
async def test_an_ignored_venv_serves_acceptance_commands_read_only(
    project: Path, boxes: Sandboxes, tmp_path: Path
) -> None:
    venv = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "venv", "--without-pip", str(project / ".venv"))
    assert await venv.wait() == 0
    (project / ".gitignore").write_text(".env\n__pycache__/\nnode_modules/\n.venv/\n")
    site = next((project / ".venv" / "lib").glob("python3*/site-packages"))
    (site / "somepkg").mkdir()
    (site / "somepkg" / "__init__.py").write_text("ANSWER = 42\n")
    copy = await boxes.prepare("job-venv", project)
    assert project / ".venv" in copy.read_only
    assert copy.env["PATH"].startswith(f"{project / '.venv' / 'bin'}:")
    runlog = RunLog(tmp_path / "runlog.txt")
    report = await BwrapValidator().validate(copy, [
        ".venv/bin/python -c 'import somepkg; print(somepkg.ANSWER)'",
        "python -c 'import sys, somepkg; print(sys.prefix)'",  # PATH: .venv/bin first
        "touch .venv/written",
        "pwd; python -c 'import somepkg' && echo made > made.txt",
    ], runlog)
    imported, on_path, write, where = report.checks
    assert imported.passed and imported.output_tail == "42\n", imported.output_tail
    assert on_path.passed and on_path.output_tail == f"{project / '.venv'}\n"
    assert not write.passed and "Read-only file system" in write.output_tail
    assert not (project / ".venv" / "written").exists()
    assert where.output_tail.startswith(f"{project}\n")  # the copy, at the project's path
    assert (copy.path / "made.txt").exists() and not (project / "made.txt").exists()
    text = await boxes.finish(copy)
    assert "made.txt" in text and ".venv" not in text


@needs_bwrap
async def test_a_tool_on_the_services_path_runs_in_an_acceptance_check(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like `pytest` in ~/.local/bin, run by an interpreter under the user's home (pyenv)."""
    tools = tmp_path / "home" / ".local" / "bin"
    tools.mkdir(parents=True)
    interpreter = os.path.realpath(sys.executable)  # pyenv's, or wherever it really lives
    (tools / "greet").write_text(f"#!{interpreter}\nprint('hello from a PATH tool')\n")
    (tools / "greet").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}:{os.environ['PATH']}")
    boxes = Sandboxes(tmp_path / "sandboxes", tmp_path / "snapshots")
    copy = await boxes.prepare("job-tool", project)
    report = await BwrapValidator().validate(copy, ["greet"], RunLog(tmp_path / "log.txt"))
    check = report.checks[0]
    assert check.passed and check.output_tail == "hello from a PATH tool\n", check.output_tail
    touch = await BwrapValidator().validate(copy, [f"touch {tools}/x"], RunLog(tmp_path / "l"))
    assert not touch.passed  # shown read-only


@needs_bwrap
async def test_pycache_written_by_a_check_stays_out_of_the_diff(
    project: Path, boxes: Sandboxes, tmp_path: Path
) -> None:
    copy = await boxes.prepare("job-pyc", project)
    (copy.path / "src" / "test_mod.py").write_text("import mod\nassert mod.f() == 1\n")
    command = "cd src && python3 -c 'import sys; sys.dont_write_bytecode = False; import test_mod'"
    report = await BwrapValidator().validate(copy, [command], RunLog(tmp_path / "log.txt"))
    assert report.passed, report.checks[0].output_tail
    assert list((copy.path / "src" / "__pycache__").glob("*.pyc"))
    text = await boxes.finish(copy)
    assert "test_mod.py" in text and "pycache" not in text and ".pyc" not in text


def test_a_plain_directory_can_be_its_own_copy(tmp_path: Path) -> None:
    copy = JobCopy.of_directory(tmp_path)
    assert copy.project == copy.path == tmp_path.resolve()


@needs_bwrap
async def test_a_cli_employee_edits_the_copy_seen_at_the_project_path(
    project: Path, boxes: Sandboxes, tmp_path: Path
) -> None:
    copy = await boxes.prepare("job-cli", project)
    agent = tmp_path / "agent.sh"
    agent.write_text(
        "#!/bin/sh\npwd\necho edited > README.md\n"
        "cat node_modules/dep/index.js\n"
        "touch node_modules/dep/new.js 2>/dev/null || echo read-only\n"
    )
    agent.chmod(0o755)
    employee = CliEmployee(Employee(name="agent", adapter=Adapter.CLI, command=(str(agent),)))
    result = await employee.work(WorkRequest("x", copy, 30), RunLog(tmp_path / "log.txt"))
    assert result.text == f"{project}\nmodule.exports = 42;\nread-only\n"
    assert (copy.path / "README.md").read_text() == "edited\n"
    assert (project / "README.md").read_text() == "hello\n"
    assert "+edited" in await boxes.finish(copy)


@needs_bwrap
async def test_an_agent_in_a_subdirectory_project_cannot_reach_the_enclosing_repository(
    boxes: Sandboxes, tmp_path: Path
) -> None:
    mono = tmp_path / "mono"
    api = mono / "services" / "api"
    api.mkdir(parents=True)
    (api / "app.py").write_text("x = 1\n")
    git(mono, "init", "-q")
    git(mono, "add", "-A")
    git(mono, "commit", "-qm", "first")
    head = git(mono, "rev-parse", "HEAD")
    copy = await boxes.prepare("job-mono", api)
    agent = tmp_path / "agent.sh"
    # An agent that commits what it did (aider does by default).
    agent.write_text(
        "#!/bin/sh\necho 'x = 2' > app.py\n"
        "git -c user.name=a -c user.email=a@a commit -qam 'agent' 2>&1 || echo no-repository\n"
        "ls -A ../../.git | wc -l\n"
    )
    agent.chmod(0o755)
    employee = CliEmployee(Employee(name="agent", adapter=Adapter.CLI, command=(str(agent),)))
    result = await employee.work(WorkRequest("x", copy, 30), RunLog(tmp_path / "log.txt"))
    assert "no-repository" in result.text and result.text.endswith("0\n"), result.text
    assert git(mono, "rev-parse", "HEAD") == head  # the user's repository did not move
    assert git(mono, "status", "--porcelain") == ""
    assert (copy.path / "app.py").read_text() == "x = 2\n"


@needs_bwrap
async def test_only_dependency_folders_are_shown_not_other_ignored_folders(
    project: Path, tmp_path: Path
) -> None:
    (project / ".gitignore").write_text(".env\n__pycache__/\nnode_modules/\nsecrets/\nextra/\n")
    (project / "secrets").mkdir()
    (project / "secrets" / "prod.key").write_text("do not show\n")
    (project / "extra").mkdir()
    (project / "extra" / "lib.txt").write_text("named by the Director\n")
    boxes = Sandboxes(tmp_path / "sandboxes", tmp_path / "snapshots",
                      extra_dependency_dirs=["extra"])
    copy = await boxes.prepare("job-secret", project)
    assert set(copy.read_only) == {project / "node_modules", project / "extra"}
    report = await BwrapValidator().validate(
        copy, ["cat secrets/prod.key", "cat extra/lib.txt"], RunLog(tmp_path / "log.txt"))
    hidden, shown = report.checks
    assert not hidden.passed and "do not show" not in hidden.output_tail
    assert shown.passed and shown.output_tail == "named by the Director\n"
