import { chmodSync, rmSync } from "node:fs";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import type { ModelApi } from "../harnesses/types.js";
import { newSecret } from "../util/ids.js";
import type { Redactor } from "../secrets/redact.js";
import type { Metrics } from "../telemetry/metrics.js";
import type { Tracing } from "../telemetry/tracing.js";
import { apiForPath, computeCost, createRequestTap, createUsageTap, modelFromPath, type ModelPrice, type ModelUsage, type UsageTap } from "../telemetry/usage.js";
import { familyOf, type ApiFamily } from "./upstream.js";

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

export interface ModelCallRecord {
  sessionId: string;
  provider: string;
  method: string;
  path: string;
  status: number;
  durationMs: number;
  error?: string;
  /** The model the request named (body `model`, or the Gemini path). */
  model?: string;
  responseModel?: string;
  /** Token usage the response reported (absent when it reported none). */
  usage?: Pick<ModelUsage, "inputTokens" | "outputTokens" | "cacheReadTokens" | "cacheWriteTokens" | "reasoningTokens">;
  finishReasons?: string[];
  costUsd?: number;
  ttfbMs?: number;
}

export interface GatewayOptions {
  host?: string;
  port?: number;
  socketPath?: string;
  redactor: Redactor;
  /** The upstream for a session's traffic of one wire family; throws if there is none. */
  resolve(sessionId: string, family: ApiFamily): Upstream;
  onCall?(rec: ModelCallRecord): void;
  tokenTtlMs?: number;
  tracing?: Tracing;
  metrics?: Metrics;
  /** A reason to refuse a session's model call before it is sent (a spent budget), if any. */
  refuse?(sessionId: string): string | undefined;
  /** USD per Mtok for a model a session's call names, if the registry has a price. */
  price?(sessionId: string, model: string | undefined): ModelPrice | undefined;
  /** berth's own endpoints for the sandbox under /_berth/ (git credentials), once the session token checks out. */
  internal?(req: IncomingMessage, res: ServerResponse, sessionId: string): Promise<void>;
}

const PREFIX: Record<ApiFamily, string> = { anthropic: "/anthropic", openai: "/openai", google: "/google" };

// Hop-by-hop and credential headers never cross the gateway in either direction.
const DROP_REQ = new Set([
  "host", "connection", "keep-alive", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade",
  "authorization", "x-api-key", "api-key", "x-goog-api-key",
]);
const DROP_RES = new Set(["connection", "keep-alive", "transfer-encoding"]);

interface TokenEntry {
  sessionId: string;
  expiresAt: number;
}

/**
 * The model gateway (DESIGN.md decision 4): harnesses get a per-session token and this
 * gateway's URL; the gateway swaps the token for the real credential and streams to the
 * upstream without buffering. Provider routing, usage and tracing slot in via resolve()
 * and onCall().
 */
export class ModelGateway {
  private servers: http.Server[] = [];
  private tokens = new Map<string, TokenEntry>();
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

  mint(sessionId: string): string {
    const token = newSecret("bgt_");
    this.tokens.set(token, { sessionId, expiresAt: Date.now() + (this.opts.tokenTtlMs ?? 7 * 24 * 3600_000) });
    this.forgetSecret.set(token, this.opts.redactor.add(token));
    return token;
  }

  revoke(sessionId: string): void {
    for (const [t, e] of this.tokens) {
      if (e.sessionId !== sessionId) continue;
      this.tokens.delete(t);
      this.forgetSecret.get(t)?.();
      this.forgetSecret.delete(t);
    }
  }

  private authenticate(req: IncomingMessage): TokenEntry | undefined {
    // Anthropic SDKs send x-api-key, OpenAI's a bearer token, Google's x-goog-api-key.
    const raw =
      (req.headers["x-api-key"] as string | undefined) ??
      (req.headers["x-goog-api-key"] as string | undefined) ??
      bearer(req.headers.authorization);
    if (!raw) return undefined;
    // A hash-map lookup: its timing depends on the hash, not on how much of a guess matched.
    const entry = this.tokens.get(raw);
    if (!entry || entry.expiresAt < Date.now()) return undefined;
    return entry;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? "/";
    const family = (Object.keys(PREFIX) as ApiFamily[]).find((f) => url.startsWith(PREFIX[f] + "/"));
    const internal = url.startsWith("/_berth/") ? this.opts.internal : undefined;
    if (!family && !internal) return jsonError(res, 404, "not_found", "unknown gateway route");
    const entry = this.authenticate(req);
    if (!entry) return jsonError(res, 401, "authentication_error", "invalid or expired berth gateway token");
    if (!family) return void internal!(req, res, entry.sessionId).catch(() => res.destroy());
    let upstream: Upstream;
    try {
      upstream = this.opts.resolve(entry.sessionId, family);
    } catch (e) {
      return jsonError(res, 502, "upstream_unavailable", this.opts.redactor.redact(String((e as Error).message)));
    }
    // 402: SDKs retry 408/409/429/5xx, and a spent budget is not worth retrying. Counted in
    // berth_model_calls_total{status="402"}; the provider never sees the call.
    const refusal = this.opts.refuse?.(entry.sessionId);
    if (refusal) {
      this.opts.metrics?.recordModelCall({ provider: upstream.provider, status: 402 });
      return jsonError(res, 402, "budget_exceeded", refusal);
    }
    const rest = url.slice(PREFIX[family].length);
    const target = new URL(upstream.baseUrl.replace(/\/$/, "") + rest);
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !DROP_REQ.has(k)) headers[k] = v;
    for (const [k, v] of Object.entries(upstream.headers ?? {})) {
      // Beta flags are a list: add the provider's to the harness's own, don't replace them.
      const prev = headers[k];
      headers[k] = k === "anthropic-beta" && typeof prev === "string" && prev ? `${prev},${v}` : v;
    }
    if (upstream.auth) headers[upstream.auth.header] = upstream.auth.value;
    // Model calls (not token counting, not model listings) are traced and their usage read
    // from the response as it streams; a compressed response could not be read that way.
    const api = apiForPath(target.pathname);
    if (api) headers["accept-encoding"] = "identity";
    const reqTap = api ? createRequestTap(headerValue(req.headers["content-encoding"])) : undefined;
    if (reqTap) req.on("data", (c: Buffer) => reqTap.write(c));
    const { tracing, metrics } = this.opts;
    const span =
      api && tracing?.enabled
        ? tracing.startChatSpan(undefined, { provider: upstream.provider, api, sessionId: entry.sessionId, serverUrl: target, requestModel: modelFromPath(target.pathname) })
        : undefined;
    let usageTap: UsageTap | undefined;
    let ttfbMs: number | undefined;
    let recorded = false;
    const started = Date.now();
    const record = (status: number, error?: string) => {
      if (recorded) return; // "end" and "error" can both fire
      recorded = true;
      const durationMs = Date.now() - started;
      const u = usageTap?.end();
      const info = reqTap?.end() ?? {};
      const model = info.model ?? modelFromPath(target.pathname);
      const usage = u?.reported ? u : undefined;
      const costUsd = usage ? computeCost(usage, this.opts.price?.(entry.sessionId, model ?? u?.responseModel)) : undefined;
      const err = error ? this.opts.redactor.redact(error) : u?.streamError ? `error in the response stream: ${u.streamError}` : undefined;
      if (span)
        tracing!.endChatSpan(span, {
          status,
          requestModel: model,
          stream: info.stream,
          responseModel: u?.responseModel,
          responseId: u?.responseId,
          usage,
          finishReasons: u?.finishReasons,
          error: err,
          errorType: !error && u?.streamError ? u.streamError : undefined,
          timeToFirstChunkMs: ttfbMs,
          costUsd,
        });
      if (api) metrics?.recordModelCall({ provider: upstream.provider, status, usage, costUsd, ttfbMs, totalMs: durationMs });
      this.opts.onCall?.({
        sessionId: entry.sessionId,
        provider: upstream.provider,
        method: req.method ?? "GET",
        path: target.pathname,
        status,
        durationMs,
        error: err,
        ...(model ? { model } : {}),
        ...(u?.responseModel ? { responseModel: u.responseModel } : {}),
        ...(usage
          ? {
              usage: {
                inputTokens: usage.inputTokens,
                outputTokens: usage.outputTokens,
                cacheReadTokens: usage.cacheReadTokens,
                cacheWriteTokens: usage.cacheWriteTokens,
                ...(usage.reasoningTokens !== undefined ? { reasoningTokens: usage.reasoningTokens } : {}),
              },
            }
          : {}),
        ...(u?.finishReasons ? { finishReasons: u.finishReasons } : {}),
        ...(costUsd !== undefined ? { costUsd } : {}),
        ...(ttfbMs !== undefined ? { ttfbMs } : {}),
      });
    };
    const lib = target.protocol === "https:" ? https : http;
    const up = lib.request(target, { method: req.method, headers }, (ures) => {
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(ures.headers)) if (v !== undefined && !DROP_RES.has(k)) out[k] = v;
      res.writeHead(ures.statusCode ?? 502, out);
      // The headers leave with the first body chunk when it is already here (one write, one
      // packet), and on their own otherwise, so a slow first token never holds them back.
      setImmediate(() => {
        if (!res.headersSent && !res.destroyed) res.flushHeaders();
      });
      const status = ures.statusCode ?? 502;
      ttfbMs = Date.now() - started;
      if (api) {
        const tap = createUsageTap(api, headerValue(ures.headers["content-type"]), headerValue(ures.headers["content-encoding"]));
        usageTap = tap;
        ures.on("data", (d: Buffer) => tap.write(d));
      }
      // An error body is small: keep its start to report the upstream's own message.
      let errBody = "";
      if (status >= 400) ures.on("data", (d: Buffer) => (errBody = (errBody + d.toString("utf8")).slice(0, 4096)));
      ures.pipe(res);
      ures.once("end", () => record(status, status >= 400 ? upstreamMessage(errBody) : undefined));
      ures.once("error", (e) => record(ures.statusCode ?? 502, e.message));
    });
    up.setNoDelay(true);
    up.once("error", (e) => {
      record(502, e.message);
      if (!res.headersSent) jsonError(res, 502, "upstream_unreachable", `model upstream ${upstream.provider} unreachable: ${e.message}`);
      else res.destroy();
    });
    req.pipe(up);
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

function headerValue(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h[0] : h;
}

function bearer(h: string | undefined): string | undefined {
  const m = h && /^Bearer\s+(.+)$/i.exec(h);
  return m ? m[1]!.trim() : undefined;
}

function jsonError(res: ServerResponse, status: number, type: string, message: string): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ type: "error", error: { type, message } }));
}
