import type { IncomingMessage } from "node:http";
import zlib from "node:zlib";
import type { RouteRefusal } from "./routes.js";

// The gateway reads a model request before it sends it: the model it names is pinned to
// the session's route, and its output cap sizes the budget reservation. Requests are JSON
// of a few hundred KB at most in practice; the response still streams unbuffered.

/** What the gateway needs from a request body. */
export interface RequestFacts {
  /** The raw bytes, forwarded unchanged. */
  raw: Buffer;
  /** Decoded size, the basis of the input estimate. */
  decodedBytes: number;
  model?: string;
  stream?: boolean;
  /** The output cap the request sets, if any (max_tokens and its per-API spellings). */
  maxOutputTokens?: number;
}

/** Reads the whole body, at most `maxBytes` raw or decoded, or says why it cannot be forwarded. */
export async function readRequest(req: IncomingMessage, maxBytes: number): Promise<RequestFacts | RouteRefusal> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) return tooLarge(maxBytes);
    chunks.push(chunk as Buffer);
  }
  const raw = Buffer.concat(chunks);
  const encoding = String(req.headers["content-encoding"] ?? "identity").trim().toLowerCase();
  let text: Buffer;
  try {
    const opts = { maxOutputLength: maxBytes };
    if (encoding === "identity") text = raw;
    else if (encoding === "gzip" || encoding === "x-gzip") text = zlib.gunzipSync(raw, opts);
    else if (encoding === "deflate") text = zlib.inflateSync(raw, opts);
    else if (encoding === "br") text = zlib.brotliDecompressSync(raw, opts);
    else return { status: 415, code: "encoding_not_supported", message: `content-encoding '${encoding.slice(0, 40)}' is not supported by berth's gateway; send the body as identity, gzip, deflate or br` };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE" || /Cannot create a Buffer larger|too large/i.test(String(e))) return tooLarge(maxBytes);
    return { status: 400, code: "invalid_body", message: `the request body is not valid ${encoding} data` };
  }
  let body: unknown;
  try {
    body = raw.length ? JSON.parse(text.toString("utf8")) : {};
  } catch {
    return { status: 400, code: "invalid_body", message: "the request body is not JSON; model calls take a JSON body" };
  }
  if (!body || typeof body !== "object" || Array.isArray(body)) return { status: 400, code: "invalid_body", message: "the request body must be a JSON object" };
  const b = body as Record<string, unknown>;
  const gen = b.generationConfig as Record<string, unknown> | undefined;
  const caps = [b.max_tokens, b.max_output_tokens, b.max_completion_tokens, gen && typeof gen === "object" ? gen.maxOutputTokens : undefined];
  const cap = caps.find((c): c is number => typeof c === "number" && Number.isFinite(c) && c >= 0);
  return {
    raw,
    decodedBytes: text.length,
    ...(typeof b.model === "string" && b.model ? { model: b.model } : {}),
    ...(typeof b.stream === "boolean" ? { stream: b.stream } : {}),
    ...(cap !== undefined ? { maxOutputTokens: Math.ceil(cap) } : {}),
  };
}

function tooLarge(maxBytes: number): RouteRefusal {
  return { status: 413, code: "request_too_large", message: `the request body is over ${maxBytes} bytes (BERTH_GATEWAY_MAX_REQUEST_BYTES); send a smaller request` };
}
