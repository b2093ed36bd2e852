# Aura Orchestra: `aura up` (API :8000, MCP :9000, worker) against an external PostgreSQL.
# Used by docker-compose.yml; see the comments there for secrets and volumes.
FROM python:3.11-slim

# bubblewrap confines the jobs' acceptance commands; without it validation fails closed.
RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 --user-group aura \
    && mkdir -p /var/lib/aura/data /var/lib/aura/sandboxes /var/lib/aura/snapshots \
                /var/lib/aura/backups /workspaces \
    && chown -R aura:aura /var/lib/aura

WORKDIR /app
# Only what the package needs (keeps .venv, .aura and other local state out of the image).
COPY pyproject.toml README.md ./
COPY orchestra/ orchestra/
COPY governance/ governance/
COPY tools/ tools/
COPY mcp_server/ mcp_server/
COPY tui/ tui/
COPY infra/migrations/ infra/migrations/
# Editable on purpose: the migration runner finds `infra/migrations/` next to the `orchestra`
# package (orchestra/migrations.py), and a plain `pip install .` wheel does not contain it.
RUN pip install --no-cache-dir -e .

ENV PYTHONUNBUFFERED=1 \
    AURA_DATA_DIR=/var/lib/aura/data \
    AURA_SANDBOX_DIR=/var/lib/aura/sandboxes \
    AURA_SNAPSHOT_DIR=/var/lib/aura/snapshots \
    AURA_BACKUP_DIR=/var/lib/aura/backups \
    AURA_WORKSPACES=/workspaces \
    AURA_API_HOST=0.0.0.0 \
    AURA_MCP_HOST=0.0.0.0

USER aura
EXPOSE 8000 9000
CMD ["aura", "up"]
