import { createHash } from "node:crypto";
import {
  closeSync,
  constants,
  copyFileSync,
  fchownSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
  type Stats,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { PROTECTED_WORKSPACE_PATHS } from "../sandboxes/types.js";

/**
 * Files in a workspace that run code later, outside the agent's turn: git hooks, git
 * config keys that name programs, `.git` files that point git elsewhere, shell rc files.
 * A read-only bind covers only what exists at start, and an agent can rename `.git` or
 * create a repository beside it, so berth also checks after the fact: it snapshots these
 * at sandbox start and, once every agent process is dead, moves whatever appeared or
 * changed into a quarantine outside the workspace (restoring the original where there was
 * one). The scan never follows a symlink and is bounded.
 */

/** One protected entry as found: what it is, its digest, and (small files) its bytes to restore. */
export interface ProtectedEntry {
  kind: "file" | "link" | "dir" | "other";
  sha256?: string;
  /** base64, for files up to RESTORE_MAX bytes. */
  content?: string;
  target?: string;
  uid: number;
  gid: number;
  mode: number;
}

export interface ProtectedSnapshot {
  entries: Record<string, ProtectedEntry>;
  /** The scan stopped at its bound; what lies beyond was not looked at. */
  truncated: boolean;
}

export interface Neutralized {
  path: string;
  reason: string;
  quarantinedAs: string;
  restored: boolean;
}

const RESTORE_MAX = 256 * 1024;
const MAX_ENTRIES = 200_000;
const MAX_DEPTH = 24;

/** Top-level files that run code (git's own files are found per repository below). */
const TOP_FILES = PROTECTED_WORKSPACE_PATHS.filter((p) => !p.startsWith(".git/"));

/** git config keys that make git run a program (lower-case; `*` is one subsection). */
const DANGEROUS_KEYS = [
  "core.hookspath", "core.fsmonitor", "core.sshcommand", "core.pager", "core.editor", "core.askpass", "core.gitproxy",
  "core.worktree", "core.alternaterefscommand", "sequence.editor", "diff.external", "diff.*.command", "diff.*.textconv",
  "merge.*.driver", "filter.*.clean", "filter.*.smudge", "filter.*.process", "credential.helper", "credential.*.helper",
  "gpg.program", "gpg.*.program", "uploadpack.packobjectshook", "include.path", "includeif.*.path", "remote.*.uploadpack",
  "remote.*.receivepack", "alias.*", "pager.*", "man.*.cmd", "web.browser", "browser.*.cmd", "protocol.*.allow",
];

/** The program-running `key=value` lines of a git config (loosely parsed: what git would read). */
export function dangerousConfigLines(text: string): string[] {
  const out: string[] = [];
  let section = "";
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    const sec = /^\[\s*([^\s\]"]+)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\](.*)$/.exec(line);
    let rest = line;
    if (sec) {
      section = sec[2] !== undefined ? `${sec[1]!.toLowerCase()}.*` : sec[1]!.toLowerCase();
      rest = sec[3]!.trim();
    }
    const kv = /^([A-Za-z][A-Za-z0-9-]*)\s*(?:=\s*(.*))?$/.exec(rest);
    if (!kv || !section) continue;
    const key = `${section}.${kv[1]!.toLowerCase()}`;
    // A dotted section name ([diff.x]) is git's old subsection syntax.
    const alt = key.replace(/^([a-z0-9-]+)\.[^.]+\.([^.]+)$/, "$1.*.$2");
    const hit = DANGEROUS_KEYS.includes(key) || DANGEROUS_KEYS.includes(`${section}.*`) ? key : DANGEROUS_KEYS.includes(alt) ? alt : undefined;
    if (hit) out.push(`${hit}=${(kv[2] ?? "").trim()}`);
  }
  return out;
}

function entryOf(abs: string, st: Stats): ProtectedEntry {
  const base = { uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 };
  if (st.isSymbolicLink()) return { kind: "link", target: readlinkSync(abs), ...base };
  if (st.isDirectory()) return { kind: "dir", ...base };
  if (!st.isFile()) return { kind: "other", ...base };
  const buf = readFileSync(abs); // lstat said regular file, and no agent process runs now
  return { kind: "file", sha256: createHash("sha256").update(buf).digest("hex"), ...(buf.length <= RESTORE_MAX ? { content: buf.toString("base64") } : {}), ...base };
}

const isGitDirLike = (abs: string, names: Set<string>): boolean =>
  names.has("HEAD") && names.has("objects") && names.has("refs") && lstatSync(join(abs, "objects")).isDirectory();

/**
 * Every protected entry of the workspace: top-level rc files, and for every repository
 * (a `.git` directory, or any directory shaped like a git dir, e.g. a planted bare repo)
 * its config and everything under its hooks; every `.git` that is not a directory.
 * Breadth first, so a huge tree cannot hide the top-level repository behind the bound.
 */
export function scanProtected(ws: string, exempt: ReadonlySet<string> = new Set()): ProtectedSnapshot {
  const entries: Record<string, ProtectedEntry> = {};
  let seen = 0;
  let truncated = false;
  const record = (rel: string) => {
    if (exempt.has(rel)) return;
    const abs = join(ws, rel);
    const st = lstatSync(abs, { throwIfNoEntry: false });
    if (st) entries[rel] = entryOf(abs, st);
  };
  const recordTree = (rel: string, depth: number) => {
    if (exempt.has(rel)) return;
    record(rel);
    const e = entries[rel];
    if (e?.kind !== "dir" || depth > 4) return;
    for (const n of readdirSync(join(ws, rel))) if (++seen <= MAX_ENTRIES) recordTree(join(rel, n), depth + 1);
  };
  const gitDir = (rel: string) => {
    recordTree(join(rel, "hooks"), 0);
    for (const f of ["config", "commondir", "config.worktree"]) record(join(rel, f));
  };
  for (const f of TOP_FILES) record(f);
  let level: string[] = [""];
  for (let depth = 0; level.length && depth <= MAX_DEPTH; depth++) {
    const next: string[] = [];
    for (const rel of level) {
      const abs = join(ws, rel);
      let items;
      try {
        items = readdirSync(abs, { withFileTypes: true });
      } catch {
        continue;
      }
      seen += items.length;
      if (seen > MAX_ENTRIES) {
        truncated = true;
        break;
      }
      const names = new Set(items.map((i) => i.name));
      if (rel && isGitDirLike(abs, names)) {
        gitDir(rel);
        continue;
      }
      for (const it of items) {
        const child = rel ? join(rel, it.name) : it.name;
        if (it.name === ".git") {
          if (it.isDirectory()) gitDir(child);
          else record(child); // a gitdir: file, or a link: git would follow it
        } else if (it.isDirectory()) next.push(child);
      }
    }
    if (truncated) break;
    level = next;
  }
  return { entries, truncated };
}

/** Why an entry found after the session must go, or undefined if it may stay. */
function verdict(ws: string, rel: string, now: ProtectedEntry, before: ProtectedEntry | undefined, known: Set<string>): string | undefined {
  if (now.kind === "dir") return undefined; // its contents are judged one by one
  // The operator's own file, moved (e.g. with a renamed repository): no new code.
  if (!before && now.kind === "file" && known.has(now.sha256!) && !/(^|\/)config(\.worktree)?$/.test(rel)) return undefined;
  const same = before && before.kind === now.kind && before.sha256 === now.sha256 && before.target === now.target;
  if (same && before.mode === now.mode) return undefined;
  if (basename(rel) === "config" || basename(rel) === "config.worktree") {
    if (now.kind !== "file") return "git config replaced by a link";
    const old = new Set(before?.content ? dangerousConfigLines(Buffer.from(before.content, "base64").toString()) : []);
    const added = dangerousConfigLines(readFileSync(join(ws, rel), "utf8")).filter((l) => !old.has(l));
    return added.length ? `git config sets ${added.map((l) => l.split("=")[0]).join(", ")}` : undefined;
  }
  if (basename(rel) === ".git") return before ? "the .git file changed" : "a .git file appeared (it points git elsewhere)";
  if (rel.split("/").includes("hooks")) return before ? "git hook changed" : "git hook appeared";
  return before ? "changed during the session" : "appeared during the session";
}

/**
 * After the sandbox is gone: moves every protected entry that appeared or changed (and
 * runs code) into `quarantine`, and puts the original back where there was one. Never
 * follows a symlink: links are moved as links.
 */
export function neutralize(ws: string, before: ProtectedSnapshot, quarantine: string, exempt: ReadonlySet<string> = new Set()): { items: Neutralized[]; truncated: boolean } {
  const after = scanProtected(ws, exempt);
  const items: Neutralized[] = [];
  const known = new Set(Object.values(before.entries).flatMap((e) => (e.sha256 ? [e.sha256] : [])));
  let n = 0;
  for (const [rel, now] of Object.entries(after.entries)) {
    const old = before.entries[rel];
    const reason = verdict(ws, rel, now, old, known);
    if (!reason) continue;
    mkdirSync(quarantine, { recursive: true, mode: 0o700 });
    const to = join(quarantine, `${++n}-${rel.replace(/\//g, "__")}`);
    moveAside(join(ws, rel), to, now);
    const restored = old?.kind === "file" && old.content !== undefined ? restore(join(ws, rel), old) : false;
    items.push({ path: rel, reason, quarantinedAs: to, restored });
  }
  return { items, truncated: before.truncated || after.truncated };
}

/** rename(2) moves a link as a link; across filesystems, copy the bytes (or the link's target) then remove. */
function moveAside(from: string, to: string, e: ProtectedEntry): void {
  try {
    renameSync(from, to);
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
  }
  if (e.kind === "link") writeFileSync(`${to}.symlink`, e.target ?? "", { mode: 0o600 });
  else if (e.kind === "file") copyFileSync(from, to, constants.COPYFILE_EXCL);
  rmSync(from, { force: true, recursive: e.kind === "dir" });
}

/** Writes the original back, as its owner had it, into a path just freed (never through a link). */
function restore(path: string, e: ProtectedEntry): boolean {
  if (lstatSync(dirname(path), { throwIfNoEntry: false })?.isDirectory() !== true) return false;
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, e.mode);
  try {
    writeSync(fd, Buffer.from(e.content!, "base64"));
    if (process.getuid?.() === 0) fchownSync(fd, e.uid, e.gid);
  } finally {
    closeSync(fd);
  }
  return true;
}
