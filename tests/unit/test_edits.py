"""The edit format: parsing a model's reply and applying it to a sandbox, all or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra.edits import Edit, apply_edits, parse_edits
from orchestra.errors import InvalidInput

REPLY = """Here is the change.

<<<FILE src/app.py
def main():
    return 42
>>>FILE

And an empty marker file:
<<<FILE ./docs/EMPTY
>>>FILE
<<<DELETE old.txt>>>
Done.
"""


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()
    }


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    root = tmp_path / "sandbox"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("old\n")
    (root / "old.txt").write_text("bye\n")
    return root


def test_parse_reads_file_and_delete_blocks_in_order_ignoring_prose() -> None:
    assert parse_edits(REPLY) == [
        Edit("write", "src/app.py", "def main():\n    return 42\n"),
        Edit("write", "docs/EMPTY", ""),
        Edit("delete", "old.txt"),
    ]


def test_a_reply_without_blocks_has_no_edits() -> None:
    assert parse_edits("I looked, and nothing needs to change.\n") == []


def test_content_is_verbatim_including_marker_like_lines_and_crlf() -> None:
    reply = "<<<FILE a.txt\r\n<<<DELETE b>>>\r\nline\r\n>>>FILE\r\n"
    assert parse_edits(reply) == [Edit("write", "a.txt", "<<<DELETE b>>>\r\nline\r\n")]


def test_an_unclosed_file_block_is_invalid() -> None:
    with pytest.raises(InvalidInput, match=r"a\.py is not closed"):
        parse_edits("<<<FILE a.py\nprint(1)\n")


@pytest.mark.parametrize(
    ("reply", "named"),
    [
        ("<<<FILE /etc/passwd\nx\n>>>FILE\n", "/etc/passwd"),
        ("<<<FILE ../outside.txt\nx\n>>>FILE\n", "../outside.txt"),
        ("<<<DELETE src/../../x>>>\n", "src/../../x"),
        ("<<<FILE \nx\n>>>FILE\n", "empty path"),
    ],
)
def test_absolute_dotdot_and_empty_paths_are_refused_when_parsing(reply: str, named: str) -> None:
    with pytest.raises(InvalidInput, match=named.replace(".", r"\.")):
        parse_edits(reply)


def test_the_same_path_twice_in_one_reply_is_refused() -> None:
    with pytest.raises(InvalidInput, match="more than once"):
        parse_edits("<<<FILE a\n1\n>>>FILE\n<<<DELETE a>>>\n")


def test_apply_writes_creates_folders_deletes_and_returns_changed_paths(sandbox: Path) -> None:
    changed = apply_edits(sandbox, parse_edits(REPLY))
    assert changed == ["src/app.py", "docs/EMPTY", "old.txt"]
    assert (sandbox / "src" / "app.py").read_text() == "def main():\n    return 42\n"
    assert (sandbox / "docs" / "EMPTY").read_bytes() == b""
    assert not (sandbox / "old.txt").exists()


def test_apply_keeps_an_existing_files_permissions(sandbox: Path) -> None:
    (sandbox / "run.sh").write_text("#!/bin/sh\n")
    (sandbox / "run.sh").chmod(0o755)
    apply_edits(sandbox, [Edit("write", "run.sh", "#!/bin/sh\necho hi\n")])
    assert (sandbox / "run.sh").stat().st_mode & 0o777 == 0o755


def test_a_symlink_escaping_the_sandbox_is_refused_and_nothing_is_written(
    sandbox: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "target.txt").write_text("keep\n")
    (sandbox / "link-dir").symlink_to(outside)
    (sandbox / "link-file").symlink_to(outside / "target.txt")
    before = _snapshot(sandbox)
    for bad in ("link-dir/target.txt", "link-dir/new.txt", "link-file"):
        edits = [Edit("write", "src/app.py", "NEW\n"), Edit("write", bad, "pwned\n")]
        with pytest.raises(InvalidInput, match=bad.replace(".", r"\.")):
            apply_edits(sandbox, edits)
    assert _snapshot(sandbox) == before
    assert (outside / "target.txt").read_text() == "keep\n"
    assert sorted(p.name for p in outside.iterdir()) == ["target.txt"]


def test_constructed_edits_with_escaping_paths_are_refused_before_any_write(
    sandbox: Path,
) -> None:
    before = _snapshot(sandbox)
    for bad in ("/tmp/x", "../x", "a/../../x"):
        with pytest.raises(InvalidInput):
            apply_edits(sandbox, [Edit("delete", "old.txt"), Edit("write", bad, "x\n")])
    assert _snapshot(sandbox) == before


def test_deleting_a_missing_file_or_a_folder_is_refused(sandbox: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        apply_edits(sandbox, [Edit("delete", "nope.txt")])
    with pytest.raises(InvalidInput, match="directory"):
        apply_edits(sandbox, [Edit("delete", "src")])


def test_writing_over_a_folder_or_under_a_file_is_refused(sandbox: Path) -> None:
    with pytest.raises(InvalidInput, match="directory"):
        apply_edits(sandbox, [Edit("write", "src", "x\n")])
    with pytest.raises(InvalidInput, match="not a directory"):
        apply_edits(sandbox, [Edit("write", "old.txt/child", "x\n")])
    with pytest.raises(InvalidInput, match="both as a file and as a folder"):
        apply_edits(sandbox, [Edit("write", "new", "x\n"), Edit("write", "new/child", "y\n")])
