// Prometheus metrics for `GET /metrics` (docs/design.md, decision 8). berth keeps its own
// registry, never prom-client's global one, so embedding berth (or starting two servers in
// one process, as the tests do) cannot collide with anyone else's metrics.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { SESSION_STATES } from "../events/types.js";

export interface MetricsOptions {
  /** Sessions per state, read at scrape time (e.g. a GROUP BY on the store). States left out read 0. */
  sessionsByState?: () => Promise<Record<string, number>>;
  /** Warm pool sizes, read at scrape time. */
  poolStatus?: () => { name: string; ready: number; starting: number }[];
  /** berth's version, for berth_build_info. */
  version?: string;
  /** Node process metrics (CPU, memory, event-loop lag, GC) under `berth_`; default true. */
  processMetrics?: boolean;
}

/** Token counts as usage.ts reports them (inputTokens includes the cached parts). */
export interface UsageCounts {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens?: number;
  cacheWriteTokens?: number;
}

export interface ModelCallMetrics {
  provider: string;
  /** HTTP status; 0 or undefined when no response arrived (recorded as "error"). */
  status?: number;
  usage?: UsageCounts;
  /** Only when the response carried usage. */
  costUsd?: number;
  /** Request start to response headers. */
  ttfbMs?: number;
  /** Request start to the end of the response body. */
  totalMs?: number;
}

export interface Metrics {
  readonly registry: Registry;
  readonly sessions: Gauge<"state">;
  readonly turnsTotal: Counter<"harness" | "stop_reason">;
  readonly modelCallsTotal: Counter<"provider" | "status">;
  readonly tokensTotal: Counter<"provider" | "type">;
  readonly costUsdTotal: Counter<"provider">;
  readonly gatewayLatency: Histogram<"provider" | "phase">;
  readonly sandboxStartsTotal: Counter<"tier" | "driver" | "outcome">;
  readonly egressDecisionsTotal: Counter<"allowed">;
  readonly poolEntries: Gauge<"pool" | "state">;
  readonly poolClaimsTotal: Counter<"pool" | "outcome" | "reason">;
  readonly sessionStartSeconds: Histogram<"phase" | "pool">;
  readonly turnSeconds: Histogram<"harness" | "stop_reason">;
  readonly sandboxStartSeconds: Histogram<"tier" | "driver" | "outcome">;
  readonly sessionsPurgedTotal: Counter;

  /** A turn ended; `seconds` from its start (absent for a turn that never started). */
  recordTurn(harness: string, stopReason: string | null | undefined, seconds?: number): void;
  recordModelCall(m: ModelCallMetrics): void;
  recordSandboxStart(tier: string, driver: string, outcome: "ok" | "error" | string, seconds?: number): void;
  recordEgress(allowed: boolean): void;
  /** A create request a warm pool could serve (hit) or not (miss, with why). */
  recordPoolClaim(pool: string, outcome: "hit" | "miss", reason?: string): void;
  /** One phase of a session's start (sessions/launch.ts StartPhase, `claim`, `ready`, `first_model_byte`). */
  recordStartPhase(phase: string, pool: "hit" | "miss", seconds: number): void;
  /** The exposition for GET /metrics. */
  render(): Promise<{ contentType: string; body: string }>;
}

/**
 * Token types partition the input: `input` counts uncached input only, so summing over
 * `type` gives every token the provider processed, and cache_read / cache_write show what
 * the prompt cache saved and cost.
 */
export function tokenBreakdown(u: UsageCounts): Record<"input" | "output" | "cache_read" | "cache_write", number> {
  const read = u.cacheReadTokens ?? 0;
  const write = u.cacheWriteTokens ?? 0;
  return { input: Math.max(0, u.inputTokens - read - write), output: u.outputTokens, cache_read: read, cache_write: write };
}

export function createMetrics(opts: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  const registers = [registry];

  const sessions = new Gauge({
    name: "berth_sessions",
    help: "Sessions by state.",
    labelNames: ["state"] as const,
    registers,
    collect: opts.sessionsByState
      ? async function (this: Gauge<"state">) {
          let counts: Record<string, number> = {};
          try {
            counts = await opts.sessionsByState!();
          } catch {
            /* a failing source reads as zeros, never as a failed scrape */
          }
          for (const s of new Set<string>([...SESSION_STATES, ...Object.keys(counts)])) this.set({ state: s }, counts[s] ?? 0);
        }
      : undefined,
  });
  const sessionsPurgedTotal = new Counter({
    name: "berth_sessions_purged_total",
    help: "Sessions deleted by retention (BERTH_RETENTION_DAYS), with their events and files.",
    registers,
  });
  const turnsTotal = new Counter({
    name: "berth_turns_total",
    help: "Turns ended, by harness and stop reason (ACP stop reason, or error, cancelled, interrupted).",
    labelNames: ["harness", "stop_reason"] as const,
    registers,
  });
  const modelCallsTotal = new Counter({
    name: "berth_model_calls_total",
    help: "Model calls through the gateway, by provider and HTTP status (error: no response).",
    labelNames: ["provider", "status"] as const,
    registers,
  });
  const tokensTotal = new Counter({
    name: "berth_tokens_total",
    help: "Tokens reported by providers, by type: input (uncached), output, cache_read, cache_write.",
    labelNames: ["provider", "type"] as const,
    registers,
  });
  const costUsdTotal = new Counter({
    name: "berth_cost_usd_total",
    help: "Estimated model cost in USD for calls whose model has a price.",
    labelNames: ["provider"] as const,
    registers,
  });
  const gatewayLatency = new Histogram({
    name: "berth_gateway_latency_seconds",
    help: "Gateway model-call latency: phase=ttfb to upstream response headers, phase=total to the end of the body.",
    labelNames: ["provider", "phase"] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600],
    registers,
  });
  const sandboxStartsTotal = new Counter({
    name: "berth_sandbox_starts_total",
    help: "Sandbox starts by tier, driver and outcome.",
    labelNames: ["tier", "driver", "outcome"] as const,
    registers,
  });
  const egressDecisionsTotal = new Counter({
    name: "berth_egress_decisions_total",
    help: "Egress proxy decisions (allowed=true|false).",
    labelNames: ["allowed"] as const,
    registers,
  });
  const poolEntries = new Gauge({
    name: "berth_pool_entries",
    help: "Warm pool entries by pool and state (ready: claimable; starting: being refilled).",
    labelNames: ["pool", "state"] as const,
    registers,
    collect: opts.poolStatus
      ? function (this: Gauge<"pool" | "state">) {
          for (const p of opts.poolStatus!()) {
            this.set({ pool: p.name, state: "ready" }, p.ready);
            this.set({ pool: p.name, state: "starting" }, p.starting);
          }
        }
      : undefined,
  });
  const poolClaimsTotal = new Counter({
    name: "berth_pool_claims_total",
    help: "Create requests for a harness and tier that has a warm pool: outcome=hit, or miss with its reason.",
    labelNames: ["pool", "outcome", "reason"] as const,
    registers,
  });
  const sessionStartSeconds = new Histogram({
    name: "berth_session_start_seconds",
    help: "Session start by phase: claim (pool hit), install, clone (a git-seeded workspace), sandbox_start, initialize, session_new, session_load, ready (POST to ready), first_model_byte (first turn's start to its first model byte); pool=hit|miss.",
    labelNames: ["phase", "pool"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
    registers,
  });
  const turnSeconds = new Histogram({
    name: "berth_turn_duration_seconds",
    help: "Turns from start to end, by harness and stop reason.",
    labelNames: ["harness", "stop_reason"] as const,
    buckets: [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 7200],
    registers,
  });
  const sandboxStartSeconds = new Histogram({
    name: "berth_sandbox_start_seconds",
    help: "Sandbox starts (the driver's start call), by tier, driver and outcome.",
    labelNames: ["tier", "driver", "outcome"] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers,
  });
  new Gauge({
    name: "berth_build_info",
    help: "Always 1; the labels say which berth and Node.js serve this.",
    labelNames: ["version", "node"] as const,
    registers,
  }).set({ version: opts.version ?? "unknown", node: process.versions.node }, 1);
  if (opts.processMetrics !== false) {
    collectDefaultMetrics({ register: registry, prefix: "berth_" });
    // prom-client names these gauges *_total, which Prometheus reserves for counters
    // (promtool refuses them); the per-type gauges without the suffix say the same.
    for (const n of ["active_handles_total", "active_requests_total", "active_resources_total"]) registry.removeSingleMetric(`berth_nodejs_${n}`);
  }

  return {
    registry,
    sessions,
    turnsTotal,
    modelCallsTotal,
    tokensTotal,
    costUsdTotal,
    gatewayLatency,
    sandboxStartsTotal,
    egressDecisionsTotal,
    poolEntries,
    poolClaimsTotal,
    sessionStartSeconds,
    turnSeconds,
    sandboxStartSeconds,
    sessionsPurgedTotal,

    recordTurn(harness, stopReason, seconds) {
      turnsTotal.inc({ harness, stop_reason: stopReason ?? "none" });
      if (seconds !== undefined) turnSeconds.observe({ harness, stop_reason: stopReason ?? "none" }, seconds);
    },

    recordModelCall(m) {
      modelCallsTotal.inc({ provider: m.provider, status: m.status ? String(m.status) : "error" });
      if (m.usage) {
        for (const [type, n] of Object.entries(tokenBreakdown(m.usage))) if (n > 0) tokensTotal.inc({ provider: m.provider, type }, n);
      }
      if (m.costUsd !== undefined && m.costUsd > 0) costUsdTotal.inc({ provider: m.provider }, m.costUsd);
      if (m.ttfbMs !== undefined) gatewayLatency.observe({ provider: m.provider, phase: "ttfb" }, m.ttfbMs / 1000);
      if (m.totalMs !== undefined) gatewayLatency.observe({ provider: m.provider, phase: "total" }, m.totalMs / 1000);
    },

    recordSandboxStart(tier, driver, outcome, seconds) {
      sandboxStartsTotal.inc({ tier, driver, outcome });
      if (seconds !== undefined) sandboxStartSeconds.observe({ tier, driver, outcome }, seconds);
    },

    recordEgress(allowed) {
      egressDecisionsTotal.inc({ allowed: allowed ? "true" : "false" });
    },

    recordPoolClaim(pool, outcome, reason) {
      poolClaimsTotal.inc({ pool, outcome, reason: reason ?? "" });
    },

    recordStartPhase(phase, pool, seconds) {
      sessionStartSeconds.observe({ phase, pool }, seconds);
    },

    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
