"""Applying a job's change to the real project: the after state of exactly the files the job
touched, refused when any of them changed since the job began, harmless twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra.errors import Conflict, NotFound
from orchestra.sandbox import Sandboxes
from tests.unit.trees import edit_everything, tree

SKIP = (".git", "node_modules")


async def test_applying_gives_the_project_the_jobs_after_state(
    project: Path, boxes: Sandboxes, tmp_path: Path
) -> None:
    (project / "notes.txt").write_text("the Director's own file, untouched by the job\n")
    copy = await boxes.prepare("job-a", project)
    edit_everything(copy.path, tmp_path)
    await boxes.finish(copy)
    (project / "unrelated.txt").write_text("written meanwhile, not touched by the job\n")
    applied = await boxes.apply("job-a", project)
    assert not applied.already
    assert {"src/mod.py", "data.bin", "run.sh", "gone.txt", "new-name.txt", "old-name.txt",
            "link", "escape", "latin1.txt", "image.png", "README.md"} == set(applied.files)
    expected = tree(copy.path, SKIP)
    expected["unrelated.txt"] = ("file", b"written meanwhile, not touched by the job\n")
    expected[".env"] = ("file", b"API_KEY=secret\n")  # ignored: never in the job's copy
    assert tree(project, SKIP) == expected
    assert not list(project.rglob("*.aura-apply-*"))  # no staging file left
    again = await boxes.apply("job-a", project)
    assert again.already and tree(project, SKIP) == expected


async def test_a_file_changed_since_the_job_began_refuses_the_whole_apply(
    project: Path, boxes: Sandboxes, tmp_path: Path
) -> None:
    copy = await boxes.prepare("job-b", project)
    edit_everything(copy.path, tmp_path)
    await boxes.finish(copy)
    (project / "src" / "mod.py").write_text("the Director edited this meanwhile\n")
    (project / "gone.txt").chmod(0o755)  # a mode change counts too
    before = tree(project, SKIP)
    with pytest.raises(Conflict) as refused:
        await boxes.apply("job-b", project)
    message = str(refused.value)
    assert "changed since the job began in 2 file(s)" in message
    assert "src/mod.py" in message and "gone.txt" in message
    assert tree(project, SKIP) == before  # nothing written


async def test_a_symlinked_directory_in_the_project_is_not_written_through(
    project: Path, boxes: Sandboxes, tmp_path: Path
) -> None:
    copy = await boxes.prepare("job-c", project)
    (copy.path / "out").mkdir()
    (copy.path / "out" / "new.txt").write_text("x\n")
    await boxes.finish(copy)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (project / "out").symlink_to(elsewhere)
    with pytest.raises(Conflict, match="out in the project is a symbolic link"):
        await boxes.apply("job-c", project)
    assert not (elsewhere / "new.txt").exists()


async def test_a_job_without_an_after_state_has_nothing_to_apply(
    project: Path, boxes: Sandboxes
) -> None:
    await boxes.prepare("job-d", project)
    with pytest.raises(NotFound, match="no after state"):
        await boxes.apply("job-d", project)


async def test_permissions_of_a_changed_file_are_kept(
    project: Path, boxes: Sandboxes, tmp_path: Path
) -> None:
    (project / "README.md").chmod(0o664)
    copy = await boxes.prepare("job-e", project)
    (copy.path / "README.md").write_text("new text\n")
    await boxes.finish(copy)
    await boxes.apply("job-e", project)
    assert (project / "README.md").read_text() == "new text\n"
    assert (project / "README.md").stat().st_mode & 0o777 == 0o664
