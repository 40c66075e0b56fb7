import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { Redactor } from "../../src/secrets/redact.js";
import { normalizeUpdate } from "../../src/acp/normalize.js";
import { createTracing, EVENT_INFERENCE_DETAILS, type Tracing, type TurnSpan } from "../../src/telemetry/tracing.js";
import { histogramPoints, spansOf as receivedSpans, startReceiver, type Receiver } from "./otlp-receiver.js";

// A real OTLP/HTTP receiver on loopback (protobuf, berth's default, and JSON): otlp-receiver.ts.

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: { key: string; value: any }[];
  events?: { name: string; attributes?: { key: string; value: any }[] }[];
  status?: { code?: number; message?: string };
}

function anyValue(v: any): unknown {
  if ("stringValue" in v) return v.stringValue;
  if ("intValue" in v) return Number(v.intValue);
  if ("doubleValue" in v) return v.doubleValue;
  if ("boolValue" in v) return v.boolValue;
  if ("arrayValue" in v) return (v.arrayValue.values ?? []).map(anyValue);
  return undefined;
}

function attrs(list: { key: string; value: any }[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((a) => [a.key, anyValue(a.value)]));
}

function spansOf(r: Receiver): { span: OtlpSpan; resource: Record<string, unknown> }[] {
  return receivedSpans(r).map(({ span, resource }) => ({ span, resource: attrs(resource) }));
}

const KIND_INTERNAL = 1;
const KIND_CLIENT = 3;
const STATUS_ERROR = 2;

let receiver: Receiver | undefined;
let tracing: Tracing | undefined;
afterEach(async () => {
  await tracing?.shutdown();
  await receiver?.close();
  tracing = receiver = undefined;
});

/** An ACP session/update as the turn span receives it: normalised to a berth event. */
function feed(turn: TurnSpan, update: object): void {
  const event = normalizeUpdate(update as Parameters<typeof normalizeUpdate>[0]);
  if (event) turn.onEvent(event);
}

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID = "00f067aa0ba902b7";
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_ID}-01`;

describe("tracing: export to a real OTLP/HTTP receiver", () => {
  it("exports invoke_agent → chat and execute_tool, parented to the incoming traceparent, with GenAI attributes and no secret", async () => {
    receiver = await startReceiver();
    const redactor = new Redactor();
    const canary = `canary-${randomBytes(12).toString("hex")}`;
    redactor.add(canary);
    tracing = await createTracing({
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url + "/",
        OTEL_EXPORTER_OTLP_HEADERS: "x-tenant=berth-test,authorization=Bearer%20otlp-secret-token-123",
        OTEL_SERVICE_NAME: "berth-under-test",
        OTEL_RESOURCE_ATTRIBUTES: "deployment.environment.name=ci",
        BERTH_OTEL_CAPTURE_CONTENT: "1",
      },
      redactor,
      serviceVersion: "9.9.9",
    });
    expect(tracing.enabled).toBe(true);
    expect(tracing.captureContent).toBe(true);

    const turn = tracing.startTurnSpan({
      harness: "claude",
      sessionId: "ses_1",
      turnId: "turn_1",
      model: "claude-sonnet-4-5",
      provider: "anthropic-oauth",
      harnessVersion: "2.0.14",
      tier: "process",
      traceparent: TRACEPARENT,
      tracestate: "vendor=abc",
      prompt: [{ type: "text", text: `deploy with key ${canary}` }],
      systemPrompt: "Be brief.",
    });
    expect(turn.traceparent).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-01$`));
    expect(tracing.turnContext("ses_1")).toBe(turn.ctx);

    // The gateway: a model call under the session's running turn, found by session id.
    const chat = tracing.startChatSpan(undefined, {
      provider: "anthropic-oauth",
      requestModel: "claude-sonnet-4-5",
      api: "anthropic-messages",
      sessionId: "ses_1",
      serverUrl: "https://api.anthropic.com",
      stream: true,
    });
    tracing.endChatSpan(chat, {
      status: 200,
      requestModel: "claude-haiku-4-5",
      responseModel: "claude-haiku-4-5-20251001",
      responseId: "msg_1",
      usage: { inputTokens: 3544, outputTokens: 89, cacheReadTokens: 2048, cacheWriteTokens: 1024 },
      finishReasons: ["tool_use"],
      timeToFirstChunkMs: 420,
      costUsd: 0.0123,
    });
    // A failed call whose upstream message echoes the secret.
    const failed = tracing.startChatSpan(turn.ctx, { provider: "anthropic-oauth", requestModel: "claude-sonnet-4-5", sessionId: "ses_1" });
    tracing.endChatSpan(failed, { status: 401, error: `invalid x-api-key ${canary}` });

    // ACP updates, normalised and fed as the session manager does.
    feed(turn, { sessionUpdate: "tool_call", toolCallId: "toolu_1", title: `cat ${canary}`, kind: "execute", status: "pending", _meta: { claudeCode: { toolName: "Bash" } } });
    feed(turn, { sessionUpdate: "tool_call_update", toolCallId: "toolu_1", rawInput: { command: `echo ${canary}` } });
    feed(turn, { sessionUpdate: "tool_call_update", toolCallId: "toolu_1", status: "completed", rawOutput: { stdout: `${canary}\n` } });
    feed(turn, { sessionUpdate: "tool_call", toolCallId: "toolu_2", title: "Edit a.ts", kind: "edit", status: "in_progress" });
    feed(turn, { sessionUpdate: "tool_call_update", toolCallId: "toolu_2", status: "failed", content: [{ type: "content", content: { type: "text", text: "no such file" } }] });
    feed(turn, { sessionUpdate: "tool_call", toolCallId: "toolu_3", title: "Read", kind: "read", status: "pending" }); // never closed
    feed(turn, { sessionUpdate: "agent_thought_chunk", content: { type: "text", text: "thinking…" } });
    feed(turn, { sessionUpdate: "agent_message_chunk", content: { type: "text", text: `Done, used ${canary}.` } });
    // The low-level helper, for tools that do not come from ACP.
    const manual = tracing.startToolSpan(turn.ctx, { name: "git_credential", toolCallId: "cred_1", kind: "fetch" });
    tracing.endToolSpan(manual, { status: "completed" });

    turn.end({ stopReason: "end_turn" });
    turn.end({ stopReason: "error" }); // idempotent
    expect(tracing.turnContext("ses_1")).toBeUndefined();
    await tracing.forceFlush();

    const all = spansOf(receiver);
    expect(all.map((s) => s.span.name).sort()).toEqual(
      ["chat claude-haiku-4-5", "chat claude-sonnet-4-5", "execute_tool Bash", "execute_tool edit", "execute_tool git_credential", "execute_tool read", "invoke_agent claude"].sort(),
    );
    const byName = (n: string) => all.find((s) => s.span.name === n)!.span;
    const agent = byName("invoke_agent claude");

    // One trace, continued from the caller's traceparent.
    for (const { span } of all) expect(span.traceId).toBe(TRACE_ID);
    expect(agent.parentSpanId).toBe(PARENT_ID);
    for (const { span } of all.filter((s) => s.span !== agent)) expect(span.parentSpanId).toBe(agent.spanId);

    expect(agent.kind).toBe(KIND_INTERNAL);
    expect(attrs(agent.attributes)).toMatchObject({
      "gen_ai.operation.name": "invoke_agent",
      "gen_ai.provider.name": "anthropic",
      "gen_ai.agent.name": "claude",
      "gen_ai.agent.version": "2.0.14",
      "gen_ai.conversation.id": "ses_1",
      "gen_ai.request.model": "claude-sonnet-4-5",
      "gen_ai.response.model": "claude-haiku-4-5-20251001",
      "gen_ai.response.finish_reasons": ["end_turn"],
      "gen_ai.usage.input_tokens": 3544,
      "gen_ai.usage.output_tokens": 89,
      "gen_ai.usage.cache_read.input_tokens": 2048,
      "gen_ai.usage.cache_creation.input_tokens": 1024,
      "berth.turn.id": "turn_1",
      "berth.turn.stop_reason": "end_turn",
      "berth.turn.model_calls": 2,
      "berth.turn.tool_calls": 3,
      "berth.sandbox.tier": "process",
      "berth.provider": "anthropic-oauth",
    });
    expect(agent.status?.code ?? 0).not.toBe(STATUS_ERROR);

    const chatSpan = byName("chat claude-haiku-4-5");
    expect(chatSpan.kind).toBe(KIND_CLIENT);
    expect(attrs(chatSpan.attributes)).toMatchObject({
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "anthropic",
      "gen_ai.request.model": "claude-haiku-4-5",
      "gen_ai.request.stream": true,
      "gen_ai.response.model": "claude-haiku-4-5-20251001",
      "gen_ai.response.id": "msg_1",
      "gen_ai.response.finish_reasons": ["tool_use"],
      "gen_ai.response.time_to_first_chunk": 0.42,
      "gen_ai.usage.input_tokens": 3544,
      "gen_ai.usage.output_tokens": 89,
      "gen_ai.usage.cache_read.input_tokens": 2048,
      "gen_ai.usage.cache_creation.input_tokens": 1024,
      "gen_ai.conversation.id": "ses_1",
      "server.address": "api.anthropic.com",
      "server.port": 443,
      "http.response.status_code": 200,
      "berth.gateway.api": "anthropic-messages",
      "berth.usage.cost_usd": 0.0123,
    });
    const failedSpan = byName("chat claude-sonnet-4-5");
    expect(failedSpan.status?.code).toBe(STATUS_ERROR);
    expect(failedSpan.status?.message).toBe("invalid x-api-key [REDACTED]");
    expect(attrs(failedSpan.attributes)["error.type"]).toBe("401");

    const bash = byName("execute_tool Bash");
    expect(bash.kind).toBe(KIND_INTERNAL);
    expect(attrs(bash.attributes)).toMatchObject({
      "gen_ai.operation.name": "execute_tool",
      "gen_ai.tool.name": "Bash",
      "gen_ai.tool.call.id": "toolu_1",
      "gen_ai.tool.type": "function",
      "berth.tool.kind": "execute",
      "berth.tool.status": "completed",
      "gen_ai.tool.call.arguments": '{"command":"echo [REDACTED]"}',
      "gen_ai.tool.call.result": '{"stdout":"[REDACTED]\\n"}',
    });
    const edit = byName("execute_tool edit");
    expect(edit.status?.code).toBe(STATUS_ERROR);
    expect(attrs(edit.attributes)).toMatchObject({ "error.type": "tool_failed", "gen_ai.tool.call.result": "no such file" });
    expect(attrs(byName("execute_tool read").attributes)["berth.tool.status"]).toBe("incomplete");

    // Content (opt-in) is one gen_ai.client.inference.operation.details event on the turn span.
    const ev = agent.events?.find((e) => e.name === EVENT_INFERENCE_DETAILS);
    const evAttrs = attrs(ev?.attributes);
    expect(JSON.parse(evAttrs["gen_ai.input.messages"] as string)).toEqual([{ role: "user", parts: [{ type: "text", content: "deploy with key [REDACTED]" }] }]);
    expect(JSON.parse(evAttrs["gen_ai.output.messages"] as string)).toEqual([
      { role: "assistant", parts: [{ type: "reasoning", content: "thinking…" }, { type: "text", content: "Done, used [REDACTED]." }], finish_reason: "end_turn" },
    ]);
    expect(JSON.parse(evAttrs["gen_ai.system_instructions"] as string)).toEqual([{ type: "text", content: "Be brief." }]);

    // Resource and transport: the standard variables were honoured.
    expect(all[0]!.resource).toMatchObject({ "service.name": "berth-under-test", "service.version": "9.9.9", "deployment.environment.name": "ci", "telemetry.sdk.language": "nodejs" });
    expect(receiver.received[0]!.path).toBe("/v1/traces");
    expect(receiver.received[0]!.headers["x-tenant"]).toBe("berth-test");
    expect(receiver.received[0]!.headers.authorization).toBe("Bearer otlp-secret-token-123");

    // The canary, registered with the redactor, never left the process.
    const payload = receiver.received.map((r) => r.raw).join("\n");
    expect(payload).not.toContain(canary);
    expect(payload).toContain("[REDACTED]");
    // The exporter's own credential became a secret too.
    expect(redactor.redact("Bearer otlp-secret-token-123 and otlp-secret-token-123")).not.toContain("otlp-secret-token-123");
  });

  it("records no content by default, starts a new root without a valid traceparent, and prefers the traces endpoint", async () => {
    receiver = await startReceiver();
    tracing = await createTracing({
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:1", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/custom/traces` },
      redactor: new Redactor(),
      serviceVersion: "1",
    });
    expect(tracing.captureContent).toBe(false);
    const turn = tracing.startTurnSpan({ harness: "codex", sessionId: "s", turnId: "t", traceparent: "00-zzzz-not-valid", prompt: "secret prompt text" });
    feed(turn, { sessionUpdate: "tool_call", toolCallId: "c1", kind: "execute", status: "pending", rawInput: { command: "rm -rf secret" } });
    feed(turn, { sessionUpdate: "tool_call_update", toolCallId: "c1", status: "completed", rawOutput: "secret output" });
    feed(turn, { sessionUpdate: "agent_message_chunk", content: { type: "text", text: "secret answer" } });
    turn.end({ stopReason: "error", error: "harness exited" });
    await tracing.forceFlush();

    expect(receiver.received[0]!.path).toBe("/custom/traces");
    const all = spansOf(receiver);
    const agent = all.find((s) => s.span.name === "invoke_agent codex")!.span;
    expect(agent.parentSpanId ?? "").toBe("");
    expect(agent.traceId).not.toBe(TRACE_ID);
    expect(agent.status).toMatchObject({ code: STATUS_ERROR, message: "harness exited" });
    expect(attrs(agent.attributes)["error.type"]).toBe("turn_failed");
    expect(agent.events ?? []).toEqual([]);
    const payload = receiver.received.map((r) => r.raw).join("\n");
    expect(payload).not.toContain("secret");
    expect(payload).not.toContain("gen_ai.tool.call.arguments");
  });

  it("records a session's start as invoke_agent with its phases as children, at their own times, and the first model byte under the first turn", async () => {
    receiver = await startReceiver();
    tracing = await createTracing({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }, redactor: new Redactor(), serviceVersion: "1" });
    const t0 = Date.now() - 3000;
    const phases = [
      { name: "sandbox_start", start: t0 + 10, end: t0 + 200 },
      { name: "initialize", start: t0 + 200, end: t0 + 500 },
      { name: "session_new", start: t0 + 500, end: t0 + 2000 },
    ];
    tracing.sessionStart({ sessionId: "ses_9", harness: "pi", model: "mock-1", tier: "process", pool: "miss", start: t0, end: t0 + 2001, phases });
    const turn = tracing.startTurnSpan({ harness: "pi", sessionId: "ses_9", turnId: "turn_9" });
    tracing.firstModelByte("ses_9", t0 + 2500, t0 + 2700);
    turn.end({ stopReason: "end_turn" });
    await tracing.forceFlush();
    const all = spansOf(receiver).map((s) => s.span as OtlpSpan & { startTimeUnixNano: string; endTimeUnixNano: string });
    const start = all.find((s) => s.name === "invoke_agent pi" && attrs(s.attributes)["berth.session.phase"] === "start")!;
    expect(attrs(start.attributes)).toMatchObject({ "gen_ai.operation.name": "invoke_agent", "gen_ai.conversation.id": "ses_9", "berth.pool": "miss" });
    const ms = (ns: string) => Math.round(Number(BigInt(ns) / 1_000_000n));
    expect(ms(start.startTimeUnixNano)).toBe(t0);
    for (const p of phases) {
      const child = all.find((s) => s.name === `berth.${p.name}`)!;
      expect(child.parentSpanId).toBe(start.spanId);
      expect([ms(child.startTimeUnixNano), ms(child.endTimeUnixNano)]).toEqual([p.start, p.end]);
    }
    const byte = all.find((s) => s.name === "berth.first_model_byte")!;
    expect(byte.parentSpanId).toBe(all.find((s) => s.name === "invoke_agent pi" && attrs(s.attributes)["berth.turn.id"] === "turn_9")!.spanId);
  });

  it("respects the caller's sampling decision (traceparent flags 00: nothing recorded)", async () => {
    receiver = await startReceiver();
    tracing = await createTracing({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }, redactor: new Redactor(), serviceVersion: "1" });
    const turn = tracing.startTurnSpan({ harness: "pi", sessionId: "s", turnId: "t", traceparent: `00-${TRACE_ID}-${PARENT_ID}-00` });
    expect(turn.span.isRecording()).toBe(false);
    const chat = tracing.startChatSpan(undefined, { provider: "openai", sessionId: "s" });
    expect(chat.isRecording()).toBe(false);
    expect(chat.spanContext().traceId).toBe(TRACE_ID);
    tracing.endChatSpan(chat, { status: 200 });
    turn.end({ stopReason: "end_turn" });
    const sampled = tracing.startTurnSpan({ harness: "pi", sessionId: "s2", turnId: "t2" });
    sampled.end();
    await tracing.forceFlush();
    expect(spansOf(receiver).map((s) => s.span.name)).toEqual(["invoke_agent pi"]);
    expect(spansOf(receiver)[0]!.span.traceId).not.toBe(TRACE_ID);
  });

  for (const protocol of [undefined, "http/json"] as const)
    it(`exports over ${protocol ?? "http/protobuf (the default)"}: spans and the GenAI client metrics (token usage, operation duration)`, async () => {
      receiver = await startReceiver();
      tracing = await createTracing({
        env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, ...(protocol ? { OTEL_EXPORTER_OTLP_PROTOCOL: protocol } : {}) },
        redactor: new Redactor(),
        serviceVersion: "1",
      });
      const chat = tracing.startChatSpan(undefined, { provider: "anthropic", requestModel: "claude-haiku-4-5", sessionId: "s" });
      tracing.endChatSpan(chat, { status: 200, responseModel: "claude-haiku-4-5-20251001", usage: { inputTokens: 1200, outputTokens: 34 } });
      const failed = tracing.startChatSpan(undefined, { provider: "openai", requestModel: "gpt-5" });
      tracing.endChatSpan(failed, { status: 529, error: "overloaded" });
      await tracing.forceFlush();

      const encoding = protocol === "http/json" ? "json" : "protobuf";
      expect(new Set(receiver.received.map((r) => `${r.path} ${r.encoding}`))).toEqual(new Set([`/v1/traces ${encoding}`, `/v1/metrics ${encoding}`]));
      expect(receiver.received.every((r) => r.headers["content-type"] === (encoding === "json" ? "application/json" : "application/x-protobuf"))).toBe(true);
      expect(spansOf(receiver).map((x) => x.span.name).sort()).toEqual(["chat claude-haiku-4-5", "chat gpt-5"]);

      const tokens = histogramPoints(receiver, "gen_ai.client.token.usage").map((p) => ({ ...attrs(p.attributes), count: Number(p.count), sum: p.sum }));
      expect(tokens).toEqual(
        expect.arrayContaining([
          { "gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic", "gen_ai.request.model": "claude-haiku-4-5", "gen_ai.response.model": "claude-haiku-4-5-20251001", "gen_ai.token.type": "input", count: 1, sum: 1200 },
          { "gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic", "gen_ai.request.model": "claude-haiku-4-5", "gen_ai.response.model": "claude-haiku-4-5-20251001", "gen_ai.token.type": "output", count: 1, sum: 34 },
        ]),
      );
      expect(tokens).toHaveLength(2); // the failed call reported no usage
      const durations = histogramPoints(receiver, "gen_ai.client.operation.duration").map((p) => attrs(p.attributes));
      expect(durations).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ "gen_ai.provider.name": "anthropic", "gen_ai.request.model": "claude-haiku-4-5" }),
          { "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-5", "error.type": "529" },
        ]),
      );
    });

  it("is off, and a shared no-op, without an endpoint or with OTEL_SDK_DISABLED", async () => {
    const r = new Redactor();
    for (const env of [{}, { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318", OTEL_SDK_DISABLED: "true" }, { OTEL_EXPORTER_OTLP_ENDPOINT: "http://x:4318", OTEL_TRACES_EXPORTER: "none", OTEL_METRICS_EXPORTER: "none" }]) {
      const t = await createTracing({ env, redactor: r, serviceVersion: "1" });
      expect(t.enabled).toBe(false);
      const a = t.startTurnSpan({ harness: "claude", sessionId: "s", turnId: "t", traceparent: TRACEPARENT });
      const b = t.startTurnSpan({ harness: "pi", sessionId: "s2", turnId: "t2" });
      expect(a).toBe(b);
      expect(a.span.isRecording()).toBe(false);
      expect(a.traceparent).toBeUndefined();
      const c = t.startChatSpan(a.ctx, { provider: "openai" });
      expect(c.isRecording()).toBe(false);
      t.endChatSpan(c, { status: 200, usage: { inputTokens: 1, outputTokens: 1 } });
      a.onEvent({ type: "tool.call", data: { toolCallId: "c1" } });
      a.end();
      await t.shutdown();
    }
  });

  it("an unreachable collector neither throws nor holds shutdown", async () => {
    const warnings: unknown[] = [];
    const t = await createTracing({
      env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://127.0.0.1:9/v1/traces" },
      redactor: new Redactor(),
      serviceVersion: "1",
      logger: { warn: (o) => warnings.push(o) },
      shutdownTimeoutMs: 300,
    });
    t.startTurnSpan({ harness: "claude", sessionId: "s", turnId: "t" }).end();
    const t0 = Date.now();
    await t.shutdown();
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});

describe("tracing: overhead (printed, not asserted)", () => {
  it("measures startTurnSpan/startChatSpan with tracing off and on", async () => {
    const redactor = new Redactor();
    const off = await createTracing({ env: {}, redactor, serviceVersion: "1" });
    const bench = (t: Tracing, n: number) => {
      // warm up, then time
      for (let i = 0; i < 1000; i++) {
        const turn = t.startTurnSpan({ harness: "claude", sessionId: "s", turnId: "t", model: "m", traceparent: TRACEPARENT });
        t.endChatSpan(t.startChatSpan(turn.ctx, { provider: "anthropic", requestModel: "m", api: "anthropic-messages" }), { status: 200 });
        turn.end({ stopReason: "end_turn" });
      }
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) t.startTurnSpan({ harness: "claude", sessionId: "s", turnId: "t", model: "m", traceparent: TRACEPARENT }).end();
      const t1 = process.hrtime.bigint();
      const ctx = t.startTurnSpan({ harness: "claude", sessionId: "s", turnId: "t" }).ctx;
      for (let i = 0; i < n; i++) t.endChatSpan(t.startChatSpan(ctx, { provider: "anthropic", requestModel: "m", api: "anthropic-messages" }), { status: 200 });
      const t2 = process.hrtime.bigint();
      return { turnNs: Number(t1 - t0) / n, chatNs: Number(t2 - t1) / n };
    };
    const o = bench(off, 1_000_000);
    // On: real spans, redacted and queued; the batch is not sent during the loop (and the
    // queue's overflow is dropped), so this is the cost on the caller's path.
    tracing = await createTracing({
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9" },
      redactor,
      serviceVersion: "1",
      batch: { scheduledDelayMillis: 600_000, maxQueueSize: 100_000, maxExportBatchSize: 512 },
    });
    const on = bench(tracing, 20_000);
    console.log(
      `[telemetry overhead] tracing off: startTurnSpan+end ${o.turnNs.toFixed(1)} ns, startChatSpan+endChatSpan ${o.chatNs.toFixed(1)} ns` +
        ` | tracing on: ${(on.turnNs / 1000).toFixed(2)} µs, ${(on.chatNs / 1000).toFixed(2)} µs (incl. redaction at span end)`,
    );
    expect(o.turnNs).toBeGreaterThan(0);
  });
});
