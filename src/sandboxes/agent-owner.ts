import { closeSync, constants, fchmodSync, fchownSync, fstatSync, ftruncateSync, lchownSync, lstatSync, mkdirSync, openSync, rmSync, statSync, unlinkSync, writeSync, type Stats } from "node:fs";
import { dirname, join } from "node:path";
import { AGENT_GID, AGENT_UID } from "./types.js";

/**
 * Ownership for the agent (uid/gid 1000 when berth runs as root: no user namespace maps
 * it, so it is uid 1000 on the host too). berth hands over only what it has just created
 * itself, one entry at a time (never a recursive chown of a tree the agent could have
 * filled with links), and never follows a symlink while doing so.
 */
export function agentIds(): { uid: number; gid: number } | undefined {
  return process.getuid?.() === 0 ? { uid: AGENT_UID, gid: AGENT_GID } : undefined;
}

/** Creates a directory (its parent must exist) and gives it to the agent. */
export function mkdirForAgent(path: string, mode = 0o700): void {
  mkdirSync(path, { mode });
  const ids = agentIds();
  if (ids) lchownSync(path, ids.uid, ids.gid);
}

/**
 * Writes `rel` under `base` (a directory the agent owns, e.g. the session home, while no
 * agent process runs) as an agent-owned file. A symlink or hard link the agent left where
 * berth writes is removed, never written through.
 */
export function writeAgentFile(base: string, rel: string, content: string | Buffer, mode = 0o600): void {
  const parts = pathParts(rel);
  mkdirsForAgent(base, parts.slice(0, -1).join("/"));
  const file = join(base, ...parts);
  let fd = openNoFollow(file, mode);
  if (fstatSync(fd).nlink > 1) {
    // A hard link to a file elsewhere: writing would change that file.
    closeSync(fd);
    unlinkSync(file);
    fd = openNoFollow(file, mode);
  }
  try {
    const ids = agentIds();
    if (ids) fchownSync(fd, ids.uid, ids.gid);
    fchmodSync(fd, mode);
    ftruncateSync(fd);
    writeSync(fd, typeof content === "string" ? Buffer.from(content) : content);
  } finally {
    closeSync(fd);
  }
}

function pathParts(rel: string): string[] {
  const parts = rel.split("/").filter((s) => s && s !== ".");
  if (parts.includes("..")) throw new Error(`home path ${rel} leaves its directory`);
  return parts;
}

/** Makes `rel` under `base` a directory chain the agent owns; a link or file in the way is removed, never followed. */
export function mkdirsForAgent(base: string, rel: string): void {
  let dir = base;
  for (const p of pathParts(rel)) {
    dir = join(dir, p);
    const st = lstatSync(dir, { throwIfNoEntry: false });
    if (st && !st.isDirectory()) unlinkSync(dir);
    if (!st || !st.isDirectory()) mkdirForAgent(dir);
  }
}

function openNoFollow(file: string, mode: number): number {
  // No O_TRUNC: a hard-linked file must be seen (nlink) before anything is changed.
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW;
  try {
    return openSync(file, flags, mode);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "ELOOP" && code !== "EISDIR") throw e;
    rmSync(file, { recursive: true, force: true }); // the link itself (rm does not follow it)
    return openSync(file, flags, mode);
  }
}

/** Whether uid/gid has `bits` (r=4 w=2 x=1) on a file by its mode bits (as root, access(2) would always say yes). */
export function modeAllows(st: Pick<Stats, "uid" | "gid" | "mode">, uid: number, gid: number, bits: number): boolean {
  const shift = st.uid === uid ? 6 : st.gid === gid ? 3 : 0;
  return ((st.mode >> shift) & bits) === bits;
}

/** The first directory on the way to `path` (its ancestors) that uid/gid cannot search, if any. */
export function unreachableAncestor(path: string, uid: number, gid: number): string | undefined {
  const chain: string[] = [];
  for (let d = dirname(path); ; d = dirname(d)) {
    chain.unshift(d);
    if (dirname(d) === d) break;
  }
  return chain.find((d) => !modeAllows(statSync(d), uid, gid, 1));
}
