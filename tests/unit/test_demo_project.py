"""The demo project: its tests fail as shipped and pass once the fake's scripted answer is
applied through the real edit format; its script is read with clear errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mcp_server.demo.config import load_script
from mcp_server.demo.run import default_project, run_check
from orchestra.edits import apply_edits, parse_edits
from orchestra.errors import InvalidInput

PROJECT = default_project()


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    target = tmp_path / "project"
    shutil.copytree(PROJECT, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_the_demo_projects_tests_fail_as_shipped(copy: Path) -> None:
    script = load_script(copy)
    for command in script.job.acceptance:
        code, last = run_check(command, copy)
        assert code != 0, last
        assert "FAILED" in last


def test_the_scripted_answer_is_an_edit_that_makes_them_pass(copy: Path) -> None:
    script = load_script(copy)
    changed = apply_edits(copy, parse_edits(script.fake_reply))
    assert changed == ["shop/pricing.py"]
    for command in script.job.acceptance:
        code, last = run_check(command, copy)
        assert (code, last) == (0, "OK")


def test_the_script_names_employees_a_budget_a_job_and_the_policy() -> None:
    script = load_script(PROJECT)
    assert script.job.employee in {e["name"] for e in script.employees}
    assert script.fake_model in script.models
    assert script.policy_file.is_file()
    assert all(e["adapter"] == "ollama" for e in script.employees)


def test_a_directory_without_a_script_is_refused_by_path(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"aura/demo\.toml.*demo project"):
        load_script(tmp_path)


def _edited(copy: Path, old: str, new: str) -> Path:
    """The copy with one piece of its script replaced."""
    script_path = copy / "aura" / "demo.toml"
    script_path.write_text(script_path.read_text("utf-8").replace(old, new), "utf-8")
    return copy


@pytest.mark.parametrize(("old", "new", "message"), [
    ('employee = "ada"', 'employee = "nobody"', r"job\.employee 'nobody' is not one of"),
    ("[budget]", "[budgets]", r"the \[budget\] table is missing"),
    ('acceptance = ["python3 -B -m unittest"]', "acceptance = []", r"job\.acceptance must be"),
    ('reply_file = "scripted_reply.md"', 'reply_file = "gone.md"', r"fake\.reply_file .*gone"),
], ids=["unknown employee", "missing table", "no acceptance", "missing reply file"])
def test_a_bad_script_is_refused_naming_the_key(copy: Path, old: str, new: str,
                                                message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        load_script(_edited(copy, old, new))
