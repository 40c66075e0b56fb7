import { createHash } from "node:crypto";
import { chmodSync, lchownSync, lstatSync, readdirSync, readFileSync, readlinkSync, rmSync, type Stats } from "node:fs";
import { join, relative } from "node:path";

/**
 * Integrity of an installed harness tree. At install every file is hashed once (sha256)
 * and the tree is made read-only (root-owned when berth is root); then each entry's
 * lstat identity is recorded: inode, size, mtime and ctime. ctime cannot be set back from
 * user space, so a rewrite, chmod, rename or replacement of any entry, or an entry added
 * to or removed from a directory, changes what the cheap check compares. The full check
 * re-hashes every file (`berth harness install --verify`).
 */

/** One file: path (relative to the install), size, sha256. */
export type ManifestEntry = [string, number, string];
/** One entry of the tree (file, directory or link): path, inode, size, mtimeMs, ctimeMs. */
export type StatEntry = [string, number, number, number, number];
/** One symlink: path, target. */
export type LinkEntry = [string, string];

/** The top-level files and the tree berth checks (the top directory holds berth's own notes, written later). */
const CHECKED_TOP = ["package.json", "package-lock.json", "node_modules"];

export class HarnessTamperedError extends Error {
  readonly code = "harness_tampered";
}

export function sha256(b: Buffer | string): string {
  return createHash("sha256").update(b).digest("hex");
}

/** Every entry under the checked part of `root`, depth first, sorted (links not followed). */
function entries(root: string): { rel: string; st: Stats }[] {
  const out: { rel: string; st: Stats }[] = [];
  const visit = (p: string) => {
    const st = lstatSync(p);
    out.push({ rel: relative(root, p), st });
    if (st.isDirectory()) for (const n of readdirSync(p).sort()) visit(join(p, n));
  };
  for (const t of CHECKED_TOP) if (lstatSync(join(root, t), { throwIfNoEntry: false })) visit(join(root, t));
  return out;
}

/** Hashes every file under node_modules and lists its links (the install's content). */
export function buildManifest(root: string): { manifest: ManifestEntry[]; links: LinkEntry[] } {
  const manifest: ManifestEntry[] = [];
  const links: LinkEntry[] = [];
  for (const { rel, st } of entries(root)) {
    if (!rel.startsWith("node_modules")) continue;
    if (st.isFile()) {
      const buf = readFileSync(join(root, rel));
      manifest.push([rel, buf.length, sha256(buf)]);
    } else if (st.isSymbolicLink()) links.push([rel, readlinkSync(join(root, rel))]);
  }
  return { manifest, links };
}

/** Files 0444 (0555 if executable), directories 0555, owned by root when berth is root. */
export function makeReadOnly(root: string): void {
  const asRoot = process.getuid?.() === 0;
  for (const { rel, st } of entries(root)) {
    const p = join(root, rel);
    if (asRoot && (st.uid !== 0 || st.gid !== 0)) lchownSync(p, 0, 0);
    if (st.isSymbolicLink()) continue;
    const mode = st.isDirectory() || st.mode & 0o111 ? 0o555 : 0o444;
    if ((st.mode & 0o7777) !== mode) chmodSync(p, mode);
  }
}

/** The lstat identity of every checked entry, as the cheap check will compare it. */
export function recordStats(root: string): StatEntry[] {
  return entries(root).map(({ rel, st }) => [rel, st.ino, st.size, st.mtimeMs, st.ctimeMs]);
}

function differs(e: StatEntry, st: Pick<Stats, "ino" | "size" | "mtimeMs" | "ctimeMs">): boolean {
  return st.ino !== e[1] || st.size !== e[2] || st.mtimeMs !== e[3] || st.ctimeMs !== e[4];
}

/**
 * The cheap check: the first recorded entry whose lstat identity changed (or that is
 * gone), or undefined. An added entry changes its directory's mtime and ctime. lstat runs
 * synchronously in slices (the thread pool's async lstat costs about three times as much
 * here), yielding between slices so the server keeps answering.
 */
export async function firstChanged(root: string, stats: StatEntry[], slice = 250): Promise<string | undefined> {
  for (let i = 0; i < stats.length; i += slice) {
    const changed = firstChangedSync(root, stats.slice(i, i + slice));
    if (changed) return changed;
    await new Promise((r) => setImmediate(r));
  }
  return undefined;
}

/** firstChanged(), in one go (for the CLI's full check). */
export function firstChangedSync(root: string, stats: StatEntry[]): string | undefined {
  return stats.find((e) => {
    const st = lstatSync(join(root, e[0]), { throwIfNoEntry: false });
    return !st || differs(e, st);
  })?.[0];
}

/** The full check: what differs from the manifest by content (re-hash), links, and entries added, or undefined. */
export function contentProblem(root: string, manifest: ManifestEntry[], links: LinkEntry[] | undefined): string | undefined {
  const known = new Map(manifest.map(([rel, size, hash]) => [rel, { size, hash }]));
  const knownLinks = links ? new Map(links) : undefined;
  const seen = new Set<string>();
  for (const { rel, st } of entries(root)) {
    if (!rel.startsWith("node_modules")) continue;
    if (st.isFile()) {
      const m = known.get(rel);
      if (!m) return `${rel} was added`;
      seen.add(rel);
      if (st.size !== m.size) return `${rel} changed size`;
      if (sha256(readFileSync(join(root, rel))) !== m.hash) return `${rel} changed content`;
    } else if (st.isSymbolicLink()) {
      if (knownLinks && knownLinks.get(rel) !== readlinkSync(join(root, rel))) return `${rel} is a link that was added or changed`;
    } else if (!st.isDirectory()) return `${rel} was added`;
  }
  const missing = manifest.find(([rel]) => !seen.has(rel));
  return missing ? `${missing[0]} is missing` : undefined;
}

/** Removes a read-only tree (as root rm alone would do; otherwise its directories need their write bit back first). */
export function removeTree(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true });
    return;
  } catch {
    /* read-only directories of our own: open them up, then remove */
  }
  const open = (p: string) => {
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (!st?.isDirectory()) return;
    chmodSync(p, 0o755);
    for (const n of readdirSync(p)) open(join(p, n));
  };
  open(dir);
  rmSync(dir, { recursive: true, force: true });
}
