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


# ------------------------------------------------------------------ SEARCH/REPLACE blocks

APP = "def main():\n    return 1\n\n\ndef other():\n    return 1\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text(APP)
    return root


def _block(path: str, search: str, replace: str) -> str:
    return f"{path}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"


def test_search_replace_changes_the_one_matching_place(project: Path) -> None:
    reply = "Fixed.\n" + _block("src/app.py", "def main():\n    return 1\n",
                                "def main():\n    return 2\n")
    assert parse_edits(reply) == [
        Edit("replace", "src/app.py", "def main():\n    return 2\n", "def main():\n    return 1\n")
    ]
    assert apply_edits(project, parse_edits(reply)) == ["src/app.py"]
    assert (project / "src" / "app.py").read_text() == APP.replace("return 1", "return 2", 1)


def test_search_without_a_match_is_refused_naming_the_file_and_quoting_it(
    project: Path,
) -> None:
    reply = _block("src/app.py", "def mian():\n    return 1\n", "x\n")
    with pytest.raises(InvalidInput, match=r"(?s)src/app\.py has no match.*def mian\(\):"):
        apply_edits(project, parse_edits(reply))
    assert (project / "src" / "app.py").read_text() == APP


def test_search_matching_several_places_is_refused(project: Path) -> None:
    with pytest.raises(InvalidInput, match=r"(?s)src/app\.py has several matches.*return 1"):
        apply_edits(project, parse_edits(_block("src/app.py", "    return 1\n", "x\n")))
    assert (project / "src" / "app.py").read_text() == APP


def test_search_must_start_at_a_line_start(project: Path) -> None:
    # "turn 1" occurs inside "return 1" lines only, never as a whole line.
    with pytest.raises(InvalidInput, match="no match"):
        apply_edits(project, parse_edits(_block("src/app.py", "turn 1\n", "x\n")))


def test_an_empty_search_creates_a_new_file_but_not_over_an_existing_one(
    project: Path,
) -> None:
    apply_edits(project, parse_edits(_block("docs/new.md", "", "# New\n")))
    assert (project / "docs" / "new.md").read_text() == "# New\n"
    with pytest.raises(InvalidInput, match=r"src/app\.py.*already exists"):
        apply_edits(project, parse_edits(_block("src/app.py", "", "x\n")))


def test_several_blocks_apply_in_order_each_seeing_the_earlier_ones(project: Path) -> None:
    # The second block only matches once the first has run; fenced as models usually write.
    reply = (
        "src/app.py\n```python\n<<<<<<< SEARCH\ndef main():\n    return 1\n=======\n"
        "def main():\n    return 3\n>>>>>>> REPLACE\n```\n\n"
        "src/app.py\n```python\n<<<<<<< SEARCH\n    return 3\n=======\n    return 4\n"
        ">>>>>>> REPLACE\n<<<<<<< SEARCH\ndef other():\n=======\ndef renamed():\n"
        ">>>>>>> REPLACE\n```\n"
    )
    edits = parse_edits(reply)
    assert [e.path for e in edits] == ["src/app.py"] * 3
    assert apply_edits(project, edits) == ["src/app.py"]
    assert (project / "src" / "app.py").read_text() == (
        "def main():\n    return 4\n\n\ndef renamed():\n    return 1\n")


def test_a_fenced_block_with_the_path_inside_the_fence_parses() -> None:
    reply = "```\nsrc/app.py\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n```\n"
    assert parse_edits(reply) == [Edit("replace", "src/app.py", "b\n", "a\n")]


def test_a_file_without_a_final_newline_still_matches_and_keeps_it_missing(
    project: Path,
) -> None:
    (project / "tail.txt").write_text("one\ntwo")
    apply_edits(project, parse_edits(_block("tail.txt", "two\n", "three\n")))
    assert (project / "tail.txt").read_text() == "one\nthree"


@pytest.mark.parametrize("path", ["../outside.py", "/etc/passwd", "src/../../x"])
def test_search_replace_paths_escaping_the_project_are_refused(path: str) -> None:
    with pytest.raises(InvalidInput, match=path.replace(".", r"\.")):
        parse_edits(_block(path, "", "pwned\n"))


def test_search_replace_through_a_symlink_out_of_the_sandbox_is_refused(
    project: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "t.txt").write_text("keep\n")
    (project / "link").symlink_to(outside)
    with pytest.raises(InvalidInput, match="outside the sandbox"):
        apply_edits(project, parse_edits(_block("link/t.txt", "keep\n", "pwned\n")))
    assert (outside / "t.txt").read_text() == "keep\n"


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ("a.py\n<<<<<<< SEARCH\nx\n=======\ny\n", "not closed"),
        ("a.py\n<<<<<<< SEARCH\nx\n>>>>>>> REPLACE\n", "exactly one ======="),
        ("<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n", "no file path"),
    ],
)
def test_malformed_search_replace_blocks_are_invalid(reply: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_edits(reply)


def test_a_search_replace_path_cannot_also_be_written_whole_or_deleted() -> None:
    reply = "<<<DELETE a.py>>>\n" + _block("a.py", "x\n", "y\n")
    with pytest.raises(InvalidInput, match="more than once"):
        parse_edits(reply)


def test_a_failed_search_leaves_earlier_blocks_of_the_reply_unwritten(project: Path) -> None:
    reply = _block("new.txt", "", "n\n") + _block("src/app.py", "missing\n", "x\n")
    with pytest.raises(InvalidInput):
        apply_edits(project, parse_edits(reply))
    assert not (project / "new.txt").exists()
