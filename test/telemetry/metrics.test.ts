import { describe, expect, it } from "vitest";
import { register as globalRegistry } from "prom-client";
import { createMetrics, tokenBreakdown } from "../../src/telemetry/metrics.js";

describe("metrics", () => {
  it("renders berth_ metrics with their labels after a few updates", async () => {
    let sessions: Record<string, number> = { running: 2, ready: 1 };
    const m = createMetrics({ sessionsByState: async () => sessions });

    m.recordTurn("claude", "end_turn");
    m.recordTurn("claude", "end_turn");
    m.recordTurn("codex", "cancelled");
    m.recordModelCall({
      provider: "anthropic",
      status: 200,
      usage: { inputTokens: 3544, outputTokens: 89, cacheReadTokens: 2048, cacheWriteTokens: 1024 },
      costUsd: 0.01,
      ttfbMs: 420,
      totalMs: 3100,
    });
    m.recordModelCall({ provider: "openai", status: 429, totalMs: 50 });
    m.recordModelCall({ provider: "openai" }); // no response at all
    m.recordSandboxStart("process", "bwrap", "ok");
    m.recordSandboxStart("container", "oci", "error");
    m.recordEgress(true);
    m.recordEgress(false);
    m.recordEgress(false);

    const { contentType, body } = await m.render();
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const lines = body.split("\n");
    const has = (l: string) => expect(lines).toContain(l);

    has('berth_sessions{state="running"} 2');
    has('berth_sessions{state="ready"} 1');
    has('berth_sessions{state="failed"} 0'); // every known state is present
    has('berth_turns_total{harness="claude",stop_reason="end_turn"} 2');
    has('berth_turns_total{harness="codex",stop_reason="cancelled"} 1');
    has('berth_model_calls_total{provider="anthropic",status="200"} 1');
    has('berth_model_calls_total{provider="openai",status="429"} 1');
    has('berth_model_calls_total{provider="openai",status="error"} 1');
    // input is uncached input only: the types partition the tokens processed.
    has('berth_tokens_total{provider="anthropic",type="input"} 472');
    has('berth_tokens_total{provider="anthropic",type="output"} 89');
    has('berth_tokens_total{provider="anthropic",type="cache_read"} 2048');
    has('berth_tokens_total{provider="anthropic",type="cache_write"} 1024');
    has('berth_cost_usd_total{provider="anthropic"} 0.01');
    has('berth_gateway_latency_seconds_bucket{le="0.5",provider="anthropic",phase="ttfb"} 1');
    has('berth_gateway_latency_seconds_bucket{le="2",provider="anthropic",phase="total"} 0');
    has('berth_gateway_latency_seconds_bucket{le="5",provider="anthropic",phase="total"} 1');
    has('berth_gateway_latency_seconds_count{provider="openai",phase="total"} 1');
    has('berth_sandbox_starts_total{tier="process",driver="bwrap",outcome="ok"} 1');
    has('berth_sandbox_starts_total{tier="container",driver="oci",outcome="error"} 1');
    has('berth_egress_decisions_total{allowed="true"} 1');
    has('berth_egress_decisions_total{allowed="false"} 2');
    expect(body).toContain("# TYPE berth_gateway_latency_seconds histogram");
    expect(body).toContain("berth_process_cpu_user_seconds_total");
    expect(body).toContain("berth_nodejs_eventloop_lag_seconds");

    // The session gauge is read at scrape time.
    sessions = { running: 0, ended: 5 };
    const again = (await m.render()).body.split("\n");
    expect(again).toContain('berth_sessions{state="running"} 0');
    expect(again).toContain('berth_sessions{state="ended"} 5');

    // Nothing leaked into prom-client's global registry.
    expect(await globalRegistry.metrics()).not.toContain("berth_");
  });

  it("two instances do not collide, and process metrics can be left out", async () => {
    const a = createMetrics({ processMetrics: false });
    const b = createMetrics({ processMetrics: false });
    a.recordTurn("pi", "end_turn");
    expect((await a.render()).body).toContain('berth_turns_total{harness="pi",stop_reason="end_turn"} 1');
    expect((await b.render()).body).not.toContain('harness="pi"');
    expect((await a.render()).body).not.toContain("berth_process_");
    // Without a source the sessions gauge is settable directly.
    a.sessions.set({ state: "running" }, 3);
    expect((await a.render()).body).toContain('berth_sessions{state="running"} 3');
  });

  it("a failing session source reads as zeros instead of failing the scrape", async () => {
    const m = createMetrics({ processMetrics: false, sessionsByState: () => { throw new Error("db closed"); } });
    expect((await m.render()).body).toContain('berth_sessions{state="running"} 0');
  });

  it("tokenBreakdown never goes negative", () => {
    expect(tokenBreakdown({ inputTokens: 10, outputTokens: 1, cacheReadTokens: 20 })).toEqual({ input: 0, output: 1, cache_read: 20, cache_write: 0 });
  });
});
