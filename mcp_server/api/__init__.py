"""The Director/Manager HTTP API on :8000 (JSON under `/api/v1/`, Director key required).

`app.py` builds the Starlette app from the resource modules (`tokens.py`, `employees.py`,
`jobs.py`, `pool.py`, `audit.py`, `ledger.py`), each of which exposes `routes(services)`;
`routing.py` holds the shared plumbing (the Director-key guard, method dispatch, the route
table's types) and `openapi.py` describes the table. `models.py` and `fields.py` are what goes
over the wire, importable alone (by the CLI and the console) without the server.

Nothing is imported here on purpose: `import mcp_server.api.models` must not build the server.
"""
