import http from "node:http";
import type { AddressInfo } from "node:net";
import type { HttpLimits } from "./http-limits.js";

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/**
 * The API's socket, open before the API is loaded. `berth serve` listens first (Node, the
 * configuration and this file: ~0.1 s) and loads the server (Fastify, the routes, the
 * store, the gateway: the rest of its start) behind it. Meanwhile `GET /health` (liveness)
 * is answered here, and every other request is held, unread, until the API takes the
 * socket over (`open`), which then answers it: nothing is refused for arriving early, and
 * `/ready` is the API's own. The socket has the API's limits from the start.
 */
export class FrontDoor {
  readonly server: http.Server;
  private handler?: Handler;
  private held: [http.IncomingMessage, http.ServerResponse][] = [];
  private failed = false;

  constructor(
    limits: HttpLimits,
    private readonly hostAllowed: (host: string | undefined) => boolean,
  ) {
    this.server = http.createServer(
      {
        headersTimeout: limits.headersTimeoutMs,
        requestTimeout: limits.requestTimeoutMs,
        keepAliveTimeout: limits.keepAliveTimeoutMs,
        connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(limits.headersTimeoutMs / 2))),
      },
      (req, res) => this.route(req, res),
    );
    this.server.keepAliveTimeout = limits.keepAliveTimeoutMs;
    this.server.requestTimeout = limits.requestTimeoutMs;
    this.server.maxConnections = limits.maxConnections;
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => {
        this.server.off("error", reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** The API takes over: every request held so far, then every new one, goes to it. */
  open(handler: Handler): void {
    this.handler = handler;
    for (const [req, res] of this.held.splice(0)) if (!req.destroyed) handler(req, res);
  }

  /** The API could not start: held requests get a 503, and the process is about to exit. */
  fail(): void {
    this.failed = true;
    for (const [, res] of this.held.splice(0)) unavailable(res);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private route(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.handler) return this.handler(req, res);
    if (this.failed) return unavailable(res);
    // A host the API would refuse is held for the API to refuse (421) in its own words.
    if ((req.method === "GET" || req.method === "HEAD") && req.url === "/health" && this.hostAllowed(req.headers.host)) {
      res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
      return void res.end(req.method === "HEAD" ? undefined : '{"status":"ok"}');
    }
    this.held.push([req, res]);
  }
}

function unavailable(res: http.ServerResponse): void {
  res.writeHead(503, { "content-type": "application/json; charset=utf-8" });
  res.end(JSON.stringify({ error: { code: "starting_failed", message: "berth could not start; see the server log" } }));
}
