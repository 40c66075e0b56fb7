#!/bin/sh
# berth workspace entrypoint.
# As uid 1000 (how berth starts it): exec the command, nothing else.
# As root (e.g. `podman run` without --user): hand the mounted volumes and token files to
# the agent (uid/gid 1000; token files 0600), then drop to uid 1000 and exec the command.
# Token files: every file under /run/berth/secrets and each path in $BERTH_TOKEN_FILES
# (colon-separated).
set -eu
[ "$#" -gt 0 ] || set -- /bin/bash
if [ "$(id -u)" != 0 ]; then exec "$@"; fi

for d in /workspace /home/agent; do
  # Only what is not the agent's yet, and never through a symlink.
  [ -d "$d" ] || continue
  find "$d" -xdev \( ! -uid 1000 -o ! -gid 1000 \) -exec chown -h 1000:1000 {} + ||
    echo "berth-entrypoint: could not hand $d to uid 1000" >&2
done
tokens=${BERTH_TOKEN_FILES:-}
if [ -d /run/berth/secrets ]; then
  tokens="$tokens:$(find /run/berth/secrets -type f | tr '\n' ':')"
fi
old_ifs=$IFS
IFS=:
for f in $tokens; do
  [ -n "$f" ] && [ -f "$f" ] && [ ! -L "$f" ] || continue
  chown 1000:1000 "$f" && chmod 0600 "$f" || echo "berth-entrypoint: could not secure $f" >&2
done
IFS=$old_ifs

export HOME=/home/agent USER=agent
exec setpriv --reuid=1000 --regid=1000 --init-groups --inh-caps=-all -- "$@"
