"""Each IDE client's own MCP configuration: where its file lives, its format, and Aura's entry.

The token is never written: every entry names the `AURA_MCP_TOKEN` environment variable in
the client's own syntax for it (VS Code asks once and keeps it in its secret storage), so the
files are safe in a repository. Formats as documented by each client (checked December 2026):
Claude Code `.mcp.json` (`${VAR}` expansion), Cursor `.cursor/mcp.json` (`${env:VAR}`), VS Code
`.vscode/mcp.json` (`servers`, `inputs`), Windsurf `~/.codeium/windsurf/mcp_config.json`
(`serverUrl`, `${env:VAR}`), Gemini CLI `~/.gemini/settings.json` (`httpUrl`, `$VAR`, `timeout`
in ms), Codex `~/.codex/config.toml` (`bearer_token_env_var`, `tool_timeout_sec`).

Pure functions on text and dicts (the standard library only): the verb in `mcp_config.py` does
the files.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp_server.cli.errors import CliError

SERVER_NAME = "aura"
# The same name `aura mcp --stdio` reads (mcp_server/stdio.py); kept here so the CLI imports
# no server code.
TOKEN_VARIABLE = "AURA_MCP_TOKEN"
# No Aura tool holds a call longer than 45 s (DESIGN §9); a minute leaves the slack.
TOOL_TIMEOUT_S = 60
VSCODE_INPUT_ID = "aura-mcp-token"


@dataclass(frozen=True)
class Where:
    """The directories a client's file is found from."""

    cwd: Path
    home: Path
    env: Mapping[str, str]


@dataclass(frozen=True)
class IdeClient:
    """One client: its file, its format and what Aura adds to it."""

    name: str
    locate: Callable[[Where], Path]
    render: Callable[[str], dict[str, Any]]  # URL → the part of the file Aura owns
    toml: bool = False
    note: str = ""
    # The client prompts for the token itself instead of reading AURA_MCP_TOKEN.
    prompts: bool = False

    def snippet(self, url: str) -> str:
        """What Aura adds, printed alone (in the file's format)."""
        if self.toml:
            return _toml_table(self.render(url))
        return json.dumps(self.render(url), indent=2) + "\n"

    def merged(self, existing: str, url: str, path: Path) -> str:
        """The file's text with Aura's entry added or replaced, everything else kept."""
        if self.toml:
            return _merge_toml(existing, self.render(url), path)
        return _merge_json(existing, self.render(url), path)


def _bearer(reference: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {reference}"}


def _claude_code(url: str) -> dict[str, Any]:
    return {"mcpServers": {SERVER_NAME: {
        "type": "http", "url": url, "headers": _bearer(f"${{{TOKEN_VARIABLE}}}")}}}


def _cursor(url: str) -> dict[str, Any]:
    return {"mcpServers": {SERVER_NAME: {
        "url": url, "headers": _bearer(f"${{env:{TOKEN_VARIABLE}}}")}}}


def _vscode(url: str) -> dict[str, Any]:
    return {
        "servers": {SERVER_NAME: {
            "type": "http", "url": url, "headers": _bearer(f"${{input:{VSCODE_INPUT_ID}}}")}},
        "inputs": [{"type": "promptString", "id": VSCODE_INPUT_ID, "password": True,
                    "description": f"Aura MCP token (the value of {TOKEN_VARIABLE})"}],
    }


def _windsurf(url: str) -> dict[str, Any]:
    return {"mcpServers": {SERVER_NAME: {
        "serverUrl": url, "headers": _bearer(f"${{env:{TOKEN_VARIABLE}}}")}}}


def _gemini_cli(url: str) -> dict[str, Any]:
    return {"mcpServers": {SERVER_NAME: {
        "httpUrl": url, "headers": _bearer(f"${TOKEN_VARIABLE}"),
        "timeout": TOOL_TIMEOUT_S * 1000}}}


def _codex(url: str) -> dict[str, Any]:
    return {"mcp_servers": {SERVER_NAME: {
        "url": url, "bearer_token_env_var": TOKEN_VARIABLE, "tool_timeout_sec": TOOL_TIMEOUT_S}}}


def _codex_home(where: Where) -> Path:
    named = where.env.get("CODEX_HOME")
    return Path(named).expanduser() if named else where.home / ".codex"


CLIENTS: dict[str, IdeClient] = {c.name: c for c in (
    IdeClient("claude-code", lambda w: w.cwd / ".mcp.json", _claude_code,
              note=f"Claude Code has no per-server timeout in .mcp.json; start it with "
                   f"MCP_TOOL_TIMEOUT={TOOL_TIMEOUT_S * 1000} for long calls"),
    IdeClient("cursor", lambda w: w.cwd / ".cursor" / "mcp.json", _cursor,
              note="Cursor has no tool-timeout setting for MCP servers"),
    IdeClient("vscode", lambda w: w.cwd / ".vscode" / "mcp.json", _vscode,
              note="VS Code asks for the token once (paste the value of AURA_MCP_TOKEN) "
                   "and keeps it in its secret storage", prompts=True),
    IdeClient("windsurf", lambda w: w.home / ".codeium" / "windsurf" / "mcp_config.json",
              _windsurf, note="Windsurf has no tool-timeout setting for MCP servers"),
    IdeClient("gemini-cli", lambda w: w.home / ".gemini" / "settings.json", _gemini_cli),
    IdeClient("codex", lambda w: _codex_home(w) / "config.toml", _codex, toml=True),
)}


def _unreadable(path: Path, why: str) -> CliError:
    return CliError(f"{path} is not valid ({why}); fix or move it and run again — nothing "
                    "was written")


def _merge_json(existing: str, ours: dict[str, Any], path: Path) -> str:
    try:
        data = json.loads(existing) if existing.strip() else {}
    except json.JSONDecodeError as exc:
        raise _unreadable(path, f"JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, dict):
        raise _unreadable(path, "its top level is not a JSON object")
    for key, value in ours.items():
        if key == "inputs":
            data[key] = _merge_inputs(data.get(key), value, path)
            continue
        section = data.setdefault(key, {})
        if not isinstance(section, dict):
            raise _unreadable(path, f"{key!r} is not an object")
        section.update(value)
    return json.dumps(data, indent=2) + "\n"


def _merge_inputs(theirs: Any, ours: list[dict[str, Any]], path: Path) -> list[Any]:
    if theirs is None:
        return list(ours)
    if not isinstance(theirs, list):
        raise _unreadable(path, "'inputs' is not a list")
    ids = {i["id"] for i in ours}
    return [i for i in theirs if not (isinstance(i, dict) and i.get("id") in ids)] + ours


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    # A JSON string of plain text is a valid TOML basic string.
    return json.dumps(str(value))


def _toml_table(ours: dict[str, Any]) -> str:
    (section, servers), = ours.items()
    (name, entry), = servers.items()
    lines = [f"[{section}.{name}]"] + [f"{k} = {_toml_value(v)}" for k, v in entry.items()]
    return "\n".join(lines) + "\n"


# `[mcp_servers.aura]` and its sub-tables (`[mcp_servers.aura.env]`), with or without quotes.
_OUR_HEADER = re.compile(r'^\s*\[\s*mcp_servers\s*\.\s*"?aura"?\s*(\.|\])')
_ANY_HEADER = re.compile(r"^\s*\[")


def _merge_toml(existing: str, ours: dict[str, Any], path: Path) -> str:
    """Drop our old table (by its lines, so others' comments and layout stay), append ours,
    and check that the result parses with everything else still in it."""
    try:
        before = tomllib.loads(existing)
    except tomllib.TOMLDecodeError as exc:
        raise _unreadable(path, f"TOML: {exc}") from None
    kept: list[str] = []
    inside = False
    for line in existing.splitlines():
        if _ANY_HEADER.match(line):
            inside = bool(_OUR_HEADER.match(line))
        if not inside:
            kept.append(line)
    text = "\n".join(kept).rstrip()
    merged = (text + "\n\n" if text else "") + _toml_table(ours)
    try:
        after = tomllib.loads(merged)
    except tomllib.TOMLDecodeError as exc:
        raise CliError(f"{path} declares mcp_servers in a form this command cannot add to "
                       f"({exc}); add the table printed by `aura mcp-config codex` by hand"
                       ) from None
    if _without_ours(after) != _without_ours(before):
        raise CliError(f"{path} declares mcp_servers.{SERVER_NAME} in a form this command "
                       "cannot rewrite; remove it and run again — nothing was written")
    return merged


def _without_ours(config: dict[str, Any]) -> dict[str, Any]:
    servers = {k: v for k, v in config.get("mcp_servers", {}).items() if k != SERVER_NAME}
    rest = {k: v for k, v in config.items() if k != "mcp_servers"}
    return {**rest, "mcp_servers": servers} if servers else rest
