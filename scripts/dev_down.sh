#!/usr/bin/env bash
# Stop the Aura that scripts/dev_up.sh (or `aura up`) started: the one `aura` verbs would talk
# to from the checkout (AURA_HOME, ./.aura, or the one running for this user). SIGTERM, wait up
# to 15 s, then SIGKILL.
set -euo pipefail

# shellcheck source=scripts/_venv.sh
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
aura_cd_root

GRACE_SECONDS=15
read -r pid home < <("$AURA_VENV/bin/python" -c '
from mcp_server.home import find_running, locate_home
running = find_running()
print(running.pid if running else "-", locate_home())
')

if [[ "$pid" == "-" ]]; then
    echo "Nothing is running from $home."
    exit 0
fi

# Alive and not a zombie.
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    local state
    state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)"
    [[ "$state" != "Z" ]]
}

echo "Stopping Aura (pid $pid, home $home)..."
kill -TERM "$pid" 2>/dev/null || true
deadline=$((SECONDS + GRACE_SECONDS))
while alive "$pid" && ((SECONDS < deadline)); do
    sleep 0.2
done
if alive "$pid"; then
    echo "Aura (pid $pid) did not stop within ${GRACE_SECONDS}s; sending SIGKILL." >&2
    echo "The embedded PostgreSQL under $home may be left running." >&2
    kill -KILL "$pid" 2>/dev/null || true
fi
echo "Stopped."
