#!/usr/bin/env bash
# Installs what berth needs on a Debian/Ubuntu machine, then the npm dependencies, then builds.
# Idempotent: skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v git >/dev/null || need+=(git)
# The workspaces benchmark uploads and downloads with curl, a client outside berth's process.
command -v curl >/dev/null || need+=(curl)
# promtool checks /metrics in the tests (Debian's prometheus package; its server is not used).
command -v promtool >/dev/null || need+=(prometheus)
# The console's browser tests drive Debian's chromium with playwright-core.
command -v chromium >/dev/null || need+=(chromium)
# The tests start throwaway PostgreSQL servers (the multi-node store); berth itself needs none.
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15)
if ((${#need[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing ${need[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "setup: please install: ${need[*]} (e.g. sudo apt-get install ${need[*]})" >&2
    exit 1
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
bash scripts/podman-setup.sh
