// The operator's git credentials file (docs/git-credentials.md): which hosts and paths get a
// credential, from which source (a named secret, a command, a GitHub App); parsed and
// checked at start so a bad file stops the server.
import { existsSync, readFileSync } from "node:fs";
import { parseDocument } from "yaml";
import { z } from "zod";
import { resolveSecret, SECRET_NAME, secretHowTo } from "../providers/secrets.js";
import { normalizeHost } from "../sandboxes/egress/policy.js";
import { GitHubAppTokens, parsePrivateKey } from "./github-app.js";

export const GIT_CREDENTIALS_SYSTEM_FILE = "/etc/berth/git-credentials.yaml";
export const GIT_CREDENTIAL_PATH = "/_berth/git/credential";
export const DEFAULT_GIT_USERNAME = "x-access-token";
const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;

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

export const trimSlashes = (p: string) => p.replace(/^\/+|\/+$/g, "");

/** Whether `path` is `prefix` or below it, by whole segments ("org" covers "org/repo.git", not "orgx/..."). */
export function underPrefix(path: string, prefix: string): boolean {
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
