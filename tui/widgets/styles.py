"""Colours the console gives statuses and slot states (Rich styles), in one place."""

from __future__ import annotations

STATUS_STYLE: dict[str, str] = {
    "pending_approval": "bold yellow",
    "pending": "bold yellow",
    "queued": "cyan",
    "running": "bold blue",
    "validating": "magenta",
    "succeeded": "green",
    "approved": "green",
    "failed": "bold red",
    "denied": "red",
    "expired": "dim red",
    "cancelled": "dim",
    "rejected": "red",
    "busy": "bold blue",
    "loading": "yellow",
    "idle": "green",
    "empty": "dim",
}
