"""The terminal's log view for people, and JSON lines for files and collectors."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from mcp_server.logging import HumanFormatter, configure


def _record(name: str, level: int, message: str, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord(name, level, __file__, 1, message, (), None)
    record.__dict__.update(extra)
    return record


def test_an_event_is_one_readable_coloured_line() -> None:
    line = HumanFormatter(colour=True).format(
        _record("orchestra.manager", logging.INFO, "job 8fe6d434 succeeded: in 2.1s",
                tone="ok", job_id="8fe6d434-…"))
    assert line.endswith("job 8fe6d434 succeeded: in 2.1s\x1b[0m") and "\x1b[32m" in line
    plain = HumanFormatter(colour=False).format(
        _record("orchestra.manager", logging.WARNING, "lease rescue failed"))
    assert plain[8:] == "  warning: lease rescue failed" and "{" not in plain


@pytest.fixture
def restore_logging() -> object:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield None
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("pgserver").propagate = True


def test_people_see_our_events_not_uvicorn_or_postgres_chatter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_logging: object
) -> None:
    terminal = io.StringIO()
    monkeypatch.setattr("sys.stdout", terminal)
    monkeypatch.setenv("AURA_LOG_FORMAT", "human")
    monkeypatch.setenv("NO_COLOR", "1")
    path = configure("up", tmp_path / "logs")
    logging.getLogger("orchestra.manager").info("job 1 started: echo in slot 0")
    logging.getLogger("uvicorn.error").info("Started server process [1]")
    logging.getLogger("pgserver").info("Running commandline: initdb …")
    logging.getLogger("mcp.server.streamable_http_manager").info("session manager started")
    logging.getLogger("httpx").warning("a warning from anyone is shown")
    shown = terminal.getvalue().splitlines()
    assert [line[10:] for line in shown] == [
        "job 1 started: echo in slot 0", "warning: a warning from anyone is shown"]
    for handler in logging.getLogger().handlers + logging.getLogger("pgserver").handlers:
        handler.flush()
    in_file = [json.loads(line)["message"] for line in path.read_text().splitlines()]
    assert "Started server process [1]" in in_file  # the file keeps everything but postgres
    assert "initdb" in (tmp_path / "logs" / "postgres.log").read_text()


def test_without_a_terminal_the_lines_are_json_without_uvicorn_notices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_logging: object
) -> None:
    terminal = io.StringIO()
    monkeypatch.setattr("sys.stdout", terminal)
    monkeypatch.delenv("AURA_LOG_FORMAT", raising=False)
    configure("up", tmp_path / "logs")
    logging.getLogger("uvicorn.error").info("Waiting for application startup.")
    logging.getLogger("orchestra.pool").info("slot 0 loaded llama", extra={"slot": 0})
    lines = [json.loads(line) for line in terminal.getvalue().splitlines()]
    assert [(e["message"], e.get("context")) for e in lines] == [
        ("slot 0 loaded llama", {"slot": 0})]
