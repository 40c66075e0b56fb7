import { chmodSync, rmSync } from "node:fs";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { familyOf, FAMILY_PREFIX, type ApiFamily, type ModelApi } from "../wire/apis.js";
import type { ModelPrice } from "../wire/usage/cost.js";
import { newSecret } from "../util/ids.js";
import type { Redactor } from "../secrets/redact.js";
import type { Metrics } from "../telemetry/metrics.js";
import type { Tracing } from "../telemetry/tracing.js";
import { CallMeter, type CallUsage, type ModelCallRecord } from "./meter.js";
import { readRequest } from "./request-body.js";
import { allowedCall, isRefusal, nonCanonical, type AllowedCall, type RouteRefusal } from "./routes.js";

/** Where a session's model traffic goes, with the real credential. Resolved per request. */
export interface Upstream {
  /** Provider id, for events and logs. */
  provider: string;
  api: ModelApi;
  baseUrl: string;
  /** Header that carries the credential, and its value (never logged). */
  auth?: { header: string; value: string };
  headers?: Record<string, string>;
}


export interface GatewayOptions {
  host?: string;
  port?: number;
  socketPath?: string;
  redactor: Redactor;
  tokenTtlMs?: number;
  tracing?: Tracing;
  metrics?: Metrics;
  /** Largest request body forwarded, raw or decoded (413 beyond). */
  maxRequestBytes?: number;
  /** berth's own endpoints for the sandbox under /_berth/ (git credentials), once the session token checks out. */
  internal?(req: IncomingMessage, res: ServerResponse, sessionId: string): Promise<void>;
}

/**
 * What one session's token may do, registered when the token is minted: the gateway knows
 * nothing else of sessions. Its route, and the hooks that price, budget and record its calls.
 */
export interface SessionScope {
  /** Where the session's traffic of one wire family goes, with the real credential; throws when it has none. */
  upstream(family: ApiFamily): Upstream;
  /**
   * Decides on each allowlisted call before it is sent: its model, its budget reservation
   * and its concurrency. Without it every call is admitted, unpriced.
   */
  admit?(call: CallRequest): CallAdmission;
  /** Told of each forwarded call once it ended. */
  onCall?(rec: ModelCallRecord): void;
}

/** The scope's upstream for a session with one route: its wire family only. */
export function singleRoute(upstream: Upstream): SessionScope["upstream"] {
  return (family) => {
    if (familyOf(upstream.api) !== family) throw new Error(`the session's provider ${upstream.provider} does not speak the ${family} API family`);
    return upstream;
  };
}

/** A model call the gateway is about to send, as the session's scope sees it. */
export interface CallRequest {
  family: ApiFamily;
  /** `generate` calls spend budget; `count` (token counting) calls do not. */
  kind: AllowedCall["kind"];
  /** The model the request names (body `model`, or the Gemini path); undefined when it names none. */
  model?: string;
  /** The call's maximum: an input estimate from the request size and its output cap (or a default), in tokens. */
  inputTokens: number;
  outputTokens: number;
}


export type CallAdmission =
  | { ok: true; price?: ModelPrice; settle(usage: CallUsage | undefined): void }
  | { ok: false; status: number; code: string; message: string; retryAfterSeconds?: number };

/** Reserved for a call that sets no output cap (OpenAI's is optional). */
export const DEFAULT_OUTPUT_RESERVATION = 32_000;
export type { CallUsage, ModelCallRecord };
const DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024;

const PREFIX = FAMILY_PREFIX;

// Hop-by-hop and credential headers never cross the gateway in either direction.
const DROP_REQ = new Set([
  "host", "connection", "keep-alive", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade",
  // The body is read whole before it is sent on: its length is known, and nothing waits for a 100.
  "expect", "content-length",
  "authorization", "x-api-key", "api-key", "x-goog-api-key",
]);
const DROP_RES = new Set(["connection", "keep-alive", "transfer-encoding"]);

/** The scope of a pooled sandbox's token before its claim: nothing at all. */
const UNBOUND: SessionScope = {
  upstream: () => {
    throw new Error("unbound token");
  },
};

/** An authenticated request's session and what it may do. */
interface ScopedToken {
  sessionId: string;
  scope: SessionScope;
}

interface TokenEntry {
  sessionId: string;
  expiresAt: number;
}

/**
 * The model gateway (docs/design.md, decision 4): harnesses get a per-session token and this
 * gateway's URL; the gateway forwards only allowlisted calls (routes.ts), reads each
 * request whole (a small JSON: its model and output cap) for its session's admission,
 * swaps the token for the real credential and streams the response back without
 * buffering. What each token may do is the SessionScope registered when it was minted.
 */
export class ModelGateway {
  private servers: http.Server[] = [];
  private tokens = new Map<string, TokenEntry>();
  private scopes = new Map<string, SessionScope>();
  private forgetSecret = new Map<string, () => void>();
  url = "";
  port = 0;

  constructor(private opts: GatewayOptions) {}

  private listen(...args: [number, string] | [string]): Promise<http.Server> {
    const server = http.createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 30_000;
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(...(args as [number, string]), () => resolve(server));
    });
  }

  /**
   * Listens on loopback (T0 and tests) and, with `socketPath`, on a unix socket: isolated
   * sandboxes reach the gateway only through that socket (see sandboxes/relay.ts).
   */
  async start(): Promise<void> {
    const tcp = await this.listen(this.opts.port ?? 0, this.opts.host ?? "127.0.0.1");
    const a = tcp.address() as AddressInfo;
    this.port = a.port;
    this.url = `http://${a.address}:${a.port}`;
    if (this.opts.socketPath) {
      rmSync(this.opts.socketPath, { force: true });
      await this.listen(this.opts.socketPath);
      // The token authenticates; the agent's uid (1000) must be able to connect.
      chmodSync(this.opts.socketPath, 0o666);
    }
  }

  get socketPath(): string | undefined {
    return this.opts.socketPath;
  }

  async close(): Promise<void> {
    await Promise.all(
      this.servers.map((s) => {
        s.closeAllConnections();
        return new Promise<void>((r) => s.close(() => r()));
      }),
    );
  }

  /** The base URL a harness speaking `api` should use. */
  baseUrl(api: ModelApi): string {
    return this.url + PREFIX[familyOf(api)];
  }

  /**
   * A token for the session's sandbox, registering what the session may do; without a
   * scope, another token of a session already registered (its scope unchanged).
   */
  mint(sessionId: string, scope?: SessionScope): string {
    if (scope) this.scopes.set(sessionId, scope);
    else if (!this.scopes.has(sessionId)) throw new Error(`session ${sessionId} has no gateway scope; mint its first token with one`);
    const token = newSecret("bgt_");
    this.tokens.set(token, { sessionId, expiresAt: Date.now() + (this.opts.tokenTtlMs ?? 7 * 24 * 3600_000) });
    this.forgetSecret.set(token, this.opts.redactor.add(token));
    return token;
  }

  /**
   * A token for a pooled sandbox (sessions/pool.ts): it names no session and has no scope,
   * so the gateway refuses it (401) until `bind` gives it a session's.
   */
  mintUnbound(holder: string): string {
    this.scopes.delete(holder);
    return this.mint(holder, UNBOUND);
  }

  /** Binds the holder's tokens to a session and what it may do: from here on they are the session's. */
  bind(holder: string, sessionId: string, scope: SessionScope): void {
    this.scopes.delete(holder);
    this.scopes.set(sessionId, scope);
    for (const e of this.tokens.values()) if (e.sessionId === holder) e.sessionId = sessionId;
  }

  /** The session's live tokens (to scrub them from files copied out of its sandbox). */
  tokensOf(sessionId: string): string[] {
    return [...this.tokens].filter(([, e]) => e.sessionId === sessionId).map(([t]) => t);
  }

  revoke(sessionId: string): void {
    this.scopes.delete(sessionId);
    for (const [t, e] of this.tokens) {
      if (e.sessionId !== sessionId) continue;
      this.tokens.delete(t);
      this.forgetSecret.get(t)?.();
      this.forgetSecret.delete(t);
    }
  }

  private authenticate(req: IncomingMessage): ScopedToken | undefined {
    // Anthropic SDKs send x-api-key, OpenAI's a bearer token, Google's x-goog-api-key.
    const raw =
      (req.headers["x-api-key"] as string | undefined) ??
      (req.headers["x-goog-api-key"] as string | undefined) ??
      bearer(req.headers.authorization);
    if (!raw) return undefined;
    // A hash-map lookup: its timing depends on the hash, not on how much of a guess matched.
    const entry = this.tokens.get(raw);
    const scope = entry && this.scopes.get(entry.sessionId);
    if (!entry || !scope || scope === UNBOUND || entry.expiresAt < Date.now()) return undefined;
    return { sessionId: entry.sessionId, scope };
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? "/";
    // Before routing, and before anything decodes or normalises the target: nothing in it
    // may climb above a provider's base URL or from a provider prefix into /_berth/.
    const bad = nonCanonical(url);
    if (bad) return refuse(req, res, bad);
    const family = (Object.keys(PREFIX) as ApiFamily[]).find((f) => url.startsWith(PREFIX[f] + "/"));
    const internal = url.startsWith("/_berth/") ? this.opts.internal : undefined;
    if (!family && !internal) return refuse(req, res, { status: 404, code: "not_found", message: "unknown gateway route" });
    const entry = this.authenticate(req);
    if (!entry) return refuse(req, res, { status: 401, code: "authentication_error", message: "invalid or expired berth gateway token" });
    if (!family) return void internal!(req, res, entry.sessionId).catch(() => res.destroy());
    const call = allowedCall(family, req.method ?? "GET", url.slice(PREFIX[family].length));
    if (isRefusal(call)) return refuse(req, res, call);
    let upstream: Upstream;
    try {
      upstream = entry.scope.upstream(family);
    } catch (e) {
      return refuse(req, res, { status: 502, code: "upstream_unavailable", message: this.opts.redactor.redact(String((e as Error).message)) });
    }
    this.forward(req, res, entry, family, call, upstream).catch((e) => {
      if (res.headersSent) return void res.destroy();
      jsonError(res, 400, "request_failed", this.opts.redactor.redact(`the gateway could not read the request: ${(e as Error).message}`));
    });
  }

  private async forward(req: IncomingMessage, res: ServerResponse, { sessionId, scope }: ScopedToken, family: ApiFamily, call: AllowedCall, upstream: Upstream): Promise<void> {
    const body = await readRequest(req, this.opts.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES);
    if (isRefusal(body)) return refuse(req, res, body);
    const { tracing, metrics } = this.opts;
    // The allowlisted path is plain segments: appended to the base URL's path it stays below it.
    const target = new URL(upstream.baseUrl);
    target.pathname = target.pathname.replace(/\/$/, "") + call.path;
    target.search = call.query;
    const model = call.pathModel ?? body.model;
    // 402: SDKs retry 408/409/429/5xx, and a spent budget is not worth retrying; 429 (a full
    // concurrency cap, or budget held by calls in flight) is. The provider never sees either.
    const admission: CallAdmission = scope.admit?.({
      family,
      kind: call.kind,
      ...(model ? { model } : {}),
      inputTokens: call.kind === "generate" ? body.decodedBytes : 0,
      outputTokens: call.kind === "generate" ? (body.maxOutputTokens ?? DEFAULT_OUTPUT_RESERVATION) : 0,
    }) ?? { ok: true, settle() {} };
    if (!admission.ok) {
      metrics?.recordModelCall({ provider: upstream.provider, status: admission.status });
      const retry = admission.retryAfterSeconds !== undefined ? { "retry-after": String(admission.retryAfterSeconds) } : undefined;
      return jsonError(res, admission.status, admission.code, admission.message, retry);
    }
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !DROP_REQ.has(k)) headers[k] = v;
    headers["content-length"] = String(body.raw.length);
    for (const [k, v] of Object.entries(upstream.headers ?? {})) {
      // Beta flags are a list: add the provider's to the harness's own, don't replace them.
      const prev = headers[k];
      headers[k] = k === "anthropic-beta" && typeof prev === "string" && prev ? `${prev},${v}` : v;
    }
    if (upstream.auth) headers[upstream.auth.header] = upstream.auth.value;
    // Model calls (not token counting) are traced and their usage read from the response
    // as it streams; a compressed response could not be read that way.
    const api = call.kind === "generate" ? call.api : undefined;
    if (api) headers["accept-encoding"] = "identity";
    const meter = new CallMeter(
      { sessionId, provider: upstream.provider, method: req.method ?? "POST", target, api, model, stream: body.stream, price: admission.price },
      { redactor: this.opts.redactor, tracing, metrics, onCall: scope.onCall, settle: admission.settle },
    );
    const record = (status: number, error?: string) => meter.end(status, error);
    let responded = false;
    const lib = target.protocol === "https:" ? https : http;
    const up = lib.request(target, { method: req.method, headers }, (ures) => {
      responded = true;
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(ures.headers)) if (v !== undefined && !DROP_RES.has(k)) out[k] = v;
      res.writeHead(ures.statusCode ?? 502, out);
      // The headers leave with the first body chunk when it is already here (one write, one
      // packet), and on their own otherwise, so a slow first token never holds them back.
      setImmediate(() => {
        if (!res.headersSent && !res.destroyed) res.flushHeaders();
      });
      const status = ures.statusCode ?? 502;
      const readUsage = meter.responded(ures.headers);
      if (readUsage) ures.on("data", readUsage);
      // An error body is small: keep its start to report the upstream's own message.
      let errBody = "";
      if (status >= 400) ures.on("data", (d: Buffer) => (errBody = (errBody + d.toString("utf8")).slice(0, 4096)));
      ures.pipe(res);
      ures.once("end", () => record(status, status >= 400 ? upstreamMessage(errBody) : undefined));
      ures.once("error", (e) => record(status, e.message));
      ures.once("close", () => record(status, "the response ended before it was complete (client or upstream went away)"));
    });
    up.setNoDelay(true);
    up.once("error", (e) => {
      record(502, e.message);
      if (!res.headersSent) jsonError(res, 502, "upstream_unreachable", `model upstream ${upstream.provider} unreachable: ${e.message}`);
      else res.destroy();
    });
    up.once("close", () => {
      if (!responded) record(502, "the upstream connection closed before a response");
    });
    up.end(body.raw);
    res.once("close", () => {
      if (!res.writableFinished) up.destroy();
    });
  }
}

/** The message of an Anthropic/OpenAI-shaped error body, else its first line. */
function upstreamMessage(body: string): string {
  try {
    const j = JSON.parse(body);
    const m = j?.error?.message ?? j?.message;
    if (typeof m === "string") return m;
  } catch {
    /* not JSON */
  }
  return body.split("\n")[0]!.slice(0, 300) || "(empty body)";
}

function bearer(h: string | undefined): string | undefined {
  const m = h && /^Bearer\s+(.+)$/i.exec(h);
  return m ? m[1]!.trim() : undefined;
}

/** The Anthropic error shape (which the OpenAI SDK reads too), with berth's machine-readable `code`. */
function jsonError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify({ type: "error", error: { type: code, code, message } }));
}

/** Refuses before the body is read: the rest of it is drained, not forwarded. */
function refuse(req: IncomingMessage, res: ServerResponse, r: RouteRefusal): void {
  req.resume();
  jsonError(res, r.status, r.code, r.message, r.allow ? { allow: r.allow } : {});
}
