// `berth secrets scan`: credentials in a git working tree, or in the added lines of a diff,
// minus what the allowlist vets.

import { execFile } from "node:child_process";
import { existsSync, lstatSync, readdirSync } from "node:fs";
import { lstat, open } from "node:fs/promises";
import { join, relative, resolve, sep } from "node:path";
import { promisify } from "node:util";
import { Allowlist, ALLOWLIST_FILE, type AllowEntry } from "./allowlist.js";
import { scanText, type SecretFinding } from "./chunk-scanner.js";

const run = promisify(execFile);

export interface ScanReport {
  root: string;
  mode: "tree" | "diff";
  findings: SecretFinding[];
  allowed: (SecretFinding & { reason: string })[];
  filesScanned: number;
  bytesScanned: number;
  skipped: { path: string; reason: string }[];
  unusedAllow: AllowEntry[];
  allowlist?: string;
}

export interface ScanOptions {
  /** An allowlist; default: `.berth-secrets-allow.yaml` at the repository root, if present. */
  allow?: Allowlist;
  /** Binary files above this size are not read (default 8 MiB). Text files are always read. */
  maxBinaryBytes?: number;
}

const DEFAULT_MAX_BINARY = 8 * 1024 * 1024;

async function git(cwd: string, args: string[]): Promise<string> {
  const { stdout } = await run("git", ["-c", "core.quotePath=false", ...args], { cwd, maxBuffer: 512 * 1024 * 1024, encoding: "utf8" });
  return stdout;
}

async function gitTop(dir: string): Promise<string | undefined> {
  try {
    return (await git(dir, ["rev-parse", "--show-toplevel"])).trim();
  } catch {
    return undefined;
  }
}

function isBinary(head: Buffer): boolean {
  return head.subarray(0, 8000).includes(0);
}

/** Reads a file for scanning: whole (text, or a binary under the limit), or a reason to skip it. */
async function readForScan(file: string, maxBinary: number): Promise<{ buf: Buffer } | { skip: string }> {
  const st = await lstat(file).catch(() => undefined);
  if (!st) return { skip: "deleted" };
  if (!st.isFile()) return { skip: "not a regular file" };
  const fh = await open(file, "r").catch((e: NodeJS.ErrnoException) => e);
  if (fh instanceof Error) return { skip: fh.code === "ENOENT" ? "deleted" : `unreadable (${fh.code})` };
  try {
    const { size } = await fh.stat();
    const head = Buffer.alloc(Math.min(8000, size));
    await fh.read(head, 0, head.length, 0);
    if (size > maxBinary && isBinary(head)) return { skip: `binary, ${(size / 1048576).toFixed(1)} MiB` };
    return { buf: await fh.readFile() };
  } finally {
    await fh.close();
  }
}

function newReport(root: string, mode: "tree" | "diff", allow: Allowlist): ScanReport {
  return { root, mode, findings: [], allowed: [], filesScanned: 0, bytesScanned: 0, skipped: [], unusedAllow: [], allowlist: allow.source };
}

function record(report: ScanReport, allow: Allowlist, found: SecretFinding[]): void {
  for (const f of found) {
    const a = allow.match(f);
    if (a) report.allowed.push({ ...f, reason: a.reason });
    else report.findings.push(f);
  }
}

function defaultAllow(top: string, given?: Allowlist): Allowlist {
  if (given) return given;
  const f = join(top, ALLOWLIST_FILE);
  return existsSync(f) ? Allowlist.load(f) : new Allowlist();
}

/** Files of a plain directory (no git): everything but .git and node_modules. */
function walkFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.name === ".git" || e.name === "node_modules") continue;
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(relative(root, p).split(sep).join("/"));
    }
  };
  walk(root);
  return out;
}

/**
 * Scans a working tree: in a git repository, the tracked files and the untracked ones that
 * are not ignored (what a commit could contain) under `path`; elsewhere every file but
 * .git and node_modules. Paths in the report are relative to the repository root.
 */
export async function scanTree(path: string, opts: ScanOptions = {}): Promise<ScanReport> {
  const abs = resolve(path);
  const single = existsSync(abs) && lstatSync(abs).isFile();
  const dir = single ? resolve(abs, "..") : abs;
  const gtop = await gitTop(dir);
  const top = gtop ?? dir;
  const allow = defaultAllow(top, opts.allow);
  const report = newReport(top, "tree", allow);
  let files: string[];
  if (single) files = [relative(top, abs).split(sep).join("/")];
  else if (gtop)
    files = (await git(dir, ["ls-files", "-z", "--full-name", "--cached", "--others", "--exclude-standard", "--", "."])).split("\0").filter(Boolean);
  else files = walkFiles(top);
  files = [...new Set(files)].sort();
  const maxBinary = opts.maxBinaryBytes ?? DEFAULT_MAX_BINARY;
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const rel = files[next++]!;
      const r = await readForScan(join(top, rel), maxBinary);
      if ("skip" in r) {
        if (r.skip !== "deleted" && r.skip !== "not a regular file") report.skipped.push({ path: rel, reason: r.skip });
        continue;
      }
      report.filesScanned++;
      report.bytesScanned += r.buf.length;
      record(report, allow, scanText(rel, r.buf.toString("latin1"), { latin1: true }));
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return finish(report, allow);
}

function finish(report: ScanReport, allow: Allowlist): ScanReport {
  const order = (a: SecretFinding, b: SecretFinding) => a.path.localeCompare(b.path) || a.line - b.line;
  report.findings.sort(order);
  report.allowed.sort(order);
  report.skipped.sort((a, b) => a.path.localeCompare(b.path));
  report.unusedAllow = allow.unused();
  return report;
}

/** A path in a diff header: `b/path`, or C-quoted when git had to. */
function diffPath(s: string): string | undefined {
  if (s === "/dev/null") return undefined;
  if (s.startsWith('"')) s = JSON.parse(s.replace(/\\([0-7]{3})/g, (_m, o: string) => `\\u00${parseInt(o, 8).toString(16).padStart(2, "0")}`)) as string;
  return s.replace(/^b\//, "");
}

/** Added lines of a unified diff, as blocks of consecutive lines: path, first line number, text. */
export function addedBlocks(diff: string): { blocks: { path: string; line: number; text: string }[]; binary: string[] } {
  const blocks: { path: string; line: number; text: string }[] = [];
  const binary: string[] = [];
  let path: string | undefined;
  let inHunk = false;
  let line = 0;
  let cur: { path: string; line: number; lines: string[] } | undefined;
  const flush = () => {
    if (cur) blocks.push({ path: cur.path, line: cur.line, text: cur.lines.join("\n") });
    cur = undefined;
  };
  const hunk = (l: string) => {
    flush();
    inHunk = true;
    line = Number(/^@@ -\d+(?:,\d+)? \+(\d+)/.exec(l)?.[1] ?? 0);
  };
  for (const l of diff.split("\n")) {
    if (l.startsWith("diff --git ")) {
      flush();
      path = undefined;
      inHunk = false;
    } else if (!inHunk) {
      if (l.startsWith("+++ ")) path = diffPath(l.slice(4).replace(/\t$/, ""));
      else if (l.startsWith("Binary files ") && l.endsWith(" differ")) {
        const p = diffPath(/ and (.+) differ$/.exec(l)?.[1] ?? "/dev/null");
        if (p) binary.push(p);
      } else if (l.startsWith("@@ ")) hunk(l);
    } else if (l.startsWith("@@ ")) hunk(l);
    else if (l.startsWith("+")) {
      if (path !== undefined) (cur ??= { path, line, lines: [] }).lines.push(l.slice(1));
      line++;
    } else {
      flush();
      if (l.startsWith(" ")) line++;
    }
  }
  flush();
  return { blocks, binary };
}

/**
 * Scans only what `git diff REV` adds (REV may be a range, A..B), plus, when REV is a
 * single revision, untracked files that are not ignored (they would be added by a commit
 * and `git diff` does not show them). Binary files the diff touches are scanned whole.
 */
export async function scanDiff(path: string, rev: string, opts: ScanOptions = {}): Promise<ScanReport> {
  if (rev.startsWith("-")) throw new Error(`not a revision: '${rev}'`);
  const dir = resolve(path);
  const top = await gitTop(dir);
  if (!top) throw new Error(`${dir} is not in a git repository`);
  const allow = defaultAllow(top, opts.allow);
  const report = newReport(top, "diff", allow);
  const diff = await git(dir, ["diff", "--no-color", "--no-ext-diff", "--no-renames", "--unified=0", "--src-prefix=a/", "--dst-prefix=b/", rev, "--", "."]);
  const { blocks, binary } = addedBlocks(diff);
  const files = new Set<string>();
  for (const b of blocks) {
    files.add(b.path);
    report.bytesScanned += b.text.length;
    for (const f of scanText(b.path, b.text)) record(report, allow, [{ ...f, line: f.line + b.line - 1 }]);
  }
  const whole = [...binary];
  if (!rev.includes("..")) whole.push(...(await git(dir, ["ls-files", "-z", "--full-name", "--others", "--exclude-standard", "--", "."])).split("\0").filter(Boolean));
  for (const rel of whole) {
    const r = await readForScan(join(top, rel), opts.maxBinaryBytes ?? DEFAULT_MAX_BINARY);
    if ("skip" in r) {
      if (r.skip !== "deleted") report.skipped.push({ path: rel, reason: r.skip });
      continue;
    }
    files.add(rel);
    report.bytesScanned += r.buf.length;
    record(report, allow, scanText(rel, r.buf.toString("latin1"), { latin1: true }));
  }
  report.filesScanned = files.size;
  return finish(report, allow);
}
