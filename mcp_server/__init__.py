"""The Aura process: settings, the composition root, the MCP and HTTP edges and the CLI."""
