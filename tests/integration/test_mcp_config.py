"""`aura mcp-config CLIENT [--write]`: each client's own file format, parsed by that format's
rules, the token only ever as a reference, other servers kept, broken files left alone."""

from __future__ import annotations

import json
import os
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mcp_server.cli import EXIT_USAGE, main
from mcp_server.cli.ide_configs import CLIENTS
from mcp_server.home import Running

SECRET = "aura_mcp_do-not-leak-this-value"
URL = "http://127.0.0.1:19123/mcp"  # the running Aura's, from its home's run.json
FILES = {
    "claude-code": "project/.mcp.json", "cursor": "project/.cursor/mcp.json",
    "vscode": "project/.vscode/mcp.json", "windsurf": "home/.codeium/windsurf/mcp_config.json",
    "gemini-cli": "home/.gemini/settings.json", "codex": "home/.codex/config.toml",
}


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project, a HOME, and a running Aura's home that names its MCP URL; the token is in
    the environment and in the home's first-token file, where a careless command could find
    it."""
    for name in [k for k in os.environ if k.startswith(("AURA_", "XDG_", "CODEX_"))]:
        monkeypatch.delenv(name)
    (tmp_path / "project").mkdir()
    (tmp_path / "home").mkdir()
    aura_home = tmp_path / "aura-home"
    aura_home.mkdir()
    running = Running(aura_home, os.getpid(), "http://127.0.0.1:18000", URL,
                      datetime.now(UTC).isoformat())
    (aura_home / "run.json").write_text(json.dumps(running.as_json()))
    (aura_home / "first-mcp.token").write_text(SECRET + "\n")
    monkeypatch.setenv("AURA_HOME", str(aura_home))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AURA_MCP_TOKEN", SECRET)
    monkeypatch.chdir(tmp_path / "project")
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["mcp-config", *args])
    out, err = capsys.readouterr()
    return code, out, err


def parse(client: str, text: str) -> dict[str, Any]:
    return tomllib.loads(text) if client == "codex" else json.loads(text)  # type: ignore[no-any-return]


def check_documented_keys(client: str, config: dict[str, Any]) -> None:
    if client == "codex":
        entry = config["mcp_servers"]["aura"]
        assert entry == {"url": URL, "bearer_token_env_var": "AURA_MCP_TOKEN",
                         "tool_timeout_sec": 60}
        return
    if client == "vscode":
        entry = config["servers"]["aura"]
        assert entry["type"] == "http" and entry["url"] == URL
        assert entry["headers"] == {"Authorization": "Bearer ${input:aura-mcp-token}"}
        [prompt] = [i for i in config["inputs"] if i["id"] == "aura-mcp-token"]
        assert prompt["type"] == "promptString" and prompt["password"] is True
        return
    entry = config["mcpServers"]["aura"]
    expected = {
        "claude-code": ("url", "Bearer ${AURA_MCP_TOKEN}"),
        "cursor": ("url", "Bearer ${env:AURA_MCP_TOKEN}"),
        "windsurf": ("serverUrl", "Bearer ${env:AURA_MCP_TOKEN}"),
        "gemini-cli": ("httpUrl", "Bearer $AURA_MCP_TOKEN"),
    }
    url_key, header = expected[client]
    assert entry[url_key] == URL
    assert entry["headers"] == {"Authorization": header}
    if client == "claude-code":
        assert entry["type"] == "http"
    if client == "gemini-cli":
        assert entry["timeout"] == 60_000  # milliseconds


def test_every_client_of_the_design_is_covered() -> None:
    assert set(CLIENTS) == set(FILES)


@pytest.mark.parametrize("client", sorted(FILES))
def test_printed_config_parses_with_the_documented_keys_and_no_token(
    place: Path, capsys: pytest.CaptureFixture[str], client: str
) -> None:
    code, out, err = run(capsys, client)
    assert code == 0, err
    check_documented_keys(client, parse(client, out))
    assert SECRET not in out and SECRET not in err
    assert str(place / FILES[client]) in err
    assert not (place / FILES[client]).exists()  # printing writes nothing


@pytest.mark.parametrize("client", sorted(FILES))
def test_write_creates_the_file_in_its_place(
    place: Path, capsys: pytest.CaptureFixture[str], client: str
) -> None:
    code, out, err = run(capsys, client, "--write")
    assert code == 0, err
    assert out == ""
    written = (place / FILES[client]).read_text()
    check_documented_keys(client, parse(client, written))
    assert SECRET not in written and SECRET not in err
    assert [p.name for p in (place / FILES[client]).parent.iterdir()] == [
        Path(FILES[client]).name]  # no temporary file left behind


@pytest.mark.parametrize("client", sorted(c for c in FILES if c != "codex"))
def test_write_merges_into_a_json_file_and_keeps_other_servers(
    place: Path, capsys: pytest.CaptureFixture[str], client: str
) -> None:
    path = place / FILES[client]
    path.parent.mkdir(parents=True, exist_ok=True)
    key = "servers" if client == "vscode" else "mcpServers"
    theirs: dict[str, Any] = {
        "theme": "dark", key: {"other": {"command": "other-mcp"}, "aura": {"url": "old"}},
        "inputs": [{"type": "promptString", "id": "other-key"}],
    }
    path.write_text(json.dumps(theirs))
    path.chmod(0o600)
    for _ in range(2):  # a second run replaces Aura's entry; it does not add another
        code, _, err = run(capsys, client, "--write")
        assert code == 0, err
    merged = json.loads(path.read_text())
    check_documented_keys(client, merged)
    assert merged["theme"] == "dark"
    assert merged[key]["other"] == {"command": "other-mcp"}
    assert merged["inputs"][0]["id"] == "other-key"
    assert len(merged["inputs"]) == (2 if client == "vscode" else 1)
    assert path.stat().st_mode & 0o777 == 0o600


def test_write_merges_into_codex_toml_and_keeps_the_rest(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = place / FILES["codex"]
    path.parent.mkdir(parents=True)
    path.write_text(
        'model = "o4"\n# my servers\n[mcp_servers.docs]\ncommand = "docs-mcp"\n'
        '[mcp_servers.aura]\nurl = "http://old/mcp"\nbearer_token = "pasted"\n'
        '[mcp_servers.aura.env]\nX = "1"\n\n[profiles.fast]\nmodel = "mini"\n')
    for _ in range(2):
        code, _, err = run(capsys, "codex", "--write")
        assert code == 0, err
    text = path.read_text()
    merged = tomllib.loads(text)
    check_documented_keys("codex", merged)
    assert merged["model"] == "o4" and merged["profiles"] == {"fast": {"model": "mini"}}
    assert merged["mcp_servers"]["docs"] == {"command": "docs-mcp"}
    assert "# my servers" in text and "pasted" not in text


@pytest.mark.parametrize(("client", "broken"), [
    ("claude-code", '{"mcpServers": {'), ("vscode", "[1, 2]"), ("cursor", '{"mcpServers": 3}'),
    ("codex", "[mcp_servers.docs\ncommand = 1"),
    ("codex", "[mcp_servers]\naura.url = 'x'\n"),
])
def test_an_unparseable_file_is_refused_and_left_alone(
    place: Path, capsys: pytest.CaptureFixture[str], client: str, broken: str
) -> None:
    path = place / FILES[client]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(broken)
    code, out, err = run(capsys, client, "--write")
    assert code == EXIT_USAGE
    assert out == "" and len(err.strip().splitlines()) == 1 and str(path) in err
    assert "nothing was written" in err or "by hand" in err
    assert path.read_text() == broken
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_an_unknown_client_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "notepad")
    assert code == EXIT_USAGE and out == ""
    assert err.startswith("aura: unknown client 'notepad'; one of: claude-code")


def test_without_a_running_aura_the_url_comes_from_the_port_setting(
    place: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (place / "aura-home" / "run.json").unlink()
    monkeypatch.setenv("AURA_MCP_PORT", "9555")
    code, out, _ = run(capsys, "cursor")
    assert code == 0
    assert json.loads(out)["mcpServers"]["aura"]["url"] == "http://127.0.0.1:9555/mcp"
    code, out, _ = run(capsys, "cursor", "--mcp-url", "http://10.0.0.2:9000/mcp")
    assert json.loads(out)["mcpServers"]["aura"]["url"] == "http://10.0.0.2:9000/mcp"
