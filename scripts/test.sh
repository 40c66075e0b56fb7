#!/usr/bin/env bash
# The whole suite: lint + types, unit tests, then end-to-end tests that run real harnesses
# in real sandboxes against berth's mock model server.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run --silent lint
npx vitest run --project unit
npx vitest run --project e2e
