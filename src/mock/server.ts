import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import zlib from "node:zlib";
import { anthropicFormat, countTokens } from "./anthropic.js";
import { geminiCountTokens, geminiErrorBody, geminiFormat, geminiStreamFormat, parseGeminiPath } from "./gemini.js";
import { openaiChatFormat } from "./openai-chat.js";
import { openaiResponsesFormat } from "./openai-responses.js";
import {
  DEFAULT_MOCK_SCRIPT,
  DEFAULT_MODEL,
  FINISHED_TEXT,
  SIDE_REQUEST_TEXT,
  resolveToolName,
  selectStep,
  stepToolCalls,
  validateMockScript,
  type MockScript,
} from "./script.js";
import { estimateUsage, isRecord, sseFrame, type ApiKind, type Reply, type WireFormat } from "./wire.js";

export interface MockLogger {
  info(o: object, msg?: string): void;
  warn?(o: object, msg?: string): void;
  error?(o: object, msg?: string): void;
}

export interface MockProviderOptions {
  script?: MockScript;
  /** Default 127.0.0.1: the mock is for loopback use. */
  host?: string;
  /** Default 0 (an ephemeral port). */
  port?: number;
  /** When set, API requests must present exactly this key (x-api-key or Authorization: Bearer). */
  requireKey?: string;
  logger?: MockLogger;
}

export interface RecordedRequest {
  time: string;
  method: string;
  /** Path without the query string. */
  path: string;
  api: ApiKind | "models" | null;
  model: string | null;
  stream: boolean;
  /** Script step answered (steps.length when the script is finished); null when no step applies. */
  stepIndex: number | null;
  toolResults: number | null;
  /** null when no key is required. */
  authOk: boolean | null;
  /** Tool names the request offered. */
  tools: string[];
  status: number;
  reply: "text" | "tool_calls" | "error" | "side" | "finished" | null;
  /** Request headers with credentials replaced by [REDACTED]. */
  headers: Record<string, string>;
  durationMs: number | null;
  /** The client went away before the response was complete. */
  aborted: boolean;
}

export interface MockProvider {
  url: string;
  port: number;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 64 * 1024 * 1024;
const REDACTED = "[REDACTED]";
const CREDENTIAL_HEADER = /authorization|cookie|token|key|secret|password|auth/i;

export function redactHeaders(headers: IncomingMessage["headers"]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name] = CREDENTIAL_HEADER.test(name) ? REDACTED : Array.isArray(value) ? value.join(", ") : value;
  }
  return out;
}

type Route =
  | { kind: "health" }
  | { kind: "inspect" }
  | { kind: "models"; id?: string }
  | { kind: "api"; format: WireFormat; model?: string }
  | { kind: "count_tokens"; api: "anthropic" | "gemini"; model?: string }
  | { kind: "not_found" };

const ALLOWED: Record<Route["kind"], string> = {
  health: "GET",
  inspect: "GET, DELETE",
  models: "GET",
  api: "POST",
  count_tokens: "POST",
  not_found: "",
};

/** Clients disagree on whether the base URL ends in /v1, so both spellings route the same. */
function route(pathname: string): Route {
  let p = pathname.replace(/\/+$/, "") || "/";
  if (p === "/health") return { kind: "health" };
  if (p === "/_mock/requests") return { kind: "inspect" };
  // Gemini: the model and the method are in the path.
  const g = parseGeminiPath(p);
  if (g?.method === "generateContent") return { kind: "api", format: geminiFormat, model: g.model };
  if (g?.method === "streamGenerateContent") return { kind: "api", format: geminiStreamFormat, model: g.model };
  if (g?.method === "countTokens") return { kind: "count_tokens", api: "gemini", model: g.model };
  if (p === "/v1" || p.startsWith("/v1/")) p = p.slice(3) || "/";
  switch (p) {
    case "/messages":
      return { kind: "api", format: anthropicFormat };
    case "/messages/count_tokens":
      return { kind: "count_tokens", api: "anthropic" };
    case "/chat/completions":
      return { kind: "api", format: openaiChatFormat };
    case "/responses":
      return { kind: "api", format: openaiResponsesFormat };
    case "/models":
      return { kind: "models" };
  }
  if (p.startsWith("/models/")) return { kind: "models", id: decodeURIComponent(p.slice("/models/".length)) };
  return { kind: "not_found" };
}

/** Readable by both SDK families: Anthropic looks at error.type, OpenAI at error.message/code. */
function neutralError(message: string, type: string) {
  return { type: "error", error: { type, message, param: null, code: null } };
}

function digest(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

function checkKey(req: IncomingMessage, key: string): boolean {
  const want = digest(key);
  const candidates: string[] = [];
  for (const h of ["x-api-key", "x-goog-api-key"]) {
    const v = req.headers[h];
    if (typeof v === "string") candidates.push(v);
  }
  const auth = req.headers.authorization;
  if (typeof auth === "string" && /^bearer /i.test(auth)) candidates.push(auth.slice(7).trim());
  // Compare digests so length and content never leak through timing.
  return candidates.some((c) => timingSafeEqual(digest(c), want));
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `request body exceeds ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  const raw = Buffer.concat(chunks);
  const encoding = String(req.headers["content-encoding"] ?? "identity").toLowerCase();
  try {
    switch (encoding) {
      case "identity":
        return raw;
      case "gzip":
      case "x-gzip":
        return zlib.gunzipSync(raw);
      case "deflate":
        return zlib.inflateSync(raw);
      case "br":
        return zlib.brotliDecompressSync(raw);
      case "zstd": {
        // Codex may zstd-compress request bodies; Node only decodes zstd from 22.15 on.
        const zstd = (zlib as unknown as { zstdDecompressSync?: (b: Buffer) => Buffer }).zstdDecompressSync;
        if (zstd) return zstd(raw);
        break;
      }
    }
  } catch {
    throw new HttpError(400, `request body is not valid ${encoding} data`);
  }
  throw new HttpError(415, `unsupported content-encoding: ${encoding}`);
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

/** Resolves after `ms`, or as soon as the client has gone away. */
function pause(res: ServerResponse, ms: number): Promise<void> {
  if (ms <= 0 || res.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      res.off("close", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    res.once("close", done);
  });
}

/** Writes with backpressure; a closed connection just ends the wait. */
function write(res: ServerResponse, chunk: string): Promise<void> {
  if (res.destroyed || res.writableEnded) return Promise.resolve();
  if (res.write(chunk)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

export async function startMockProvider(opts: MockProviderOptions = {}): Promise<MockProvider> {
  // Scripts built in code get the same validation as files.
  const script = validateMockScript(opts.script ?? DEFAULT_MOCK_SCRIPT, "(options.script)");
  const host = opts.host ?? "127.0.0.1";
  const logger = opts.logger;
  const requireKey = opts.requireKey;
  const models = script.models ?? [DEFAULT_MODEL];
  const requests: RecordedRequest[] = [];
  const errorServed = new Map<number, number>();
  let responseSeq = 0;

  function modelEntry(id: string) {
    // One object both SDK families accept (OpenAI's Model and Anthropic's ModelInfo).
    return {
      id,
      object: "model",
      type: "model",
      created: 0,
      created_at: "1970-01-01T00:00:00Z",
      owned_by: "berth-mock",
      display_name: id,
    };
  }

  async function handleApi(
    req: IncomingMessage,
    res: ServerResponse,
    rec: RecordedRequest,
    format: WireFormat | null,
    countApi: "anthropic" | "gemini" = "anthropic",
  ): Promise<void> {
    const fmt = format ?? (countApi === "gemini" ? geminiFormat : anthropicFormat);
    const fail = (status: number, message: string, type?: string, code?: string, headers?: Record<string, string>) => {
      rec.status = status;
      sendJson(res, status, fmt.errorBody(status, message, type, code), headers);
    };

    let body: Record<string, any>;
    try {
      const raw = await readBody(req);
      const parsed: unknown = JSON.parse(raw.toString("utf8"));
      if (!isRecord(parsed)) throw new HttpError(400, "request body must be a JSON object");
      body = parsed;
    } catch (err) {
      if (err instanceof HttpError) return fail(err.status, err.message);
      return fail(400, `request body is not valid JSON: ${(err as Error).message}`);
    }

    if (typeof body.model === "string") rec.model = body.model;
    if (!format) {
      rec.status = 200;
      return sendJson(res, 200, countApi === "gemini" ? geminiCountTokens(body) : countTokens(body));
    }

    const offered = format.offeredTools(body);
    const offeredNames = offered.map((t) => t.name);
    const toolResults = format.toolResultCount(body);
    const stream = format.isStream(body);
    rec.stream = stream;
    rec.tools = offeredNames;
    rec.toolResults = toolResults;

    const selection = selectStep(script, toolResults, offered.length > 0, errorServed);
    rec.stepIndex = selection.index;
    const step = selection.kind === "step" ? selection.step : undefined;

    if (step?.delay_ms) await pause(res, step.delay_ms);
    if (res.destroyed) return;

    if (step?.error) {
      const e = step.error;
      if (e.times !== undefined) errorServed.set(selection.index, (errorServed.get(selection.index) ?? 0) + 1);
      rec.reply = "error";
      const headers: Record<string, string> = {};
      if (e.retry_after !== undefined) {
        headers["retry-after"] = String(e.retry_after);
        headers["retry-after-ms"] = String(Math.round(e.retry_after * 1000));
      }
      return fail(e.status, e.message, e.type, e.code, headers);
    }

    const reply: Reply = { stepIndex: selection.index, toolCalls: [] };
    if (selection.kind === "side") {
      reply.text = SIDE_REQUEST_TEXT;
      rec.reply = "side";
    } else if (selection.kind === "finished") {
      reply.text = FINISHED_TEXT;
      rec.reply = "finished";
    } else if (step) {
      reply.text = step.text;
      reply.thinking = step.thinking;
      reply.toolCalls = stepToolCalls(step).map((call) => {
        const name = resolveToolName(call.name, offeredNames);
        return { name, input: call.input ?? {}, toolType: offered.find((t) => t.name === name)?.type };
      });
      rec.reply = reply.toolCalls.length > 0 ? "tool_calls" : "text";
    }

    const model = rec.model || models[0] || DEFAULT_MODEL;
    const ctx = {
      model,
      responseSeq: ++responseSeq,
      created: Math.floor(Date.now() / 1000),
      usage: estimateUsage(format, body, reply),
      body,
    };
    rec.status = 200;
    const requestId = `req_mock_${String(ctx.responseSeq).padStart(6, "0")}`;

    if (!stream) return sendJson(res, 200, format.json(reply, ctx), { "request-id": requestId, "x-request-id": requestId });

    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      "request-id": requestId,
      "x-request-id": requestId,
    });
    res.flushHeaders();
    const chunkDelay = step?.chunk_delay_ms ?? 0;
    const events = format.events(reply, ctx);
    for (let i = 0; i < events.length; i++) {
      if (res.destroyed) return;
      if (i > 0 && chunkDelay > 0) await pause(res, chunkDelay);
      await write(res, sseFrame(events[i]!));
    }
    if (!res.destroyed) res.end();
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const url = new URL(req.url ?? "/", "http://mock.invalid");
    const r = route(url.pathname);
    const method = req.method ?? "GET";

    const methodAllowed = !ALLOWED[r.kind] || ALLOWED[r.kind].split(", ").includes(method);
    const notAllowed = () => {
      req.resume();
      sendJson(res, 405, neutralError(`method ${method} not allowed`, "invalid_request_error"), {
        allow: ALLOWED[r.kind],
      });
    };
    // Housekeeping endpoints are neither authenticated nor recorded.
    if (r.kind === "health") {
      if (!methodAllowed) return notAllowed();
      return sendJson(res, 200, { ok: true, requests: requests.length });
    }
    if (r.kind === "inspect") {
      if (!methodAllowed) return notAllowed();
      if (method === "DELETE") {
        requests.length = 0;
        errorServed.clear();
        res.writeHead(204).end();
        return;
      }
      return sendJson(res, 200, requests);
    }

    const rec: RecordedRequest = {
      time: new Date(started).toISOString(),
      method,
      path: url.pathname,
      api: r.kind === "api" ? r.format.kind : r.kind === "count_tokens" ? r.api : r.kind === "models" ? "models" : null,
      model: (r.kind === "api" || r.kind === "count_tokens" ? r.model : undefined) ?? null,
      stream: false,
      stepIndex: null,
      toolResults: null,
      authOk: requireKey === undefined ? null : checkKey(req, requireKey),
      tools: [],
      status: 0,
      reply: null,
      headers: redactHeaders(req.headers),
      durationMs: null,
      aborted: false,
    };
    // Recorded up front so the entry exists by the time a client has read the response.
    requests.push(rec);
    res.once("close", () => {
      rec.durationMs = Date.now() - started;
      rec.aborted = !res.writableFinished;
      logger?.info({ mockRequest: rec }, "mock-model request");
    });

    if (!methodAllowed) {
      rec.status = 405;
      return notAllowed();
    }
    if (r.kind === "not_found") {
      req.resume();
      rec.status = 404;
      return sendJson(res, 404, neutralError(`no such endpoint: ${method} ${url.pathname}`, "not_found_error"));
    }
    if (rec.authOk === false) {
      req.resume();
      rec.status = 401;
      const message = "invalid api key (the mock provider requires a specific key)";
      const body =
        r.kind === "api"
          ? r.format.errorBody(401, message)
          : r.kind === "count_tokens"
            ? r.api === "gemini"
              ? geminiErrorBody(401, message)
              : anthropicFormat.errorBody(401, message)
            : neutralError(message, "authentication_error");
      return sendJson(res, 401, body);
    }
    if (r.kind === "models") {
      rec.status = 200;
      if (r.id === undefined) {
        return sendJson(res, 200, {
          object: "list",
          data: models.map(modelEntry),
          has_more: false,
          first_id: models[0] ?? null,
          last_id: models[models.length - 1] ?? null,
        });
      }
      return sendJson(res, 200, modelEntry(r.id));
    }
    return handleApi(req, res, rec, r.kind === "api" ? r.format : null, r.kind === "count_tokens" ? r.api : undefined);
  }

  const server = createServer((req, res) => {
    // A client that disconnects mid-response must not take the server down.
    req.on("error", () => {});
    res.on("error", () => {});
    handle(req, res).catch((err: unknown) => {
      logger?.error?.({ err: { message: (err as Error)?.message } }, "mock-model handler failed");
      if (!res.headersSent) sendJson(res, 500, neutralError("internal mock provider error", "api_error"));
      else res.destroy();
    });
  });
  // Outlive typical client idle timeouts so keep-alive sockets are closed by the client, not raced.
  server.keepAliveTimeout = 30_000;
  server.on("clientError", (_err, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n");
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (err) => logger?.error?.({ err: { message: err.message } }, "mock-model server error"));

  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(":") ? `[${host}]` : host;
  let closing: Promise<void> | undefined;

  return {
    url: `http://${urlHost}:${port}`,
    port,
    requests,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive and streaming sockets would otherwise hold close() open.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
