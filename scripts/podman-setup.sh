#!/usr/bin/env bash
# The container tiers (T2 container, T3 privileged, T4 host-access) on this machine:
#   1. installs podman, runc, catatonit and debootstrap (Debian packages) when missing;
#   2. writes config/containers.conf (runc; cgroupfs; rlimits capped at this host's hard
#      limits) and uses it through CONTAINERS_CONF, never /etc;
#   3. starts Podman's Docker-compatible API at unix:///run/berth/podman.sock unless it
#      answers (no systemd needed; pid file next to it; it outlives this script);
#   4. builds localhost/berth-base:bookworm without a registry (images/base/build.sh);
#   5. builds localhost/berth-workspace:latest (T2/T3) and :t4 from images/workspace,
#      again whenever the Containerfile, the entrypoint or the base changed.
# Idempotent, and quick when all of that is done. Needs root. Exports nothing: berth and
# the tests find the socket at /run/berth/podman.sock (or BERTH_DOCKER_HOST/DOCKER_HOST).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SOCK=${BERTH_PODMAN_SOCKET:-/run/berth/podman.sock}
RUN_DIR=$(dirname "$SOCK")
PIDFILE=$RUN_DIR/podman.pid
LOG=/var/log/berth-podman.log
CONF=$ROOT/config/containers.conf
BASE_IMAGE=localhost/berth-base:bookworm
IMAGE=localhost/berth-workspace:latest
IMAGE_T4=localhost/berth-workspace:t4
started=$SECONDS

log() { echo "podman-setup: $*" >&2; }
die() { log "$*"; exit 1; }

if [ "$(id -u)" != 0 ]; then
  die "needs root (rootful podman, debootstrap, /run/berth): run sudo bash scripts/podman-setup.sh"
fi

# 1. Packages. (crun is not used: it fails on this kind of host's cgroup layout.)
need=()
for c in podman:podman runc:runc catatonit:catatonit debootstrap:debootstrap curl:curl; do
  command -v "${c%%:*}" >/dev/null || need+=("${c#*:}")
done
if ((${#need[@]})); then
  command -v apt-get >/dev/null || die "please install: ${need[*]}"
  log "installing ${need[*]} (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# 2. containers.conf. Without CAP_SYS_RESOURCE the runtime cannot raise a hard rlimit, and
#    Podman's defaults (nofile 1048576, nproc = pid_max) may be above this host's: cap them.
hard() { local v; v=$(ulimit "$1"); [ "$v" = unlimited ] && echo "$2" || echo "$v"; }
pid_max=$(cat /proc/sys/kernel/pid_max)
nofile=$(hard -Hn 1048576)
nproc=$(hard -Hu "$pid_max")
((nproc > pid_max)) && nproc=$pid_max # Podman lowers its own RLIMIT_NPROC to pid_max
conf="# Written by scripts/podman-setup.sh for this host (hard limits: nofile $nofile, nproc $nproc).
# Used through CONTAINERS_CONF by that script and the Podman API service it starts.
[containers]
default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]

[engine]
runtime = \"runc\"
cgroup_manager = \"cgroupfs\"
events_logger = \"file\"
"
mkdir -p "$(dirname "$CONF")"
if [ ! -f "$CONF" ] || [ "$(cat "$CONF")" != "$(printf '%s' "$conf")" ]; then
  log "writing $CONF (runc, cgroupfs, nofile=$nofile, nproc=$nproc)"
  printf '%s' "$conf" >"$CONF"
fi
export CONTAINERS_CONF=$CONF
conf_sum=$(sha256sum "$CONF" | cut -c1-16)

# 3. The API service. (Checks go to its API with curl: milliseconds, where each podman
#    CLI call costs ~0.3 s.)
api() { curl -sf --max-time 5 --unix-socket "$SOCK" "http://d$1"; }
ping() { [ -S "$SOCK" ] && [ "$(api /_ping 2>/dev/null)" = OK ]; }
service_pid() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null && cat "$PIDFILE"; }
mkdir -p "$RUN_DIR"
chmod 0755 "$RUN_DIR"
if ping && [ "$(cat "$RUN_DIR/podman.conf.sum" 2>/dev/null)" != "$conf_sum" ] && pid=$(service_pid); then
  log "containers.conf changed: restarting the API service (pid $pid)"
  kill "$pid"
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
fi
if ping; then
  log "API service answers at unix://$SOCK"
else
  if pid=$(service_pid); then
    log "stopping the unresponsive API service (pid $pid)"
    kill "$pid" || true
    sleep 1
  fi
  rm -f "$SOCK"
  log "starting podman system service at unix://$SOCK (log: $LOG)"
  # Started from its run directory, not the caller's: conmon drops files (an `oom` marker
  # when a container is OOM-killed) in the service's working directory.
  (cd "$RUN_DIR" && exec setsid nohup podman system service --time=0 "unix://$SOCK" >>"$LOG" 2>&1 </dev/null) &
  echo $! >"$PIDFILE"
  echo "$conf_sum" >"$RUN_DIR/podman.conf.sum"
  for _ in $(seq 100); do ping && break; sleep 0.1; done
  ping || { tail -20 "$LOG" >&2; die "the API service did not come up (log: $LOG)"; }
fi
# Like Docker's socket: root:docker 0660. The T4 agent reaches it through that group.
getent group docker >/dev/null || groupadd -r docker
chgrp docker "$SOCK"
chmod 0660 "$SOCK"

# 4. Base image: Debian bookworm + Node 20 + the host's CAs, built locally.
image_json() { api "/images/$1/json" 2>/dev/null || true; }
base_json=$(image_json "$BASE_IMAGE")
if [ -n "$base_json" ]; then
  log "$BASE_IMAGE present"
else
  log "building $BASE_IMAGE"
  bash images/base/build.sh "$BASE_IMAGE"
  base_json=$(image_json "$BASE_IMAGE")
fi

# 5. Workspace images, labelled with what they were built from.
base_id=$(printf '%s' "$base_json" | grep -o '"Id":"[^"]*"' | head -1 | cut -d'"' -f4 | sed 's/^sha256://' | cut -c1-12 || true)
[ -n "$base_id" ] || die "$BASE_IMAGE did not build"
recipe=$(cat images/workspace/Containerfile images/workspace/entrypoint.sh | sha256sum | cut -c1-16)
for spec in "$IMAGE:0" "$IMAGE_T4:1"; do
  img=${spec%:*}
  t4=${spec##*:}
  want="$recipe-$base_id"
  have=$(image_json "$img" | grep -o '"io.berth.recipe":"[^"]*"' | head -1 | cut -d'"' -f4 || true)
  if [ "$have" = "$want" ]; then
    log "$img up to date"
    continue
  fi
  log "building $img (T4=$t4)"
  # Host network for RUN steps (apt-get): no CNI/netavark setup needed.
  podman build --quiet --network host --build-arg "BASE=$BASE_IMAGE" --build-arg "T4=$t4" \
    --label "io.berth.recipe=$want" -t "$img" images/workspace >/dev/null
done

log "ready in $((SECONDS - started))s: engine unix://$SOCK, images $IMAGE $IMAGE_T4"
