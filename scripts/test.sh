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

step() {
    echo "==> $*"
    "$@"
}

step "$AURA_VENV/bin/ruff" check .
step "$AURA_VENV/bin/mypy"
step "$AURA_VENV/bin/lint-imports"
step "$AURA_VENV/bin/pytest" -q "$@"
