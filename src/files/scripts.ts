import { BerthError, notFound } from "../util/errors.js";
import type { FileEntry } from "./types.js";

// The shell the files API runs inside a sandbox's view (sh -c SCRIPT sh ARGS...), the same
// for bubblewrap and for a container. Every script first resolves the path there and checks
// that what it opened, or the directory it entered, is inside the workspace, so a symlink
// the agent planted cannot lead a read or a write out of it. Exit codes name the refusal.

export const WORKSPACE_MOUNT = "/workspace";

const EXIT = { notDirectory: 20, notFound: 21, escapes: 22, notRegular: 23, isDirectory: 24 } as const;

const INSIDE = `case "$real" in ${WORKSPACE_MOUNT}|${WORKSPACE_MOUNT}/*) ;; *) exit ${EXIT.escapes};; esac`;

/** $1 the directory, $2 the most entries: one line per entry, NUL-terminated, type size mtime mode name. */
export const LIST = `cd -- "$1" 2>/dev/null || { if [ -e "$1" ]; then exit ${EXIT.notDirectory}; else exit ${EXIT.notFound}; fi; }
real=$(pwd -P); ${INSIDE}
find . -mindepth 1 -maxdepth 1 -printf '%y\\t%s\\t%T@\\t%m\\t%f\\0' | head -z -n "$2"`;

/** $1 the file, $2 the offset, $3 the length (empty: to the end): its size on the first line, then the bytes. */
export const READ = `[ -e "$1" ] || exit ${EXIT.notFound}
[ -d "$1" ] && exit ${EXIT.isDirectory}
[ -f "$1" ] || exit ${EXIT.notRegular}
exec 3< "$1" || exit ${EXIT.notFound}
real=$(readlink /proc/self/fd/3); ${INSIDE}
[ -f /proc/self/fd/3 ] || exit ${EXIT.notRegular}
stat -L -c '%s' /proc/self/fd/3
if [ -n "$3" ]; then tail -c +"$(($2 + 1))" <&3 | head -c "$3"; else tail -c +"$(($2 + 1))" <&3; fi`;

/** $1 the directory: created if missing (as the agent's user), and checked. */
export const MKDIR = `mkdir -p -- "$1" 2>/dev/null; cd -- "$1" 2>/dev/null || exit ${EXIT.notDirectory}
real=$(pwd -P); ${INSIDE}`;

/** $1 the directory, tar on stdin: extracted there, never over a directory's own metadata. */
export const EXTRACT = `${MKDIR}
exec tar -x --no-same-owner --no-same-permissions --no-overwrite-dir -f -`;

/** $1 the directory: exists, is one, and is inside the workspace. */
export const ARCHIVE_CHECK = `cd -- "$1" 2>/dev/null || { if [ -e "$1" ]; then exit ${EXIT.notDirectory}; else exit ${EXIT.notFound}; fi; }
real=$(pwd -P); ${INSIDE}`;

/** $1 the directory: its contents as a tar on stdout. */
export const ARCHIVE = `${ARCHIVE_CHECK}
exec tar -c --numeric-owner -f - .`;

/** The API error a script's exit code stands for (undefined: not one of ours). */
export function scriptError(code: number | null, rel: string, stderr: string): BerthError {
  const p = JSON.stringify(rel || ".");
  switch (code) {
    case EXIT.notFound:
      return notFound("path_not_found", `${p} does not exist in the workspace`);
    case EXIT.notDirectory:
      return new BerthError(400, "not_a_directory", `${p} is not a directory`);
    case EXIT.isDirectory:
      return new BerthError(400, "is_a_directory", `${p} is a directory; list it, or download it as an archive`);
    case EXIT.notRegular:
      return new BerthError(400, "not_a_regular_file", `${p} is not a regular file (a device, FIFO or socket)`);
    case EXIT.escapes:
      return new BerthError(400, "path_escapes_workspace", `${p} leads out of the workspace (through a symlink)`);
    default:
      return new BerthError(500, "files_failed", `the workspace operation on ${p} failed (exit ${code}): ${stderr.trim().split("\n").slice(-1)[0] ?? ""}`);
  }
}

/** Parses LIST's output. */
export function parseList(out: Buffer, limit: number): { entries: FileEntry[]; truncated: boolean } {
  const lines = out.toString("utf8").split("\0").filter((l) => l !== "");
  const TYPES: Record<string, FileEntry["type"]> = { f: "file", d: "directory", l: "symlink" };
  const entries = lines.slice(0, limit).map((l) => {
    const [t, size, mtime, mode, ...name] = l.split("\t");
    return {
      name: name.join("\t"),
      type: TYPES[t!] ?? "other",
      size: Number(size),
      mtime: new Date(Number(mtime) * 1000).toISOString(),
      mode: parseInt(mode!, 8),
    };
  });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { entries, truncated: lines.length > limit };
}
