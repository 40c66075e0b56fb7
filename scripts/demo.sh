#!/usr/bin/env bash
# Sets berth up, then runs one real session: Pi in a bubblewrap sandbox, writing a file.
# Without ANTHROPIC_API_KEY the model is berth's scripted mock provider (it says so).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# BERTH_HOME defaults to ~/.berth (/var/lib/berth for root: the sandboxed agent, uid 1000, must reach it)
ws="$(mktemp -d)"
# As root the agent runs as uid 1000 and berth never chowns a directory it did not create: hand it over.
if [ "$(id -u)" = 0 ]; then chown 1000:1000 "$ws"; fi
node dist/bundle/berth.mjs run --harness pi --workspace "$ws" "Create hello.txt containing a greeting."
echo "--- $ws:"; ls -la "$ws"; cat "$ws"/hello.txt
echo "--- the web console: run 'node dist/bundle/berth.mjs serve' and open the console link it prints (http://127.0.0.1:8765/ui/)"
