#!/usr/bin/env bash
# Start Aura Orchestra for development: make .venv if missing, install the project when
# pyproject.toml changed, then run `aura up` (embedded PostgreSQL, API :8000, MCP :9000, worker).
# Extra arguments go to `aura up`. Ctrl-C stops it; so does scripts/dev_down.sh.
set -euo pipefail

# shellcheck source=scripts/_venv.sh
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
aura_cd_root
aura_ensure_venv

data_dir="$(aura_data_dir)"
pid_file="$data_dir/dev_up.pid"
if [[ -f "$pid_file" ]]; then
    old_pid="$(cat "$pid_file" 2>/dev/null || true)"
    if [[ "$old_pid" =~ ^[0-9]+$ ]] && kill -0 "$old_pid" 2>/dev/null \
        && tr '\0' ' ' <"/proc/$old_pid/cmdline" 2>/dev/null | grep -q 'aura'; then
        aura_die "Aura is already running (pid $old_pid, $pid_file); stop it with scripts/dev_down.sh"
    fi
fi
mkdir -p "$data_dir"
# exec keeps this shell's PID, so $$ is the PID of `aura up` itself.
echo $$ >"$pid_file"
exec "$AURA_VENV/bin/aura" up "$@"
