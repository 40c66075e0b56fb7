// berth's scripted mock model server: answers the harnesses' model calls from a script, in
// each wire API's shape, and records every request for tests and demos to inspect.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { checkKey, redactHeaders, sendJson } from "./http.js";
import { ScriptedResponder } from "./responder.js";
import type { RecordedRequest } from "./request-log.js";
import { ALLOWED, errorFormat, LOG_LABEL, neutralError, route, type Route } from "./routes.js";

export type { RecordedRequest };
import { DEFAULT_MOCK_SCRIPT, DEFAULT_MODEL, validateMockScript, type MockScript } from "./script.js";

export { redactHeaders };

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


export interface MockProvider {
  url: string;
  port: number;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

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

/** One running mock: routes each request, records it, and lets the responder answer model calls. */
class MockServer {
  readonly requests: RecordedRequest[] = [];

  constructor(
    private models: string[],
    private responder: ScriptedResponder,
    private requireKey: string | undefined,
    private logger: MockLogger | undefined,
  ) {}

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
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
      return sendJson(res, 200, { ok: true, requests: this.requests.length });
    }
    if (r.kind === "inspect") {
      if (!methodAllowed) return notAllowed();
      if (method === "DELETE") {
        this.requests.length = 0;
        this.responder.errorServed.clear();
        res.writeHead(204).end();
        return;
      }
      return sendJson(res, 200, this.requests);
    }

    const rec = this.record(req, res, r, url.pathname, started);
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
      const body = r.kind === "api" ? r.format.errorBody(401, message) : r.kind === "count_tokens" ? errorFormat(r.api).errorBody(401, message) : neutralError(message, "authentication_error");
      return sendJson(res, 401, body);
    }
    if (r.kind === "models") {
      rec.status = 200;
      if (r.id === undefined) {
        const models = this.models;
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
    return this.responder.answer(req, res, rec, r.kind === "api" ? r.format : null, r.kind === "count_tokens" ? r.api : undefined);
  }

  /** Recorded up front so the entry exists by the time a client has read the response. */
  private record(req: IncomingMessage, res: ServerResponse, r: Route, path: string, started: number): RecordedRequest {
    const rec: RecordedRequest = {
      time: new Date(started).toISOString(),
      method: req.method ?? "GET",
      path,
      api: r.kind === "api" || r.kind === "count_tokens" ? LOG_LABEL[r.api] : r.kind === "models" ? "models" : null,
      model: (r.kind === "api" || r.kind === "count_tokens" ? r.model : undefined) ?? null,
      stream: false,
      stepIndex: null,
      toolResults: null,
      authOk: this.requireKey === undefined ? null : checkKey(req, this.requireKey),
      tools: [],
      status: 0,
      reply: null,
      headers: redactHeaders(req.headers),
      durationMs: null,
      aborted: false,
    };
    this.requests.push(rec);
    res.once("close", () => {
      rec.durationMs = Date.now() - started;
      rec.aborted = !res.writableFinished;
      this.logger?.info({ mockRequest: rec }, "mock-model request");
    });
    return rec;
  }
}

export async function startMockProvider(opts: MockProviderOptions = {}): Promise<MockProvider> {
  // Scripts built in code get the same validation as files.
  const script = validateMockScript(opts.script ?? DEFAULT_MOCK_SCRIPT, "(options.script)");
  const host = opts.host ?? "127.0.0.1";
  const logger = opts.logger;
  const models = script.models ?? [DEFAULT_MODEL];
  const mock = new MockServer(models, new ScriptedResponder(script, models), opts.requireKey, logger);

  const server = createServer((req, res) => {
    // A client that disconnects mid-response must not take the server down.
    req.on("error", () => {});
    res.on("error", () => {});
    mock.handle(req, res).catch((err: unknown) => {
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
    requests: mock.requests,
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
