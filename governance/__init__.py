"""Governance: the auditor, the accountant and the MCP middleware that applies them."""
