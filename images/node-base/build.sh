#!/usr/bin/env bash
# Builds localhost/berth-node:20, the offline stand-in for the official
# node:20-bookworm-slim image, without any container registry: localhost/berth-base:bookworm
# (Debian bookworm + the official Node 20 binary at /usr/local/bin/node, images/base/build.sh)
# plus npm, npx, corepack and the Node headers from the host's own `nodejs` package
# (`dpkg -L nodejs`), moved from /usr to /usr/local where the official image has them, and
# a uid 1000 user `node` as in the official image. The headers let node-gyp compile native
# modules (better-sqlite3) without downloading them. The server image builds on it:
#
#   podman build --build-arg BASE=localhost/berth-node:20 -f images/server/Containerfile .
#
# Usage: images/node-base/build.sh [--no-cache] [IMAGE]   (needs podman, the base image, nodejs 20)
# Env:   BERTH_NODE_BASE (default localhost/berth-base:bookworm)
# Idempotent: the image is labelled with a hash of its inputs (this script, the base image,
# the host's nodejs and npm versions) and rebuilt only when one of them changes (or with
# --no-cache, which also bypasses Podman's layer cache).
set -euo pipefail
cd "$(dirname "$0")/../.."

NO_CACHE=()
[ "${1:-}" = --no-cache ] && { NO_CACHE=(--no-cache); shift; }
IMAGE=${1:-localhost/berth-node:20}
BASE=${BERTH_NODE_BASE:-localhost/berth-base:bookworm}
[ -n "${CONTAINERS_CONF:-}" ] || [ ! -f config/containers.conf ] || export CONTAINERS_CONF=$PWD/config/containers.conf

log() { echo "berth-node: $*" >&2; }
die() { log "$*"; exit 1; }

command -v podman >/dev/null || die "needs podman: run sudo bash scripts/podman-setup.sh"
version=$(dpkg-query -W -f='${Version}' nodejs 2>/dev/null) ||
  die "needs the host's Debian package nodejs (Node 20, e.g. from deb.nodesource.com/node_20.x): apt-get install nodejs"
node_version=$(/usr/bin/node --version)
[[ $node_version == v20.* ]] || die "the host's nodejs package is $node_version; $IMAGE needs Node 20"
base_id=$(podman image inspect --format '{{.Id}}' "$BASE" 2>/dev/null) ||
  die "no $BASE: run sudo bash scripts/podman-setup.sh (it builds it)"

npm_version=$(npm --version)
want=$(printf '%s\n' "$(sha256sum <"$0")" "$base_id" "$version" "$npm_version" | sha256sum | cut -c1-16)
have=$(podman image inspect --format '{{index .Labels "io.berth.recipe"}}' "$IMAGE" 2>/dev/null || true)
if [ "$have" = "$want" ] && ((${#NO_CACHE[@]} == 0)); then
  log "$IMAGE up to date"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The package's files under /usr/{bin,lib,include}, relocated to /usr/local (relative
# symlinks such as bin/npm → ../lib/node_modules/npm/bin/npm-cli.js stay valid), and its
# LICENSE; not its docs or man page. A package under lib/node_modules goes whole, as it is
# now: `npm install -g npm` updates npm in place, past what dpkg lists. The node binary
# only when it differs from the base's (so the headers and the binary are of one build).
base_node=$(podman run --rm --network none "$BASE" sha256sum /usr/local/bin/node | cut -d' ' -f1)
declare -A seen=()
files=()
while IFS= read -r f; do
  case $f in
    /usr/lib/node_modules/?*) f=/usr/lib/node_modules/$(cut -d/ -f5 <<<"$f") ;;
    /usr/bin/node) [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$base_node" ] && continue ;;
    /usr/bin/?* | /usr/include/node/?*) [ -d "$f" ] && [ ! -L "$f" ] && continue ;;
    *) continue ;;
  esac
  [ -n "${seen[$f]:-}" ] && continue
  seen[$f]=1
  [ -e "$f" ] || [ -L "$f" ] || die "$f (package nodejs) is missing: reinstall nodejs"
  files+=("${f#/}")
done < <(dpkg -L nodejs)
[ -f /usr/share/doc/nodejs/LICENSE ] && files+=(usr/share/doc/nodejs/LICENSE)
printf '%s\n' "${files[@]}" |
  tar -C / --numeric-owner --owner=0 --group=0 --verbatim-files-from -T - \
    --transform 's,^usr/\(bin\|lib\|include\)/,usr/local/\1/,' -cf "$tmp/node.tar"

cat >"$tmp/Containerfile" <<EOF
FROM $BASE
ADD node.tar /
RUN set -eu; \\
    [ "\$(node --version)" = "$node_version" ] || { echo "node \$(node --version), expected $node_version" >&2; exit 1; }; \\
    npm --version >/dev/null; \\
    test -f /usr/local/include/node/node_api.h; \\
    groupadd -g 1000 node; \\
    useradd -u 1000 -g node -m -s /bin/bash node
CMD ["node"]
EOF
log "building $IMAGE from $BASE + nodejs $version (${#files[@]} files)"
podman build --quiet "${NO_CACHE[@]}" --network none --label "io.berth.recipe=$want" \
  --label "org.opencontainers.image.description=berth's local stand-in for node:20-bookworm-slim: $BASE + nodejs $version, npm $npm_version" \
  -t "$IMAGE" "$tmp" >/dev/null
log "built $IMAGE"
