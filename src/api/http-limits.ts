import { ConfigError } from "../config/config.js";

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

const VARS: Record<keyof HttpLimits, string> = {
  headersTimeoutMs: "BERTH_HTTP_HEADERS_TIMEOUT_MS",
  requestTimeoutMs: "BERTH_HTTP_REQUEST_TIMEOUT_MS",
  keepAliveTimeoutMs: "BERTH_HTTP_KEEPALIVE_TIMEOUT_MS",
  maxConnections: "BERTH_HTTP_MAX_CONNECTIONS",
};

export function httpLimitsFromEnv(env: NodeJS.ProcessEnv = process.env): HttpLimits {
  const out = { ...HTTP_LIMIT_DEFAULTS };
  for (const key of Object.keys(VARS) as (keyof HttpLimits)[]) {
    const raw = env[VARS[key]];
    if (raw === undefined || raw === "") continue;
    // 0 would mean "no limit" to Node: exactly the hole these close.
    if (!/^\d+$/.test(raw) || Number(raw) <= 0 || !Number.isSafeInteger(Number(raw)))
      throw new ConfigError(`${VARS[key]} must be a positive integer, not '${raw}'`);
    out[key] = Number(raw);
  }
  // Node refuses a headers timeout longer than the request timeout.
  if (out.headersTimeoutMs > out.requestTimeoutMs)
    throw new ConfigError(`${VARS.headersTimeoutMs} (${out.headersTimeoutMs}) must not exceed ${VARS.requestTimeoutMs} (${out.requestTimeoutMs})`);
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
