#!/usr/bin/env bash
# The whole suite: lint + types, unit tests, then end-to-end tests that run real harnesses
# in real sandboxes against berth's mock model server. Ends with one "N passed, N failed" line.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
npm run --silent lint || exit 1
# No credential-shaped string in the repository (test canaries are built at run time).
node dist/bundle/berth.mjs secrets scan || exit 1
mkdir -p .cache/test-results
rm -f .cache/test-results/*.json
status=0
for project in unit e2e; do
  npx vitest run --project "$project" --reporter=default --reporter=json \
    --outputFile.json=".cache/test-results/$project.json" || status=1
done
node scripts/test-summary.mjs .cache/test-results/*.json || status=1
exit $status
