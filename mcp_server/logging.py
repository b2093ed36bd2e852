"""Logs: JSON lines in `<home>/logs/<service>/latest.log` always; on the terminal, readable
one-line events for people (or JSON lines when stdout is not a terminal, for log collectors).

The embedded PostgreSQL's own chatter goes to `<home>/logs/postgres.log`, not the terminal;
uvicorn's start-up and shut-down notices (one set per server, so they looked doubled) go to the
file only.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

# Record attributes that are not context; uvicorn adds a terminal-coloured copy of its message.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "color_message", "taskName"}
# What people see at INFO on the terminal: our own loggers. Others only from WARNING up.
_OURS = ("orchestra", "governance", "mcp_server", "tools")
_UVICORN_NOTICES = ("Started server process", "Waiting for application", "Application startup",
                    "Application shutdown", "Finished server process", "Shutting down")
_COLOURS = {"ok": "\033[32m", "bad": "\033[31m", "warn": "\033[33m", "note": "\033[36m",
            "dim": "\033[2m"}
_RESET = "\033[0m"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any `extra` as context."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = _context(record)
        if context:
            entry["context"] = context
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class HumanFormatter(logging.Formatter):
    """`HH:MM:SS  message`, coloured by the event's tone (`extra={"tone": "ok"|"bad"|…}`) or
    the level; an exception adds its last line only (the file has the traceback)."""

    def __init__(self, colour: bool) -> None:
        super().__init__()
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
        tone = getattr(record, "tone", None) or _tone_of(record.levelno)
        if record.levelno >= logging.WARNING and not getattr(record, "tone", None):
            text = f"{record.levelname.lower()}: {text}"
        if self.colour and tone in _COLOURS:
            return f"{_COLOURS['dim']}{stamp}{_RESET}  {_COLOURS[tone]}{text}{_RESET}"
        return f"{stamp}  {text}"


def _tone_of(level: int) -> str | None:
    if level >= logging.ERROR:
        return "bad"
    if level >= logging.WARNING:
        return "warn"
    return None


def _context(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and k != "tone"}


class _ForPeople(logging.Filter):
    """Our INFO events and anybody's warnings; not uvicorn's start-up notices."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        return record.name.split(".")[0] in _OURS


class _NoUvicornNotices(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.startswith("uvicorn") and record.levelno < logging.WARNING
                    and record.getMessage().startswith(_UVICORN_NOTICES))


def wants_human(stream: TextIO) -> bool:
    """People at a terminal get the readable view; AURA_LOG_FORMAT=json|human overrides."""
    chosen = os.environ.get("AURA_LOG_FORMAT", "").lower()
    if chosen in ("json", "human"):
        return chosen == "human"
    return stream.isatty()


def configure(service: str, log_dir: Path, level: str = "INFO") -> Path:
    """Route the root logger to the terminal and the service's log file; returns the file."""
    path = log_dir / service / "latest.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    terminal = logging.StreamHandler(sys.stdout)
    if wants_human(sys.stdout):
        terminal.setFormatter(HumanFormatter(colour="NO_COLOR" not in os.environ))
        terminal.addFilter(_ForPeople())
    else:
        terminal.setFormatter(JsonFormatter())
        terminal.addFilter(_NoUvicornNotices())
    to_file = logging.FileHandler(path, encoding="utf-8")
    to_file.setFormatter(JsonFormatter())
    root.addHandler(terminal)
    root.addHandler(to_file)
    root.setLevel(level)
    # uvicorn's access log repeats what the metrics count; keep its errors only.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.disabled = False  # a dictConfig elsewhere in the process may have disabled it
        logger.setLevel(logging.NOTSET)
    _postgres_to_its_own_file(log_dir / "postgres.log")
    return path


def _postgres_to_its_own_file(path: Path) -> None:
    """initdb and pg_ctl output (through the `pgserver` logger) is for diagnosing the embedded
    database, not for the terminal."""
    logger = logging.getLogger("pgserver")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.propagate = False
