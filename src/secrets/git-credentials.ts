import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { parseDocument } from "yaml";
import { z } from "zod";
import { resolveSecret, SECRET_NAME, secretHowTo } from "../providers/secrets.js";
import { normalizeHost } from "../sandboxes/egress/policy.js";
import type { Redactor } from "./redact.js";
import { GitHubAppTokens, parsePrivateKey } from "./github-app.js";

// The git credential service (docs/design.md, decision 4; docs/git-credentials.md). Every
// sandbox has `git-credential-berth` (git-credential-helper.ts) as git's credential
// helper; it asks here, through the model gateway and with the session's gateway token,
// for a credential for one protocol/host/path. berth answers only for a host the
// session's create request allowed (`git.hosts`), from the source the operator's file
// configures for it: a static token (a named secret), a command, or a GitHub App. No
// long-lived token is ever in the sandbox's environment or files; what is issued is
// registered with the redactor, and every decision is reported without any secret.

export const GIT_CREDENTIALS_SYSTEM_FILE = "/etc/berth/git-credentials.yaml";
export const GIT_CREDENTIAL_PATH = "/_berth/git/credential";
export const DEFAULT_GIT_USERNAME = "x-access-token";
const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;
const MAX_COMMAND_OUTPUT = 64 * 1024;
const MAX_BODY = 16 * 1024;

// --- hosts and paths --------------------------------------------------------------

/**
 * A host as git's credential protocol names it ("github.com", "git.internal:8443",
 * "[::1]:8080"), normalized: lower case, IDN to punycode, IPv6 in brackets; the port only
 * when it was given. Undefined when it is not one.
 */
export function normalizeGitHost(raw: string): string | undefined {
  const m = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(raw.trim());
  if (!m) return undefined;
  const n = normalizeHost(m[1]!);
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (!n || (port !== undefined && !(port >= 1 && port <= 65535))) return undefined;
  const host = n.ip === 6 ? `[${n.host}]` : n.host;
  return port === undefined ? host : `${host}:${port}`;
}

/** A session's `git.hosts`, normalized; throws naming the first entry that is not a host[:port]. */
export function parseGitHosts(hosts: readonly string[]): string[] {
  return hosts.map((h) => {
    const n = normalizeGitHost(h);
    if (!n) throw new Error(`invalid git host ${JSON.stringify(h)}: expected a host such as "github.com" or "git.example.com:8443" (no scheme, no path)`);
    return n;
  });
}

const trimSlashes = (p: string) => p.replace(/^\/+|\/+$/g, "");

/** Whether `path` is `prefix` or below it, by whole segments ("org" covers "org/repo.git", not "orgx/..."). */
function underPrefix(path: string, prefix: string): boolean {
  return prefix === "" || path === prefix || path.startsWith(`${prefix}/`);
}

// --- the file ------------------------------------------------------------------------

const secretRef = z.strictObject(
  { secret: z.string().regex(SECRET_NAME, "must be an environment-variable name such as GITHUB_TOKEN") },
  { error: "must be { secret: NAME }, naming a secret in berth's environment (NAME or NAME_FILE); tokens are never written in this file" },
);
const hostField = z.string().refine((h) => normalizeGitHost(h) !== undefined, 'must be a host such as "github.com" or "git.example.com:8443" (no scheme, no path)');
const id = z.union([z.number().int().positive(), z.string().regex(/^[A-Za-z0-9._-]+$/)], { error: "must be a number or an id such as Iv1.abc" });
const credentialValue = z.string().min(1).regex(/^[^\n\r\0]+$/, "must be one line");

const githubAppSchema = z.strictObject({
  appId: id,
  installationId: id,
  privateKey: z.union([secretRef, z.strictObject({ file: z.string().min(1) })], {
    error: "must be { secret: NAME } or { file: /path/to/key.pem }",
  }),
  apiUrl: z
    .string()
    .refine((s) => {
      try {
        return ["http:", "https:"].includes(new URL(s).protocol);
      } catch {
        return false;
      }
    }, "must be an http(s) URL")
    .optional(),
  refreshMarginSeconds: z.number().int().min(0).max(3000).optional(),
});

const entrySchema = z
  .strictObject({
    host: hostField,
    protocol: z.enum(["https", "http"]).optional(),
    path: z.string().regex(/^[^\s?#]*$/, "must be a path prefix such as my-org or my-org/repo.git").optional(),
    username: credentialValue.optional(),
    token: secretRef.optional(),
    command: z.array(z.string().min(1)).min(1).optional(),
    timeoutMs: z.number().int().min(100).max(120_000).optional(),
    githubApp: githubAppSchema.optional(),
  })
  .superRefine((e, ctx) => {
    const n = [e.token, e.command, e.githubApp].filter((s) => s !== undefined).length;
    if (n !== 1) ctx.addIssue({ code: "custom", path: [], message: "give exactly one source: token, command or githubApp" });
    if (e.timeoutMs !== undefined && !e.command) ctx.addIssue({ code: "custom", path: ["timeoutMs"], message: "applies only to a command source" });
  });

const fileSchema = z.strictObject({
  username: credentialValue.optional(),
  credentials: z.array(entrySchema),
});

export type GitSourceKind = "token" | "command" | "githubApp";

type Source =
  | { kind: "token"; secret: string }
  | { kind: "command"; argv: string[]; timeoutMs: number }
  | { kind: "githubApp"; tokens: GitHubAppTokens };

export interface GitCredentialEntry {
  /** Position in the file, for decisions and errors. */
  index: number;
  protocol: "https" | "http";
  host: string;
  /** Path prefix without leading/trailing slashes; "" covers the whole host. */
  path: string;
  username?: string;
  source: Source;
}

export interface GitCredentialsConfig {
  file: string;
  username: string;
  entries: GitCredentialEntry[];
}

/** A git credentials file that cannot be used: the message names the file and the field. */
export class GitCredentialsConfigError extends Error {
  constructor(
    readonly file: string,
    readonly field: string | undefined,
    detail: string,
  ) {
    super(`${file}: ${field ? `${field}: ` : ""}${detail}`);
    this.name = "GitCredentialsConfigError";
  }
}

export interface LoadGitCredentialsOptions {
  /** The operator's file (BERTH_GIT_CREDENTIALS, parsed at start); it must exist. */
  file?: string;
  /** Where secrets named `env:NAME` in the file are looked up (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Default /etc/berth/git-credentials.yaml. */
  systemFile?: string;
  /** For GitHub App sources (tests). */
  now?: () => number;
  fetch?: typeof fetch;
}

/**
 * The operator's git credentials: the file named by $BERTH_GIT_CREDENTIALS (which must
 * exist), else the system file if there is one, else undefined (no host gets anything).
 * Throws GitCredentialsConfigError for a file that is unreadable, not YAML, off-schema,
 * or names a secret or key that cannot be used.
 */
export function loadGitCredentials(opts: LoadGitCredentialsOptions = {}): GitCredentialsConfig | undefined {
  const env = opts.env ?? process.env;
  const named = opts.file;
  const file = named || (opts.systemFile ?? GIT_CREDENTIALS_SYSTEM_FILE);
  if (!existsSync(file)) {
    if (named) throw new GitCredentialsConfigError(file, undefined, "named by $BERTH_GIT_CREDENTIALS but does not exist");
    return undefined;
  }
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new GitCredentialsConfigError(file, undefined, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseGitCredentials(text, file, { ...opts, env });
}

/** Parses and checks one file's text; `file` names it in errors. */
export function parseGitCredentials(text: string, file: string, opts: LoadGitCredentialsOptions = {}): GitCredentialsConfig {
  const env = opts.env ?? process.env;
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const where = e.linePos?.[0] ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : undefined;
    throw new GitCredentialsConfigError(file, where, `invalid YAML: ${e.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "")}`);
  }
  const raw = doc.toJS() ?? { credentials: [] };
  const r = fileSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const more = r.error.issues.length > 1 ? ` (and ${r.error.issues.length - 1} more problem${r.error.issues.length > 2 ? "s" : ""})` : "";
    throw new GitCredentialsConfigError(file, fieldOf(issue.path), issue.message + more);
  }
  const entries = r.data.credentials.map((e, index): GitCredentialEntry => {
    const field = `credentials[${index}]`;
    const secret = (name: string, where: string): string => {
      let v: string | undefined;
      try {
        v = resolveSecret(name, { env })?.value;
      } catch (err) {
        throw new GitCredentialsConfigError(file, where, (err as Error).message);
      }
      if (!v) throw new GitCredentialsConfigError(file, where, `secret ${name} is not set: ${secretHowTo(name).replace(/, or pass it as the per-session.*$/, "")}`);
      return v;
    };
    let source: Source;
    if (e.token) {
      secret(e.token.secret, `${field}.token`); // present now; read again at each request, so a rotated NAME_FILE is picked up
      source = { kind: "token", secret: e.token.secret };
    } else if (e.command) {
      source = { kind: "command", argv: e.command, timeoutMs: e.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS };
    } else {
      const app = e.githubApp!;
      const where = `${field}.githubApp.privateKey`;
      let pem: string;
      if ("file" in app.privateKey) {
        try {
          pem = readFileSync(app.privateKey.file, "utf8");
        } catch (err) {
          throw new GitCredentialsConfigError(file, where, `cannot read ${app.privateKey.file}: ${(err as NodeJS.ErrnoException).code ?? "error"}`);
        }
      } else pem = secret(app.privateKey.secret, where);
      let key;
      try {
        key = parsePrivateKey(pem);
      } catch (err) {
        throw new GitCredentialsConfigError(file, where, `${"file" in app.privateKey ? app.privateKey.file : app.privateKey.secret} ${(err as Error).message}`);
      }
      source = {
        kind: "githubApp",
        tokens: new GitHubAppTokens({
          appId: String(app.appId),
          installationId: String(app.installationId),
          privateKey: key,
          apiUrl: app.apiUrl,
          refreshMarginMs: app.refreshMarginSeconds === undefined ? undefined : app.refreshMarginSeconds * 1000,
          now: opts.now,
          fetch: opts.fetch,
        }),
      };
    }
    return { index, protocol: e.protocol ?? "https", host: normalizeGitHost(e.host)!, path: trimSlashes(e.path ?? ""), username: e.username, source };
  });
  return { file, username: r.data.username ?? DEFAULT_GIT_USERNAME, entries };
}

function fieldOf(path: PropertyKey[]): string {
  let out = "";
  for (const k of path) out += typeof k === "number" ? `[${k}]` : out ? `.${String(k)}` : String(k);
  return out || "(top level)";
}

// --- the service -----------------------------------------------------------------------

/** What git's credential helper asks for (git's own field names). */
export interface GitCredentialRequest {
  protocol: string;
  host: string;
  path?: string;
}

export interface GitCredential {
  username: string;
  password: string;
  /** Milliseconds since the epoch, when the source says. */
  expiresAt?: number;
}

/** One answer, as berth records it: never a secret. */
export interface GitCredentialDecision {
  sessionId: string;
  protocol: string;
  host: string;
  path?: string;
  outcome: "issued" | "refused" | "failed";
  reason: string;
  source?: GitSourceKind;
  /** Index of the file entry that matched. */
  entry?: number;
}

export interface GitCredentialServiceOptions {
  config: GitCredentialsConfig | undefined;
  redactor: Redactor;
  /** The hosts a session may get credentials for (its `git.hosts`, normalized); undefined for an unknown session. */
  allowedHosts(sessionId: string): readonly string[] | undefined;
  onDecision?(d: GitCredentialDecision): void;
  env?: NodeJS.ProcessEnv;
}

const requestSchema = z.strictObject({
  protocol: z.string().regex(/^[a-z][a-z0-9+.-]{0,30}$/),
  host: z.string().min(1).max(300).regex(/^[^\s\0]+$/),
  path: z.string().max(4096).regex(/^[^\n\r\0]*$/).optional(),
});

export class GitCredentialService {
  /** Values handed out, each registered with the redactor once. */
  private issued = new Set<string>();

  constructor(private readonly opts: GitCredentialServiceOptions) {}

  /** The entry that serves a request: same protocol and host, the longest matching path prefix (file order breaks ties). */
  match(req: GitCredentialRequest): GitCredentialEntry | undefined {
    const host = normalizeGitHost(req.host);
    const path = trimSlashes(req.path ?? "");
    let best: GitCredentialEntry | undefined;
    for (const e of this.opts.config?.entries ?? []) {
      if (e.protocol !== req.protocol || e.host !== host || !underPrefix(path, e.path)) continue;
      if (!best || e.path.length > best.path.length) best = e;
    }
    return best;
  }

  /** A credential for the session, or undefined; every call ends in exactly one decision. */
  async get(sessionId: string, req: GitCredentialRequest): Promise<GitCredential | undefined> {
    const base = { sessionId, protocol: req.protocol, host: req.host, ...(req.path ? { path: req.path } : {}) };
    const decide = (d: Omit<GitCredentialDecision, keyof typeof base>) => {
      try {
        this.opts.onDecision?.({ ...base, ...d });
      } catch {
        /* a faulty listener must not break the answer */
      }
    };
    const host = normalizeGitHost(req.host);
    const allowed = this.opts.allowedHosts(sessionId) ?? [];
    if (!host || !allowed.includes(host)) {
      decide({ outcome: "refused", reason: "host is not in the session's git.hosts" });
      return undefined;
    }
    const entry = this.match(req);
    if (!entry) {
      decide({ outcome: "refused", reason: this.opts.config ? `no entry in ${this.opts.config.file} serves ${req.protocol}://${host}` : "no git credentials file is configured" });
      return undefined;
    }
    const kind = entry.source.kind;
    let cred: GitCredential;
    try {
      cred = await this.fetchFrom(entry, req);
    } catch (e) {
      decide({ outcome: "failed", source: kind, entry: entry.index, reason: this.opts.redactor.redact((e as Error).message) });
      return undefined;
    }
    if (/[\n\r\0]/.test(cred.username + cred.password) || !cred.password) {
      decide({ outcome: "failed", source: kind, entry: entry.index, reason: "the source's credential is empty or not one line" });
      return undefined;
    }
    if (!this.issued.has(cred.password)) {
      this.issued.add(cred.password);
      this.opts.redactor.add(cred.password);
    }
    decide({ outcome: "issued", source: kind, entry: entry.index, reason: `from ${this.opts.config!.file} credentials[${entry.index}]` });
    return cred;
  }

  private async fetchFrom(entry: GitCredentialEntry, req: GitCredentialRequest): Promise<GitCredential> {
    const username = entry.username ?? this.opts.config!.username;
    const s = entry.source;
    if (s.kind === "token") {
      const v = resolveSecret(s.secret, { env: this.opts.env ?? process.env })?.value;
      if (!v) throw new Error(`secret ${s.secret} is not set any more`);
      return { username, password: v };
    }
    if (s.kind === "githubApp") {
      const t = await s.tokens.token();
      return { username, password: t.token, expiresAt: t.expiresAt };
    }
    const out = await runCommand(s.argv, s.timeoutMs, gitDescription(req));
    const parsed = parseCommandOutput(out);
    return { ...parsed, username: parsed.username ?? username };
  }

  /**
   * The gateway route (POST /_berth/git/credential), after the gateway has checked the
   * session token: git's request as JSON in, 200 `{username, password, expiresAt?}` or
   * 204 (nothing for you) out.
   */
  async serve(req: IncomingMessage, res: ServerResponse, sessionId: string): Promise<void> {
    const send = (status: number, body?: unknown) => {
      res.writeHead(status, { "cache-control": "no-store", ...(body === undefined ? {} : { "content-type": "application/json" }) });
      res.end(body === undefined ? undefined : JSON.stringify(body));
    };
    const path = (req.url ?? "").split("?")[0];
    if (path !== GIT_CREDENTIAL_PATH) return send(404, { error: { code: "not_found", message: "unknown berth route" } });
    if (req.method !== "POST") return send(405, { error: { code: "method_not_allowed", message: "use POST" } });
    let text = "";
    try {
      for await (const chunk of req) {
        text += chunk;
        if (text.length > MAX_BODY) return send(413, { error: { code: "too_large", message: "request body too large" } });
      }
    } catch {
      return;
    }
    let body: z.infer<typeof requestSchema>;
    try {
      body = requestSchema.parse(JSON.parse(text));
    } catch {
      return send(400, { error: { code: "invalid_request", message: "expected JSON {protocol, host, path?}" } });
    }
    const cred = await this.get(sessionId, body);
    if (!cred) return send(204);
    send(200, { username: cred.username, password: cred.password, ...(cred.expiresAt !== undefined ? { expiresAt: cred.expiresAt } : {}) });
  }
}

// --- the command source ---------------------------------------------------------------

/** git's credential description, as a command source gets it on stdin. */
function gitDescription(req: GitCredentialRequest): string {
  return `protocol=${req.protocol}\nhost=${req.host}\n${req.path ? `path=${req.path}\n` : ""}\n`;
}

/** Runs a command source without a shell; its stderr is dropped (it could hold the secret). */
export function runCommand(argv: string[], timeoutMs: number, stdin: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "pipe", "ignore"] });
    let out = "";
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) {
        child.kill("SIGKILL");
        reject(err);
      } else resolve(out);
    };
    const timer = setTimeout(() => finish(new Error(`command ${argv[0]} did not finish within ${timeoutMs} ms`)), timeoutMs);
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (d: string) => {
      out += d;
      if (out.length > MAX_COMMAND_OUTPUT) finish(new Error(`command ${argv[0]} printed more than ${MAX_COMMAND_OUTPUT} bytes`));
    });
    child.stdin.on("error", () => {}); // a command that ignores stdin may close it early
    child.stdin.end(stdin);
    child.once("error", (e: NodeJS.ErrnoException) => finish(new Error(`command ${argv[0]} could not run: ${e.code ?? e.message}`)));
    child.once("close", (code, signal) => {
      if (code === 0) finish();
      else finish(new Error(`command ${argv[0]} ${signal ? `was killed by ${signal}` : `exited with code ${code}`}`));
    });
  });
}

/**
 * A command's stdout: git-credential `key=value` lines (password=, optional username= and
 * password_expiry_utc=), or a single line that is the token itself.
 */
export function parseCommandOutput(out: string): { password: string; username?: string; expiresAt?: number } {
  const lines = out.split(/\r?\n/).filter((l) => l.trim() !== "");
  if (lines.some((l) => l.startsWith("password="))) {
    const kv = new Map<string, string>();
    for (const l of lines) {
      const i = l.indexOf("=");
      if (i > 0) kv.set(l.slice(0, i), l.slice(i + 1));
    }
    const exp = Number(kv.get("password_expiry_utc"));
    return {
      password: kv.get("password")!,
      ...(kv.get("username") ? { username: kv.get("username") } : {}),
      ...(Number.isFinite(exp) && exp > 0 ? { expiresAt: exp * 1000 } : {}),
    };
  }
  if (lines.length !== 1) throw new Error(`the command printed ${lines.length} lines; expected one token, or git-credential lines with password=`);
  return { password: lines[0]!.trim() };
}
