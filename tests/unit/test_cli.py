"""The `aura` CLI's edges: user mistakes are one line on stderr and exit code 2."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from mcp_server.cli import EXIT_USAGE, main


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
