"""The MCP tools: thin functions that validate input, call the core and shape results."""
