import type { EnvSlice } from "../config/env.js";
import { ConfigError } from "../config/errors.js";

/**
 * How long the API waits on a client, and how many clients it holds at once. Without these
 * an unauthenticated peer can hold sockets open for ever (idle, or sending headers a byte at
 * a time) until the API stops answering.
 */
export interface HttpLimits {
  /** Whole request headers must arrive within this (slowloris). */
  headersTimeoutMs: number;
  /** Whole request, body included, must arrive within this; the response (an SSE stream) is not bounded by it. */
  requestTimeoutMs: number;
  /** An idle keep-alive socket between two requests is closed after this. */
  keepAliveTimeoutMs: number;
  /** Open sockets beyond this are closed as they connect. */
  maxConnections: number;
}

export const HTTP_LIMIT_DEFAULTS: HttpLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 1_000,
};

/** The API's limits from the operator's BERTH_HTTP_* variables (parsed at start, config/env.ts). */
export function httpLimits(env: EnvSlice<"BERTH_HTTP_HEADERS_TIMEOUT_MS" | "BERTH_HTTP_REQUEST_TIMEOUT_MS" | "BERTH_HTTP_KEEPALIVE_TIMEOUT_MS" | "BERTH_HTTP_MAX_CONNECTIONS">): HttpLimits {
  const out: HttpLimits = {
    headersTimeoutMs: env.BERTH_HTTP_HEADERS_TIMEOUT_MS ?? HTTP_LIMIT_DEFAULTS.headersTimeoutMs,
    requestTimeoutMs: env.BERTH_HTTP_REQUEST_TIMEOUT_MS ?? HTTP_LIMIT_DEFAULTS.requestTimeoutMs,
    keepAliveTimeoutMs: env.BERTH_HTTP_KEEPALIVE_TIMEOUT_MS ?? HTTP_LIMIT_DEFAULTS.keepAliveTimeoutMs,
    maxConnections: env.BERTH_HTTP_MAX_CONNECTIONS ?? HTTP_LIMIT_DEFAULTS.maxConnections,
  };
  // Node refuses a headers timeout longer than the request timeout.
  if (out.headersTimeoutMs > out.requestTimeoutMs)
    throw new ConfigError(`BERTH_HTTP_HEADERS_TIMEOUT_MS (${out.headersTimeoutMs}) must not exceed BERTH_HTTP_REQUEST_TIMEOUT_MS (${out.requestTimeoutMs})`);
  return out;
}

/** Fastify/Node server options for these limits. */
export function serverOptions(l: HttpLimits) {
  return {
    requestTimeout: l.requestTimeoutMs,
    keepAliveTimeout: l.keepAliveTimeoutMs,
    http: {
      headersTimeout: l.headersTimeoutMs,
      requestTimeout: l.requestTimeoutMs,
      keepAliveTimeout: l.keepAliveTimeoutMs,
      // Node sweeps for expired header/request timers on this interval (default 30 s, which
      // would let a flood outlive a short timeout by that much).
      connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(l.headersTimeoutMs / 2))),
    },
  };
}
