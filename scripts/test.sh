#!/usr/bin/env bash
# The whole check: venv set-up as in dev_up.sh, bubblewrap and chromium if missing (as root, via
# apt-get), then ruff, mypy, import-linter and pytest, stopping at the first failure. Extra
# arguments go to pytest (e.g. scripts/test.sh -k audit). AURA_TEST_DATABASE_URL selects an external
# PostgreSQL instead of the embedded one.
set -euo pipefail

started=$SECONDS
report() {
    local rc=$?
    local elapsed=$((SECONDS - started))
    if ((rc == 0)); then
        echo "==> all checks passed in ${elapsed}s (wall time)"
    else
        echo "==> FAILED (exit $rc) after ${elapsed}s (wall time)" >&2
    fi
}
trap report EXIT

# shellcheck source=scripts/_venv.sh
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
aura_cd_root
aura_ensure_venv

# ensure_installed COMMAND PACKAGE CONSEQUENCE: install PACKAGE with apt-get when COMMAND is
# missing and this is root; otherwise say what CONSEQUENCE its absence has.
ensure_installed() {
    if command -v "$1" >/dev/null 2>&1; then
        return
    fi
    if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1; then
        echo "==> installing $2 (apt-get)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
    else
        echo "warning: $2 ($1) is not installed and this is not root with apt-get;" >&2
        echo "warning: $3" >&2
    fi
}

ensure_installed bwrap bubblewrap "the acceptance-check (validation) tests will be skipped."
# The console's browser test loads `aura tui --web` in headless Chromium (Debian's package).
ensure_installed chromium chromium "the web console's browser test will fail."

# promtool (Debian's prometheus package) checks infra/prometheus/ and runs its alert rules'
# unit tests (tests/integration/test_observability.py); without it those checks are skipped.
if ! command -v promtool >/dev/null 2>&1 && [[ "$(id -u)" == "0" ]] \
        && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing promtool (apt-get: prometheus)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus \
        >/dev/null || echo "warning: prometheus could not be installed; promtool checks skipped" >&2
fi

# The e2e test of a Node MCP client with the Tasks extension's package (tests/e2e/test_tasks.py)
# needs its pinned packages; without node at all that test is skipped.
node_client=tests/e2e/node_tasks
# A copy of the lock file in node_modules says which lock it was installed from.
if command -v npm >/dev/null 2>&1 \
        && ! cmp -s "$node_client/package-lock.json" "$node_client/node_modules/.installed-lock"; then
    echo "==> installing the e2e Node client's packages (npm ci)"
    npm ci --prefix "$node_client" --no-audit --no-fund --silent
    cp "$node_client/package-lock.json" "$node_client/node_modules/.installed-lock"
fi

step() {
    echo "==> $*"
    "$@"
}

step "$AURA_VENV/bin/ruff" check .
step "$AURA_VENV/bin/mypy"
step "$AURA_VENV/bin/lint-imports"
step "$AURA_VENV/bin/pytest" -q "$@"
