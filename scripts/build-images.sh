#!/usr/bin/env bash
# Builds every image of berth's recipes with Podman, locally, without a container registry:
#   1. localhost/berth-base:bookworm (debootstrap + import), localhost/berth-workspace:latest
#      (T2/T3) and :t4 from images/workspace: scripts/podman-setup.sh;
#   2. localhost/berth-node:20, the offline stand-in for node:20-bookworm-slim:
#      images/node-base/build.sh;
#   3. the server image (default localhost/berth-server:latest) from images/server/Containerfile
#      with BASE=localhost/berth-node:20.
# Idempotent, and quick when nothing changed: each image is labelled (io.berth.recipe) with
# a hash of what it was built from and rebuilt only when that changes; Podman's layer cache
# keeps the dependency layer (package.json + package-lock.json) across source changes.
# test/e2e/images.test.ts runs this, then `berth image check` on each image.
#
# Usage: sudo bash scripts/build-images.sh
# Env:   BERTH_SERVER_IMAGE (default localhost/berth-server:latest)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SERVER_IMAGE=${BERTH_SERVER_IMAGE:-localhost/berth-server:latest}
NODE_IMAGE=localhost/berth-node:20
LOG_DIR=$ROOT/.cache/images
started=$SECONDS

log() { echo "build-images: $*" >&2; }
die() { log "$*"; exit 1; }

bash scripts/podman-setup.sh
export CONTAINERS_CONF=$ROOT/config/containers.conf
bash images/node-base/build.sh "$NODE_IMAGE"

node_id=$(podman image inspect --format '{{.Id}}' "$NODE_IMAGE")
want=$(
  {
    sha256sum images/server/Containerfile .dockerignore package.json package-lock.json tsconfig.json tsconfig.build.json scripts/bundle.mjs
    find src conformance -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
    echo "$node_id"
  } | sha256sum | cut -c1-16
)
have=$(podman image inspect --format '{{index .Labels "io.berth.recipe"}}' "$SERVER_IMAGE" 2>/dev/null || true)
if [ "$have" = "$want" ]; then
  log "$SERVER_IMAGE up to date"
else
  mkdir -p "$LOG_DIR"
  log "building $SERVER_IMAGE on $NODE_IMAGE (log: $LOG_DIR/server.log)"
  t=$SECONDS
  old=$(podman image inspect --format '{{.Id}}' "$SERVER_IMAGE" 2>/dev/null || true)
  # --format docker keeps the HEALTHCHECK; host network for RUN steps (apt-get, npm ci).
  podman build --format docker --network host --build-arg "BASE=$NODE_IMAGE" --label "io.berth.recipe=$want" \
    -f images/server/Containerfile -t "$SERVER_IMAGE" . >"$LOG_DIR/server.log" 2>&1 ||
    { tail -40 "$LOG_DIR/server.log" >&2; die "building $SERVER_IMAGE failed (log: $LOG_DIR/server.log)"; }
  log "built $SERVER_IMAGE in $((SECONDS - t))s"
  # The build it replaces, unless a container still uses it (the layer cache stays).
  [ -z "$old" ] || podman rmi "$old" >/dev/null 2>&1 || true
fi
log "ready in $((SECONDS - started))s: $SERVER_IMAGE $NODE_IMAGE localhost/berth-workspace:latest localhost/berth-workspace:t4"
