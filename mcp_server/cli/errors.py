"""How the CLI fails: one line on stderr and exit code 2 for a user mistake or a refusal."""

from __future__ import annotations

EXIT_USAGE = 2


class CliError(Exception):
    """A user mistake or a refusal (the API's problem detail), printed as one line."""
