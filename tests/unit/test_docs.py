"""The docs a new user follows stay true of the code: every `aura` command shown is a verb path
that exists with the options shown, every AURA_* variable named is a setting (or one of the
few variables read outside Settings), and every relative link resolves. (The MCP tools the docs
name are checked against the served tool list in tests/integration/test_docs_tools.py.)"""

from __future__ import annotations

import contextlib
import functools
import io
from pathlib import Path
from typing import Any

import pytest
import typer.main

from mcp_server.cli.app import build_app, main
from mcp_server.settings import Settings
from tests.docs_claims import (
    ROOT,
    USER_DOCS,
    Claim,
    anchors,
    commands,
    links,
    settings,
    text_of,
)

# Read outside Settings, each by the part named: the CLI (where the API is; the key file), an
# MCP client over stdio (its token), the test suite (its database).
NOT_SETTINGS = {"AURA_API_URL", "AURA_MCP_TOKEN", "AURA_TEST_DATABASE_URL"}


@functools.cache
def _root() -> Any:
    """The CLI as a command tree (Typer's own click: groups have `commands`)."""
    return typer.main.get_command(build_app())


@functools.cache
def _help_exit_code(path: tuple[str, ...]) -> int:
    """`aura PATH --help`, run once per verb path (the output is not the point)."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main([*path, "--help"])


def _options(command: Any) -> set[str]:
    return {opt for param in command.params for opt in [*param.opts, *param.secondary_opts]}


def _verb_path(argv: list[str]) -> tuple[list[str], Any, list[str]]:
    """The verb path at the start of argv, its command, and the options used after it."""
    command = _root()
    path: list[str] = []
    for word in argv:
        if word not in getattr(command, "commands", {}):
            break
        path.append(word)
        command = command.commands[word]
    options = [w.split("=", 1)[0] for w in argv[len(path):] if w.startswith("-")]
    return path, command, options


def _all_commands() -> list[tuple[Claim, list[str]]]:
    """Every command shown; `aura …` (any verb) is prose, not a command."""
    return [(claim, argv) for doc in USER_DOCS for claim, argv in commands(doc)
            if not argv or not argv[0].startswith("…")]


def test_the_readme_quick_start_is_the_two_commands() -> None:
    readme = text_of("README.md")
    section = readme[readme.index("## Quick start"):]
    start = section.index("```sh\n") + len("```sh\n")
    first_block = section[start:section.index("\n```", start)]
    assert first_block.splitlines() == ["scripts/dev_up.sh", "scripts/test.sh"]


def test_the_docs_show_aura_commands() -> None:
    # The pages exist and the reader below finds what they show.
    assert all((ROOT / doc).is_file() for doc in USER_DOCS)
    verbs = {" ".join(_verb_path(argv)[0]) for _, argv in _all_commands()}
    assert {"demo", "hire", "jobs", "audit verify", "budget set", "approve"} <= verbs


@pytest.mark.parametrize(("claim", "argv"), _all_commands(), ids=str)
def test_every_aura_command_shown_parses(claim: Claim, argv: list[str]) -> None:
    path, command, options = _verb_path(argv)
    assert path or argv[:1] in ([], ["--version"], ["--help"]), f"{claim}: no such verb"
    assert _help_exit_code(tuple(path)) == 0, f"{claim}: `aura {' '.join(path)} --help` failed"
    known = _options(command) | _options(_root()) | {"--help", "-h"}
    unknown = [o for o in options if o not in known]
    assert not unknown, f"{claim}: `aura {' '.join(path)}` has no option {unknown}"


@pytest.mark.parametrize(("claim", "name"),
                         [found for doc in USER_DOCS for found in settings(doc)], ids=str)
def test_every_aura_variable_named_is_a_setting(claim: Claim, name: str) -> None:
    fields = {f"AURA_{field.upper()}" for field in Settings.model_fields}
    assert name in fields | NOT_SETTINGS, f"{claim}: no such setting"


@pytest.mark.parametrize(("claim", "target", "anchor"),
                         [found for doc in USER_DOCS for found in links(doc)], ids=str)
def test_every_relative_link_resolves(claim: Claim, target: Path, anchor: str) -> None:
    assert target.exists(), f"{claim}: {target} does not exist"
    if anchor and target.suffix == ".md":
        assert anchor in anchors(target), f"{claim}: {target.name} has no heading #{anchor}"
