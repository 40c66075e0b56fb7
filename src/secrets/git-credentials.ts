import { spawn } from "node:child_process";
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import { resolveSecret } from "../providers/secrets.js";
import type { Redactor } from "./redact.js";
import {
  GIT_CREDENTIAL_PATH,
  normalizeGitHost,
  trimSlashes,
  underPrefix,
  type GitCredentialEntry,
  type GitCredentialsConfig,
  type GitSourceKind,
} from "./git-credentials-file.js";

const MAX_COMMAND_OUTPUT = 64 * 1024;
const MAX_BODY = 16 * 1024;

// The git credential service (docs/design.md, decision 4; docs/git-credentials.md). Every
// sandbox has `git-credential-berth` (git-credential-helper.ts) as git's credential
// helper; it asks here, through the model gateway and with the session's gateway token,
// for a credential for one protocol/host/path. berth answers only for a host the
// session's create request allowed (`git.hosts`), from the source the operator's file
// configures for it: a static token (a named secret), a command, or a GitHub App. No
// long-lived token is ever in the sandbox's environment or files; what is issued is
// registered with the redactor, and every decision is reported without any secret.

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
  allowedHosts(sessionId: string): Promise<readonly string[] | undefined>;
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
    const allowed = (await this.opts.allowedHosts(sessionId)) ?? [];
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
