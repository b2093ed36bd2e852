"""What the CLI prints: tables and summaries for people on a terminal, JSON for programs.

JSON when `--json` is given or stdout is not a terminal (a pipe, a file, a test), people's
output with `--human` or on a terminal. Text that a verb prints whole (a diff, an output, a run
log) is written as it is either way, so `aura job ID --diff > change.patch` works.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from rich.console import Console
from rich.table import Table

SHORT_ID = 8
# Colours by what a status means to the Director, not by its name.
TONE = {
    "succeeded": "green", "active": "green", "idle": "green", "ok": "green",
    "failed": "red", "rejected": "red", "terminated": "red", "revoked": "red",
    "suspended": "yellow", "pending_approval": "yellow", "cancelled": "yellow",
    "running": "cyan", "validating": "cyan", "busy": "cyan", "loading": "cyan",
    "probation": "blue",
}


class Output:
    """One verb's output, human or JSON."""

    def __init__(self, as_json: bool | None) -> None:
        self.as_json = as_json if as_json is not None else not sys.stdout.isatty()

    def console(self) -> Console:
        # Made at use, on the current stdout (tests capture it); no guessing of highlights.
        return Console(file=sys.stdout, highlight=False, soft_wrap=False)

    def data(self, value: Any) -> None:
        print(json.dumps(value, indent=2, default=str))

    def text(self, value: str) -> None:
        """Text printed whole and as it is (a diff, an output, a run log)."""
        sys.stdout.write(value)
        if value and not value.endswith("\n"):
            sys.stdout.write("\n")
        sys.stdout.flush()

    def done(self, value: Any, message: str) -> None:
        """A change's confirmation: the line for people, the API's answer for programs."""
        if self.as_json:
            self.data(value)
        else:
            # Never broken at the terminal's width: a token must stay one copyable line.
            self.console().print(message, soft_wrap=True)

    def table(self, title: str, columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
        table = Table(title=title, title_justify="left", box=None, header_style="bold",
                      pad_edge=False)
        for name in columns:
            wide = name in ("PROMPT", "COMMAND / MODEL")
            table.add_column(name, overflow="ellipsis", no_wrap=True, ratio=1 if wide else None,
                             min_width=12 if wide else None)
        for row in rows:
            table.add_row(*row)
        self.console().print(table)


def toned(value: str | None) -> str:
    """`value` in its status colour (rich markup)."""
    if not value:
        return "-"
    tone = TONE.get(value)
    return f"[{tone}]{value}[/]" if tone else value


def short_id(value: str | None) -> str:
    return value[:SHORT_ID] if value else "-"


def first_line(text: str | None, limit: int = 200) -> str:
    line = next((part.strip() for part in (text or "").splitlines() if part.strip()), "")
    return line[:limit]


def age(stamp: str | None, now: datetime | None = None) -> str:
    """How long ago an ISO time was, in the largest whole unit: `45s`, `12m`, `3h`, `9d`."""
    if not stamp:
        return "-"
    try:
        then = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    seconds = max(0, int(((now or datetime.now(UTC)) - then).total_seconds()))
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def money(value: str | None) -> str:
    """USD from the API's decimal string, to the cent's hundredth (exact in the JSON)."""
    try:
        return f"${Decimal(value or '0'):.4f}"
    except InvalidOperation:
        return str(value)
