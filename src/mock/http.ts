// The mock's HTTP plumbing: bodies (size-capped, decompressed), JSON and SSE writes with
// backpressure, key checks in constant time, headers with credentials blanked.
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import zlib from "node:zlib";

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

function digest(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

export function checkKey(req: IncomingMessage, key: string): boolean {
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

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function readBody(req: IncomingMessage): Promise<Buffer> {
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

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
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
export function pause(res: ServerResponse, ms: number): Promise<void> {
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
export function write(res: ServerResponse, chunk: string): Promise<void> {
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
