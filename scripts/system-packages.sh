#!/usr/bin/env bash
# Debian packages `make test` needs, installed with apt-get only when something is missing
# (so this is instant on a machine that has them):
#   postgresql  server binaries for the throwaway cluster of the concurrency tests
#               (scripts/with_postgres.py), and the `postgres` user that runs it
#   chromium    headless browser for the page tests (skip with INSTALL_CHROMIUM=0)
set -euo pipefail

have_postgres_server() {
    { command -v initdb >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; } \
        && id -u postgres >/dev/null 2>&1
}

missing=()
have_postgres_server || missing+=(postgresql)
if [ "${INSTALL_CHROMIUM:-1}" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
    missing+=(chromium)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
else
    echo "Missing Debian packages: ${missing[*]}. Install them as root: apt-get install ${missing[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp -t huntaze-apt.XXXXXX)
echo "Installing Debian packages: ${missing[*]} (apt-get's output: $log)"
if ! { "${sudo[@]}" apt-get update -q \
       && "${sudo[@]}" apt-get install -y -q -o Dpkg::Use-Pty=0 --no-install-recommends "${missing[@]}"; } \
       </dev/null >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "apt-get could not install: ${missing[*]} (full output in $log)" >&2
    exit 1
fi
echo "Installed: ${missing[*]}"
