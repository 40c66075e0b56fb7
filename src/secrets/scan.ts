// Credential detection for files: the shapes of credentials (the one list: the redactor
// uses the same patterns), a scanner that finds them in text or in a stream of chunks,
// fingerprints and redacted excerpts (a finding never carries the secret), an allowlist,
// and `berth secrets scan` over a git working tree or the added lines of a diff.

import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync } from "node:fs";
import { lstat, open } from "node:fs/promises";
import { join, relative, resolve, sep } from "node:path";
import { promisify } from "node:util";
import { parse as parseYaml } from "yaml";
import { z } from "zod";

const run = promisify(execFile);

export interface CredentialShape {
  kind: string;
  /** Global regex. The first shapes win where two match the same text. */
  re: RegExp;
  /** Literal the text must contain for the regex to have a chance (a fast pre-check). */
  hints: readonly string[];
}

/**
 * The shapes of credentials berth must neither echo (redaction) nor find in a file or an
 * image (scanning). The regexes match what src/secrets/redact.ts redacts; scanning then
 * drops matches that are plainly not secrets (see `plausible`).
 */
export const CREDENTIAL_SHAPES: readonly CredentialShape[] = [
  { kind: "anthropic-key", re: /sk-ant-[A-Za-z0-9_-]{16,}/g, hints: ["sk-ant-"] }, // API keys and OAuth tokens
  { kind: "openai-key", re: /sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,}/g, hints: ["sk-"] },
  { kind: "github-token", re: /\bgh[pousr]_[A-Za-z0-9]{30,}\b/g, hints: ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"] },
  { kind: "github-token", re: /\bgithub_pat_[A-Za-z0-9_]{40,}\b/g, hints: ["github_pat_"] },
  { kind: "aws-access-key-id", re: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g, hints: ["AKIA", "ASIA"] },
  {
    kind: "private-key",
    re: /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g,
    hints: ["PRIVATE KEY-----"],
  },
  { kind: "slack-token", re: /\bxox[baprs]-[A-Za-z0-9-]{10,}\b/g, hints: ["xox"] },
  { kind: "google-api-key", re: /\bAIza[0-9A-Za-z_-]{35}\b/g, hints: ["AIza"] },
  // Not (yet) in redact.ts: npm tokens, and berth's own API and gateway tokens (newSecret: 32 bytes base64url).
  { kind: "npm-token", re: /\bnpm_[A-Za-z0-9]{36}\b/g, hints: ["npm_"] },
  { kind: "berth-token", re: /\bb[rg]t_[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/g, hints: ["brt_", "bgt_"] },
];

/** `Authorization: Bearer …` / `Basic …` values; group 1 is the scheme, kept when redacting. */
export const HTTP_AUTH_SHAPE = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{12,}/gi;
const HTTP_AUTH: CredentialShape = { kind: "http-auth", re: HTTP_AUTH_SHAPE, hints: [] };

export interface SecretMatch {
  kind: string;
  /** Offsets into the scanned text. */
  start: number;
  end: number;
  /** The secret itself: for fingerprints and redaction; never print it. */
  value: string;
}

const PREFIX = /^(?:sk-ant-(?:api|oat|ort|admin)\d*-|sk-ant-|sk-(?:proj-|svcacct-|admin-)?|gh[pousr]_|github_pat_|AKIA|ASIA|xox[baprs]-|AIza|npm_|b[rg]t_|(?:Bearer|Basic)\s+)/i;

/** The longest run of consecutive characters (abcdef, 012345) in s. */
function ascendingRun(s: string): number {
  let best = 1;
  let run = 1;
  for (let i = 1; i < s.length; i++) {
    run = s.charCodeAt(i) === s.charCodeAt(i - 1) + 1 ? run + 1 : 1;
    if (run > best) best = run;
  }
  return best;
}

/** Shannon entropy in bits per character. */
function entropy(s: string): number {
  const n = new Map<string, number>();
  for (const c of s) n.set(c, (n.get(c) ?? 0) + 1);
  let h = 0;
  for (const k of n.values()) h -= (k / s.length) * Math.log2(k / s.length);
  return h;
}

/**
 * Is a match worth reporting from a file? The redactor errs towards hiding; a scanner that
 * fails builds must not cry wolf. Dropped: placeholders (a run of 8 equal characters,
 * EXAMPLE as in documentation keys, abcdef/012345 sequences, lowercase words joined by
 * dashes), bodies without a digit or mixed case, `sk-` inside a longer word
 * (disk-usage-...), PEM markers quoted in code (no base64 body), `Basic` values that are
 * not base64 of user:password, and short or low-entropy `Bearer` values.
 */
export function plausible(m: SecretMatch, text: string): boolean {
  const v = m.value;
  if (m.kind === "private-key") {
    const body = v.replace(/^-----BEGIN [A-Z ]*PRIVATE KEY-----/, "").replace(/-----END [A-Z ]*PRIVATE KEY-----$/, "");
    // Headers of legacy encrypted PEM (Proc-Type: ..., DEK-Info: ...) are allowed; then base64 lines,
    // separated by real or escaped (JSON string) newlines.
    const b64 = body.replace(/^(?:\s|\\[nr])*(?:[A-Za-z-]+:[^\n\\]*(?:\s|\\[nr])+)*/, "").replace(/\\[nr]|\s/g, "");
    return b64.length >= 64 && /^[A-Za-z0-9+/=]+$/.test(b64) && !/(.)\1{15}/.test(b64);
  }
  if (m.start > 0 && /[A-Za-z0-9_-]/.test(text[m.start - 1]!)) return false;
  const body = v.replace(PREFIX, "");
  if (/(.)\1{7}/.test(body) || /EXAMPLE/i.test(body) || /x{6,}|X{6,}/.test(body) || ascendingRun(body) >= 6) return false;
  // Words joined by dashes (file-secret-value-01, otlp-secret-token-123): a test value, not a token.
  const parts = body.split(/[-_.]/).filter(Boolean);
  if (parts.length >= 2 && parts.every((p) => /^(?:[a-z]+|[0-9]+)$/.test(p))) return false;
  // Random tokens mix digits and letters, or at least cases; kebab-case words do not.
  if (!/[A-Za-z]/.test(body) || !(/[0-9]/.test(body) || (/[a-z]/.test(body) && /[A-Z]/.test(body)))) return false;
  if (m.kind === "http-auth") {
    // In files, only a header value as written (`Bearer …`, `Basic …`), and Basic must be base64 of user:password.
    if (!/^(?:Bearer|Basic)\s/.test(v)) return false;
    if (v.startsWith("Basic")) return /^[A-Za-z0-9+/]+=*$/.test(body) && /^[\x20-\x7e]+:[\x20-\x7e]+$/.test(Buffer.from(body, "base64").toString("latin1"));
    return body.length >= 20 && entropy(body) >= 3.5;
  }
  return entropy(body) >= 3;
}

/**
 * Every credential-shaped string in `text`, overlapping matches resolved in favour of the
 * earlier shape. `all` keeps implausible ones too (what the redactor would hide).
 */
export function findSecrets(text: string, opts: { all?: boolean } = {}): SecretMatch[] {
  const out: SecretMatch[] = [];
  const taken: [number, number][] = [];
  for (const shape of [...CREDENTIAL_SHAPES, HTTP_AUTH]) {
    if (shape.hints.length && !shape.hints.some((h) => text.includes(h))) continue;
    const re = new RegExp(shape.re.source, shape.re.flags);
    for (let m = re.exec(text); m; m = re.exec(text)) {
      const hit: SecretMatch = { kind: shape.kind, start: m.index, end: m.index + m[0].length, value: m[0] };
      if (!opts.all && !plausible(hit, text)) {
        // A quoted BEGIN marker may have swallowed a real key after it: look again from the next character.
        if (shape.kind === "private-key") re.lastIndex = m.index + 1;
        continue;
      }
      if (taken.some(([s, e]) => hit.start < e && s < hit.end)) continue;
      taken.push([hit.start, hit.end]);
      out.push(hit);
    }
  }
  return out.sort((a, b) => a.start - b.start);
}

/** A stable, non-reversible id of a secret value (for allowlists and de-duplication). */
export function fingerprint(value: string): string {
  return createHash("sha256").update(value).digest("hex").slice(0, 16);
}

/** What may be shown of a secret: its public prefix (sk-ant-api03-, ghp_, AKIA, the PEM header). */
export function redactSecret(m: Pick<SecretMatch, "kind" | "value">): string {
  if (m.kind === "private-key") return `${/^-----BEGIN [A-Z ]*PRIVATE KEY-----/.exec(m.value)?.[0] ?? ""}[REDACTED]`;
  const p = PREFIX.exec(m.value)?.[0] ?? "";
  return `${p.replace(/\s+/g, " ")}[REDACTED]`;
}

/**
 * One line around a match, the match and every other credential-shaped string near it
 * redacted (also one cut by the edge of the excerpt). Works on latin1-decoded text (bytes
 * as characters) when `latin1`, and returns UTF-8 either way.
 */
export function excerpt(text: string, m: SecretMatch, width = 40, latin1 = false): string {
  const lineStart = text.lastIndexOf("\n", m.start - 1) + 1;
  let lineEnd = text.indexOf("\n", m.end);
  if (lineEnd < 0) lineEnd = text.length;
  const from = Math.max(lineStart, m.start - width);
  const to = Math.min(lineEnd, m.end + width);
  const rs = Math.max(lineStart, m.start - 400);
  const region = text.slice(rs, Math.min(lineEnd, m.end + 400));
  const hits = [m, ...findSecrets(region, { all: true }).map((x) => ({ ...x, start: x.start + rs, end: x.end + rs }))].sort(
    (a, b) => a.start - b.start || (a === m ? -1 : 1),
  );
  let s = "";
  let pos = from;
  for (const h of hits) {
    if (h.end <= pos || h.start >= to) continue;
    s += text.slice(pos, Math.max(pos, h.start));
    s += h.start >= from && h.end <= to ? redactSecret(h) : "[REDACTED]";
    pos = h.end;
  }
  if (pos < to) s += text.slice(pos, to);
  if (latin1) s = Buffer.from(s, "latin1").toString("utf8");
  // eslint-disable-next-line no-control-regex
  s = s.replace(/[\u0000-\u001f\u007f\ufffd]+/g, " ").trim();
  return (from > lineStart ? "…" : "") + s + (to < lineEnd ? "…" : "");
}

/** A credential found at a place: what `secrets scan` and `image check` report. */
export interface SecretFinding {
  path: string;
  line: number;
  kind: string;
  fingerprint: string;
  excerpt: string;
}

function lineAt(text: string, offset: number, from = 0, startLine = 1): number {
  let line = startLine;
  for (let i = text.indexOf("\n", from); i >= 0 && i < offset; i = text.indexOf("\n", i + 1)) line++;
  return line;
}

/** Findings in one whole text (a file read in full). */
export function scanText(path: string, text: string, opts: { latin1?: boolean } = {}): SecretFinding[] {
  let line = 1;
  let at = 0;
  return findSecrets(text).map((m) => {
    line = lineAt(text, m.start, at, line);
    at = m.start;
    return { path, line, kind: m.kind, fingerprint: fingerprint(m.value), excerpt: excerpt(text, m, 40, opts.latin1) };
  });
}

/**
 * Scans content that arrives in chunks (a file in a tar stream, a large file) without
 * holding it whole: each chunk is scanned with the tail of the previous one, so a secret
 * across a chunk boundary is found once. Bytes are decoded as latin1 (one character per
 * byte), which keeps offsets exact for binaries; the shapes are ASCII.
 */
export class ChunkScanner {
  private carry = "";
  /** Absolute offset of `carry`'s first character, and the line it is on. */
  private carryAt = 0;
  private carryLine = 1;
  private seen = new Set<string>();
  /** A match touched the end of the last chunk and waits for more text. */
  private waiting = false;
  private ended = false;
  readonly findings: SecretFinding[] = [];

  constructor(
    readonly path: string,
    /** Longest secret that must be found whole across a boundary (a 4096-bit PEM key is ~3.3 kB). */
    private overlap = 8192,
    /** Characters of context in excerpts (0 for binaries, where context is noise). */
    private context = 40,
  ) {}

  /** Adds the next chunk; `final` when it is the last (then `end()` has nothing left to do). */
  push(chunk: Buffer, final = false): void {
    if (this.ended) throw new Error("ChunkScanner: push after the end");
    this.ended = final;
    const text = this.carry + chunk.toString("latin1");
    this.waiting = false;
    for (const m of findSecrets(text)) {
      // A match that touches the end may continue in the next chunk: report it next time.
      if (!final && m.end === text.length && m.start >= text.length - this.overlap) {
        this.waiting = true;
        continue;
      }
      const key = `${this.carryAt + m.start}:${m.kind}`;
      if (this.seen.has(key)) continue;
      this.seen.add(key);
      this.findings.push({
        path: this.path,
        line: lineAt(text, m.start, 0, this.carryLine),
        kind: m.kind,
        fingerprint: fingerprint(m.value),
        excerpt: this.context ? excerpt(text, m, this.context, true) : redactSecret(m),
      });
    }
    if (final) return;
    const cut = Math.max(0, text.length - this.overlap);
    this.carryLine = lineAt(text, cut, 0, this.carryLine);
    this.carryAt += cut;
    this.carry = text.slice(cut);
  }

  end(): SecretFinding[] {
    if (!this.ended && this.waiting) this.push(Buffer.alloc(0), true);
    this.ended = true;
    return this.findings;
  }
}

// --- allowlist ---------------------------------------------------------------------------

const AllowEntrySchema = z
  .object({
    /** A glob on the finding's path (relative to the repository root): `*`, `**`, `?`, `{a,b}`. */
    path: z.string().min(1).optional(),
    /** `fingerprint` of one exact secret value, as printed by the scanner. */
    fingerprint: z.string().regex(/^[0-9a-f]{16}$/, "a 16-hex-digit fingerprint as printed by the scanner").optional(),
    kind: z.string().min(1).optional(),
    reason: z.string().min(3, "every allowlist entry needs a reason"),
  })
  .strict()
  .refine((e) => e.path !== undefined || e.fingerprint !== undefined, "an entry needs a path glob or a fingerprint (or both)");
const AllowFileSchema = z.object({ allow: z.array(AllowEntrySchema).default([]) }).strict();
export type AllowEntry = z.infer<typeof AllowEntrySchema>;

export const ALLOWLIST_FILE = ".berth-secrets-allow.yaml";

/** Glob → RegExp: `**` any depth, `*` and `?` within a path segment, `{a,b}` alternatives. */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*" && glob[i + 1] === "*") {
      const slash = glob[i + 2] === "/";
      re += slash ? "(?:.*/)?" : ".*";
      i += slash ? 2 : 1;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "{") re += "(?:";
    else if (c === "}") re += ")";
    else if (c === "," && re.lastIndexOf("(?:") > re.lastIndexOf(")")) re += "|";
    else re += c.replace(/[.+^$()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

export class Allowlist {
  private compiled: { entry: AllowEntry; path?: RegExp; used: number }[];

  constructor(
    entries: AllowEntry[] = [],
    /** Where the entries came from (for messages). */
    readonly source?: string,
  ) {
    this.compiled = entries.map((entry) => ({ entry, path: entry.path ? globToRegExp(entry.path) : undefined, used: 0 }));
  }

  static load(file: string): Allowlist {
    let raw: unknown;
    try {
      raw = parseYaml(readFileSync(file, "utf8")) ?? {};
    } catch (e) {
      throw new Error(`${file}: ${(e as Error).message}`);
    }
    const r = AllowFileSchema.safeParse(raw);
    if (!r.success) throw new Error(`${file}: ${r.error.issues.map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`).join("; ")}`);
    return new Allowlist(r.data.allow, file);
  }

  /** The entry that allows this finding, if any (all of an entry's fields must match). */
  match(f: Pick<SecretFinding, "path" | "fingerprint" | "kind">): AllowEntry | undefined {
    const path = f.path.replace(/^\/+/, "");
    for (const c of this.compiled) {
      if (c.path && !c.path.test(path)) continue;
      if (c.entry.fingerprint && c.entry.fingerprint !== f.fingerprint) continue;
      if (c.entry.kind && c.entry.kind !== f.kind) continue;
      c.used++;
      return c.entry;
    }
    return undefined;
  }

  /** Entries that matched nothing in this run: stale, or too narrow. */
  unused(): AllowEntry[] {
    return this.compiled.filter((c) => c.used === 0).map((c) => c.entry);
  }
}

// --- working tree and diff scans ----------------------------------------------------------

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
