#!/usr/bin/env bash
# Stop what scripts/dev_up.sh started: SIGTERM, wait up to 15 s, then SIGKILL.
set -euo pipefail

# shellcheck source=scripts/_venv.sh
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
aura_cd_root

GRACE_SECONDS=15
pid_file="$(aura_data_dir)/dev_up.pid"

if [[ ! -f "$pid_file" ]]; then
    echo "Nothing is running: no pid file at $pid_file."
    exit 0
fi
pid="$(cat "$pid_file" 2>/dev/null || true)"
if ! [[ "$pid" =~ ^[0-9]+$ ]]; then
    rm -f "$pid_file"
    echo "Nothing is running: $pid_file held no pid; removed it."
    exit 0
fi

# Alive and not a zombie.
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    local state
    state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)"
    [[ "$state" != "Z" ]]
}

if ! alive "$pid"; then
    rm -f "$pid_file"
    echo "Nothing is running: process $pid from $pid_file has already exited; removed the stale pid file."
    exit 0
fi
if [[ -r "/proc/$pid/cmdline" ]] && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'aura'; then
    rm -f "$pid_file"
    echo "Nothing is running: pid $pid is now another program ($(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -c1-60)); removed the stale pid file and left it alone."
    exit 0
fi

echo "Stopping Aura (pid $pid)..."
kill -TERM "$pid" 2>/dev/null || true
deadline=$((SECONDS + GRACE_SECONDS))
while alive "$pid" && ((SECONDS < deadline)); do
    sleep 0.2
done
if alive "$pid"; then
    echo "Aura (pid $pid) did not stop within ${GRACE_SECONDS}s; sending SIGKILL." >&2
    echo "The embedded PostgreSQL under the data directory may be left running." >&2
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
fi
rm -f "$pid_file"
echo "Stopped."
