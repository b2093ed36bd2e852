# Aura Orchestra: one image for `aura serve` and `aura worker` (and `aura up`, `aura doctor`).
# Used by docker-compose.yml; see the comments there for secrets and volumes.
# The base is pinned by version and digest (docs/decisions.md, "Images pinned by digest");
# bump both together.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

# --- build: a plain wheel; the migrations go inside it as package data ----------------------
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY orchestra/ orchestra/
COPY governance/ governance/
COPY tools/ tools/
COPY mcp_server/ mcp_server/
COPY tui/ tui/
# orchestra/sql_migrations is a symlink to this folder; the wheel gets the files themselves.
COPY infra/migrations/ infra/migrations/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# --- run: slim, non-root, no source tree ------------------------------------------------------
FROM ${PYTHON_IMAGE}

# bubblewrap confines the jobs' acceptance commands; without it validation fails closed.
RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 --user-group aura \
    && mkdir -p /var/lib/aura/data /var/lib/aura/sandboxes /var/lib/aura/snapshots \
                /var/lib/aura/backups /workspaces \
    && chown -R aura:aura /var/lib/aura

COPY --from=build /wheels/ /tmp/wheels/
RUN pip install --no-cache-dir /tmp/wheels/*.whl && rm -rf /tmp/wheels

ENV PYTHONUNBUFFERED=1 \
    AURA_DATA_DIR=/var/lib/aura/data \
    AURA_SANDBOX_DIR=/var/lib/aura/sandboxes \
    AURA_SNAPSHOT_DIR=/var/lib/aura/snapshots \
    AURA_BACKUP_DIR=/var/lib/aura/backups \
    AURA_WORKSPACES=/workspaces \
    AURA_API_HOST=0.0.0.0 \
    AURA_MCP_HOST=0.0.0.0

USER aura
WORKDIR /var/lib/aura
EXPOSE 8000 9000
CMD ["aura", "serve"]
