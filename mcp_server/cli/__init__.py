"""The `aura` command (Typer). Director verbs go through the HTTP API with the Director key;
server verbs (`up`, `serve`, `worker`, `migrate`, `mcp`) run the process.

Verbs that only talk to the API import neither the server nor its settings: `app.py` wires
the verb modules, `client.py` finds the API and the key, `output.py` renders for people or
as JSON. See docs/decisions.md ("The CLI is Typer…").
"""

from mcp_server.cli.app import main
from mcp_server.cli.errors import EXIT_USAGE, CliError

__all__ = ["EXIT_USAGE", "CliError", "main"]
