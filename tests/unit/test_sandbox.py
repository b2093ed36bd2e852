"""Per-job sandboxes: a faithful copy of the project, and the diff back to it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestra.errors import InvalidInput
from orchestra.sandbox import SandboxStore, unified_diff


def _tree(root: Path) -> dict[str, bytes | str]:
    """Every file's bytes and every symlink's target, by relative path."""
    found: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            found[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            found[rel] = path.read_bytes()
    return found


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "pkg" / "mod.py").write_text("def f():\n    return 1\n")
    (root / "README.md").write_text("hello\n")
    (root / "data.bin").write_bytes(b"\x00\x01\x02")
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "run.sh").chmod(0o755)
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "inner-link").symlink_to("README.md")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret\n")
    (root / "escape").symlink_to(outside)
    return root


def test_prepare_makes_a_faithful_copy_keeping_symlinks_as_links(
    project: Path, tmp_path: Path
) -> None:
    store = SandboxStore(tmp_path / "sandboxes")
    box = store.prepare("job-1", project)
    assert box == store.path("job-1") == tmp_path / "sandboxes" / "job-1"
    assert _tree(box) == _tree(project)
    assert (box / "escape").is_symlink()  # not followed: the outside tree was not copied
    assert os.access(box / "run.sh", os.X_OK)
    assert unified_diff(project, box) == ""


def test_editing_the_sandbox_never_touches_the_project(project: Path, tmp_path: Path) -> None:
    before = _tree(project)
    box = SandboxStore(tmp_path / "sandboxes").prepare("job-2", project)
    (box / "README.md").write_text("changed\n")
    (box / "src" / "pkg" / "mod.py").unlink()
    (box / "new.txt").write_text("new\n")
    assert _tree(project) == before


def test_prepare_again_replaces_an_earlier_attempt_and_remove_deletes_it(
    project: Path, tmp_path: Path
) -> None:
    store = SandboxStore(tmp_path / "sandboxes")
    box = store.prepare("job-3", project)
    (box / "leftover.txt").write_text("from attempt 1\n")
    box = store.prepare("job-3", project)
    assert not (box / "leftover.txt").exists()
    store.remove("job-3")
    assert not box.exists()
    store.remove("job-3")  # removing twice is harmless
    assert os.listdir(tmp_path / "sandboxes") == []


def test_job_ids_that_are_not_plain_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        SandboxStore(tmp_path).path("../escape")


def test_diff_shows_modified_added_and_deleted_files_sorted_with_git_headers(
    project: Path, tmp_path: Path
) -> None:
    box = SandboxStore(tmp_path / "sandboxes").prepare("job-4", project)
    (box / "src" / "pkg" / "mod.py").write_text("def f():\n    return 2\n")
    (box / "README.md").unlink()
    (box / "added.txt").write_text("one\ntwo\n")
    diff = unified_diff(project, box)
    assert diff == (
        "diff --git a/README.md b/README.md\n"
        "deleted file mode 100644\n"
        "--- a/README.md\n"
        "+++ /dev/null\n"
        "@@ -1 +0,0 @@\n"
        "-hello\n"
        "diff --git a/added.txt b/added.txt\n"
        "new file mode 100644\n"
        "--- /dev/null\n"
        "+++ b/added.txt\n"
        "@@ -0,0 +1,2 @@\n"
        "+one\n"
        "+two\n"
        "diff --git a/src/pkg/mod.py b/src/pkg/mod.py\n"
        "--- a/src/pkg/mod.py\n"
        "+++ b/src/pkg/mod.py\n"
        "@@ -1,2 +1,2 @@\n"
        " def f():\n"
        "-    return 1\n"
        "+    return 2\n"
    )


def test_diff_notes_binary_files_instead_of_printing_them(project: Path, tmp_path: Path) -> None:
    box = SandboxStore(tmp_path / "sandboxes").prepare("job-5", project)
    (box / "data.bin").write_bytes(b"\x00\x09\x09")
    (box / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    diff = unified_diff(project, box)
    assert "Binary files a/data.bin and b/data.bin differ\n" in diff
    assert "Binary files /dev/null and b/image.png differ\n" in diff
    assert "\x00" not in diff


def test_diff_marks_a_missing_final_newline_and_mode_changes(
    project: Path, tmp_path: Path
) -> None:
    box = SandboxStore(tmp_path / "sandboxes").prepare("job-6", project)
    (box / "README.md").write_text("hello\nworld")
    (box / "run.sh").chmod(0o644)
    diff = unified_diff(project, box)
    assert "+world\n\\ No newline at end of file\n" in diff
    assert "diff --git a/run.sh b/run.sh\nold mode 100755\nnew mode 100644\n" in diff


def test_diff_leaves_out_git_internals(project: Path, tmp_path: Path) -> None:
    box = SandboxStore(tmp_path / "sandboxes").prepare("job-7", project)
    (box / ".git" / "HEAD").write_text("ref: refs/heads/other\n")
    assert unified_diff(project, box) == ""
