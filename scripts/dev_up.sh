#!/usr/bin/env bash
# Start Aura Orchestra for development: make .venv if missing, install the project when
# pyproject.toml changed, then run `aura up` (embedded PostgreSQL, API :8000, MCP :9000, worker).
# Its home is the checkout's .aura/ unless AURA_HOME (or AURA_DATA_DIR) says otherwise; `aura`
# verbs find it from any directory. Extra arguments go to `aura up`. Ctrl-C stops it; so does
# scripts/dev_down.sh. A second start on the same home is refused by `aura up` itself.
set -euo pipefail

# shellcheck source=scripts/_venv.sh
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
aura_cd_root
aura_ensure_venv

if [[ -z "${AURA_HOME:-}${AURA_DATA_DIR:-}" ]] && ! grep -qsE '^\s*(export\s+)?AURA_(HOME|DATA_DIR)\s*=' .env; then
    mkdir -p .aura  # a project-local home: `aura up` in this directory uses ./.aura
fi
exec "$AURA_VENV/bin/aura" up "$@"
