"""The workspace check: which directories a job may name as its project."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestra.errors import Forbidden, InvalidInput, NotFound
from orchestra.workspaces import Workspaces


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "proj").mkdir(parents=True)
    return root


def test_project_inside_a_workspace_resolves_to_its_real_path(ws: Path) -> None:
    assert Workspaces([ws]).resolve_project(str(ws / "proj")) == (ws / "proj").resolve()


def test_the_workspace_root_itself_is_allowed(ws: Path) -> None:
    assert Workspaces([ws]).resolve_project(str(ws)) == ws.resolve()


def test_project_outside_every_workspace_is_forbidden_naming_the_setting(
    ws: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(Forbidden, match=r"outside the workspaces \(AURA_WORKSPACES=.*ws\)"):
        Workspaces([ws]).resolve_project(str(other))


def test_symlink_inside_a_workspace_pointing_outside_is_forbidden(
    ws: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "secret"
    outside.mkdir()
    (ws / "link").symlink_to(outside)
    with pytest.raises(Forbidden):
        Workspaces([ws]).resolve_project(str(ws / "link"))


def test_dotdot_escape_from_a_workspace_is_forbidden(ws: Path, tmp_path: Path) -> None:
    (tmp_path / "escape").mkdir()
    with pytest.raises(Forbidden):
        Workspaces([ws]).resolve_project(f"{ws}/proj/../../escape")


def test_sibling_sharing_a_name_prefix_is_not_inside_the_workspace(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    evil = tmp_path / "ws-evil"
    evil.mkdir()
    with pytest.raises(Forbidden):
        Workspaces([root]).resolve_project(str(evil))


def test_relative_project_path_is_invalid(ws: Path) -> None:
    with pytest.raises(InvalidInput, match="absolute"):
        Workspaces([ws]).resolve_project("proj")


def test_missing_project_inside_a_workspace_is_not_found(ws: Path) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        Workspaces([ws]).resolve_project(str(ws / "nope"))


def test_missing_path_outside_workspaces_is_forbidden_not_revealed(ws: Path) -> None:
    with pytest.raises(Forbidden):
        Workspaces([ws]).resolve_project("/definitely/not/here")


def test_a_file_is_not_a_project(ws: Path) -> None:
    (ws / "file.txt").write_text("x")
    with pytest.raises(InvalidInput, match="not a directory"):
        Workspaces([ws]).resolve_project(str(ws / "file.txt"))


def test_with_no_workspaces_every_project_is_refused_and_told_to_set_them(ws: Path) -> None:
    with pytest.raises(Forbidden, match="AURA_WORKSPACES"):
        Workspaces([]).resolve_project(str(ws / "proj"))


def test_workspace_root_given_through_a_symlink_still_contains_its_projects(
    ws: Path, tmp_path: Path
) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(ws)
    assert Workspaces([alias]).resolve_project(str(ws / "proj")) == (ws / "proj").resolve()


def test_project_containing_auras_own_directories_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "code"
    aura = root / "aura-orchestra"
    (aura / ".aura").mkdir(parents=True)
    workspaces = Workspaces([root], reserved=[aura / ".aura", aura / "sandboxes"])
    with pytest.raises(Forbidden, match="overlaps Aura's own directory"):
        workspaces.resolve_project(str(aura))
    with pytest.raises(Forbidden, match="overlaps"):
        workspaces.resolve_project(str(aura / ".aura"))
    other = root / "other"
    other.mkdir()
    assert workspaces.resolve_project(str(other)) == other.resolve()
