"""What an API model is sent: the files the task names, or a bounded selection, and the
retry prompt that feeds a failed edit back."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra import prompting
from orchestra.models import Adapter, Employee

MODEL = Employee(name="llama", adapter=Adapter.OLLAMA)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("APP_TEXT\n")
    (root / "src" / "util.py").write_text("UTIL_TEXT\n")
    (root / "README.md").write_text("README_TEXT\n")
    return root


def test_only_the_files_the_prompt_names_are_sent_but_all_are_listed(project: Path) -> None:
    sent = prompting.compose_prompt("Fix the bug in `./src/app.py`.", MODEL, project)
    assert "APP_TEXT" in sent
    assert "UTIL_TEXT" not in sent and "README_TEXT" not in sent
    assert "src/util.py" in sent and "README.md" in sent  # in the listing


def test_named_paths_outside_the_copy_or_through_symlinks_are_not_sent(
    project: Path, tmp_path: Path
) -> None:
    (tmp_path / "secret.txt").write_text("SECRET\n")
    (project / "link.txt").symlink_to(tmp_path / "secret.txt")
    sent = prompting.compose_prompt(f"read ../secret.txt link.txt {tmp_path}/secret.txt",
                                    MODEL, project)
    assert "SECRET" not in sent


def test_without_named_files_a_bounded_selection_of_small_files_is_sent(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prompting, "MAX_SELECTED_FILES", 2)
    (project / "big.txt").write_text("B" * (prompting.MAX_FILE_BYTES + 1))
    sent = prompting.compose_prompt("tidy up", MODEL, project)
    # Sorted walk order: README.md, big.txt (too big, skipped), src/app.py, src/util.py.
    assert "README_TEXT" in sent and "APP_TEXT" in sent and "UTIL_TEXT" not in sent
    assert "B" * 100 not in sent and "big.txt" in sent


def test_a_command_line_employee_gets_the_prompt_as_written(project: Path) -> None:
    cli = Employee(name="agent", adapter=Adapter.CLI, command=("agent",))
    assert prompting.compose_prompt("do it", cli, project) == "do it"


def test_the_retry_prompt_carries_the_prompt_the_reply_and_the_reason() -> None:
    retry = prompting.compose_retry("PROMPT", "REPLY\n", "no match in a.py")
    assert retry.index("PROMPT") < retry.index("REPLY") < retry.index("no match in a.py")
    assert retry.endswith("Reply with corrected edits.")
