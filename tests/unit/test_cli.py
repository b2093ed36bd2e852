"""The `aura` CLI's edges: user mistakes are one line on stderr and exit code 2."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from mcp_server.cli import EXIT_USAGE, main
from mcp_server.cli.app import build_app
from mcp_server.cli.client import api_base, director_key, environment


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AURA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AURA_DIRECTOR_KEY", "k")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_api_is_a_message_not_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AURA_API_PORT", str(_free_port()))
    assert main(["employees"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "cannot reach the API" in err and "Traceback" not in err


def test_token_create_without_a_name_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "create"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "Missing argument 'NAME'" in err and "aura token create --help" in err
    assert len(err.splitlines()) == 1


def test_bad_setting_is_reported_with_its_name(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only the server verbs read the server's settings; API verbs do not import them.
    monkeypatch.setenv("AURA_POOL_SLOTS", "7")
    assert main(["migrate"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "bad setting: pool_slots" in err and len(err.splitlines()) == 1


def test_hire_command_must_be_a_json_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hire", "x", "--adapter", "cli", "--command", "not json"]) == EXIT_USAGE
    assert "JSON list" in capsys.readouterr().err


def test_cli_never_creates_a_director_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AURA_DIRECTOR_KEY")
    assert main(["jobs"]) == EXIT_USAGE
    assert "cannot read the Director key" in capsys.readouterr().err
    assert not (tmp_path / "data" / "director.key").exists()


def _leaf_commands() -> list[tuple[str, Any]]:
    """Every verb of the Typer app, by its command path (`token create`, …)."""
    from typer.main import get_command

    found: list[tuple[str, Any]] = []

    def walk(command: Any, path: str) -> None:
        children = getattr(command, "commands", None)
        if children:
            for name, child in children.items():
                walk(child, f"{path} {name}".strip())
        else:
            found.append((path, command))

    walk(get_command(build_app()), "")
    return found


def test_every_verb_has_a_one_sentence_help_and_an_example() -> None:
    verbs = _leaf_commands()
    names = {path for path, _ in verbs}
    assert {"jobs", "job", "employees", "hire", "employee edit", "employee fire",
            "token create", "token list", "token revoke", "pool", "audit verify", "up",
            "serve", "worker", "migrate", "mcp"} <= names
    for path, command in verbs:
        assert command.help and command.help.strip().endswith("."), path
        assert command.epilog and f"aura {path.split()[0]}" in command.epilog, path


@pytest.mark.parametrize("verb", ["up", "serve", "worker", "migrate", "jobs", "token list"])
def test_help_describes_the_verb_and_shows_an_example(
    capsys: pytest.CaptureFixture[str], verb: str
) -> None:
    assert main([*verb.split(), "--help"]) == 0
    out = capsys.readouterr().out
    assert "Example" in out and f"aura {verb.split()[0]}" in out


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"aura {version('aura-orchestra')}"


def test_mcp_without_stdio_says_what_it_needs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mcp"]) == EXIT_USAGE
    assert "needs --stdio" in capsys.readouterr().err


def test_a_running_aura_is_found_from_another_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The key and the URL come from the running Aura's home, whatever the directory."""
    home = tmp_path / "elsewhere" / "home"
    home.mkdir(parents=True)
    (home / "director.key").write_text("the-key\n")
    record = {"home": str(home), "pid": os.getpid(), "api_url": "http://127.0.0.1:8123",
              "mcp_url": "http://127.0.0.1:9123/mcp", "started_at": "2026-01-01T00:00:00Z"}
    (home / "run.json").write_text(json.dumps(record))
    state = tmp_path / "state"
    (state / "aura").mkdir(parents=True)
    (state / "aura" / "running.json").write_text(json.dumps(record))
    env = {"XDG_STATE_HOME": str(state), "HOME": str(tmp_path)}
    monkeypatch.chdir(tmp_path)  # no ./.aura here
    assert api_base(None, env) == "http://127.0.0.1:8123/api/v1"
    assert director_key(env) == ("the-key", str(home / "director.key"))
    assert api_base("http://h:1/", env) == "http://h:1/api/v1"
    assert api_base(None, {**env, "AURA_API_URL": "http://u:2/api/v1"}) == "http://u:2/api/v1"


def test_dotenv_settings_reach_the_cli_under_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("AURA_API_PORT=8111\nAURA_DIRECTOR_KEY=from-dotenv\nX=1\n")
    monkeypatch.setenv("AURA_API_PORT", "8222")
    env = environment(tmp_path)
    assert env["AURA_API_PORT"] == "8222" and env["AURA_DIRECTOR_KEY"] == "k"
    monkeypatch.delenv("AURA_DIRECTOR_KEY")
    assert environment(tmp_path)["AURA_DIRECTOR_KEY"] == "from-dotenv"


# Modules an API verb must not load: the server, its database driver and web stack.
HEAVY = ("mcp_server.app", "mcp_server.runner", "mcp_server.settings", "orchestra.store",
         "orchestra.roster", "asyncpg", "uvicorn", "starlette", "mcp", "pydantic_settings")


@pytest.mark.parametrize("verb", [
    "jobs", "job 1234abcd", "job 1234abcd --diff", "employees", "token list", "pool",
    "audit verify", "hire x --adapter cli --command [\"/bin/true\"]", "employee fire x",
])
def test_api_verbs_import_no_server_modules(verb: str, tmp_path: Path) -> None:
    """Each verb in a fresh interpreter (against a port nobody listens on): the server's
    modules would cost every verb about a second."""
    script = (
        "import sys, json\n"
        "from mcp_server.cli import main\n"
        f"code = main({verb.split()!r} + ['--url', 'http://127.0.0.1:{_free_port()}'])\n"
        f"heavy = [m for m in sys.modules if m.split('.')[0] in {HEAVY!r}"
        f" or any(m.startswith(h + '.') or m == h for h in {HEAVY!r})]\n"
        "print(json.dumps({'code': code, 'heavy': heavy}))\n"
    )
    env = {**os.environ, "AURA_DIRECTOR_KEY": "k", "AURA_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=60)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == EXIT_USAGE and "cannot reach the API" in done.stderr
    assert result["heavy"] == []
