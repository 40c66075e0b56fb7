// The egress proxy's HTTP details: request targets, hop-by-hop headers, raw and plain-text
// responses, deadlines, and the unix socket it listens on.
import { lstatSync, unlinkSync } from "node:fs";
import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import { normalizeHost } from "./policy.js";

/** Why the proxy refused a target: the X-Berth-Egress-Refused header of its 403. */
export const REFUSAL_HEADER = "x-berth-egress-refused";

export class DeadlineError extends Error {}

// Hop-by-hop headers (RFC 9110 §7.6.1) plus anything the proxy itself consumed; Proxy-* go too.
const HOP_BY_HOP = new Set([
  "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "expect",
]);

export interface Target {
  host: string;
  port: number;
}

export const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request", 403: "Forbidden", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
};

export const hostPort = (host: string, port: number) => (host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`);

/** Parses a CONNECT request target: "host:port" or "[v6]:port"; the port is required. */
export function parseAuthority(authority: string): Target | undefined {
  const m = /^(\[[^\]]*\]|[^:[\]]+):(\d{1,5})$/.exec(authority);
  if (!m) return undefined;
  const port = Number(m[2]);
  const n = normalizeHost(m[1] ?? "");
  if (!n || !(port >= 1 && port <= 65535)) return undefined;
  return { host: n.host, port };
}

export function filterHeaders(h: IncomingHttpHeaders): Record<string, string | string[]> {
  const named = new Set<string>();
  const conn = h.connection;
  for (const v of Array.isArray(conn) ? conn : conn ? [conn] : []) {
    for (const t of v.split(",")) named.add(t.trim().toLowerCase());
  }
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || HOP_BY_HOP.has(k) || k.startsWith("proxy-") || named.has(k)) continue;
    out[k] = v;
  }
  return out;
}

export function rawResponse(status: number, body: string, code?: string): string {
  return (
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? ""}\r\n` +
    (code ? `X-Berth-Egress-Refused: ${code}\r\n` : "") +
    `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

export function sendText(res: ServerResponse, status: number, body: string, code?: string): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(body), ...(code ? { [REFUSAL_HEADER]: code } : {}) });
  res.end(body);
}

export function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

export function withDeadline<T>(p: Promise<T>, deadline: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new DeadlineError()), Math.max(0, deadline - Date.now()));
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

export function removeStaleSocket(path: string): void {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw e;
  }
  if (!isSocket) throw new Error(`egress proxy: ${path} exists and is not a socket`);
  unlinkSync(path);
}
