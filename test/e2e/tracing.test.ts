import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseMockScript, startMockProvider, type MockProvider } from "../../src/mock/index.js";
import { histogramPoints, spansOf, startReceiver, type Receiver } from "../telemetry/otlp-receiver.js";
import { collect, isReady, startBerth, turnEnded } from "./helpers.js";

// A real Pi turn with a tool call, traced: spans and the GenAI client metrics go over
// OTLP/HTTP (protobuf, the default) to a receiver this test runs, which decodes them; the
// spans are parented to the traceparent the client sent, and nothing carries a secret.
const CANARY = "sk-ant-api03-TRACE" + "R".repeat(40);
const script = parseMockScript(`
steps:
  - tool: { name: bash, input: { command: "echo traced > t.txt" } }
  - text: "done"
`);

let mock: MockProvider;
let receiver: Receiver;

beforeAll(async () => {
  mock = await startMockProvider({ script, requireKey: CANARY });
  receiver = await startReceiver();
});
afterAll(async () => {
  await mock?.close();
  await receiver?.close();
});

interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: { key: string; value: Record<string, unknown> }[];
}

function spans(): Span[] {
  return spansOf(receiver).map((x) => x.span);
}
const attr = (s: Span, k: string) => {
  const v = s.attributes.find((a) => a.key === k)?.value;
  return v ? Object.values(v)[0] : undefined;
};

describe("tracing", () => {
  it("invoke_agent → chat and execute_tool spans, joined to the caller's traceparent, no secrets", async () => {
    const berth = await startBerth({
      env: {
        ANTHROPIC_API_KEY: CANARY,
        ANTHROPIC_BASE_URL: mock.url,
        BERTH_MODEL: "claude-mock",
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_BSP_SCHEDULE_DELAY: "200",
      },
    });
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const parent = "00f067aa0ba902b7";
    try {
      const s = await berth.client.createSession({ harness: "pi" });
      await collect(berth.client, s.id, isReady);
      const t = await berth.client.request<any>("POST", `/v1/sessions/${s.id}/turns`, { prompt: "go" }, { traceparent: `00-${traceId}-${parent}-01` });
      await collect(berth.client, s.id, turnEnded(t.body.id));
      await berth.client.endSession(s.id);
    } finally {
      await berth.stop(); // flushes the exporter
    }
    const all = spans();
    const turn = all.find((x) => x.name === "invoke_agent pi" && attr(x, "berth.turn.id"))!;
    expect(turn, all.map((x) => x.name).join(", ")).toBeDefined();
    expect(turn.traceId).toBe(traceId);
    expect(turn.parentSpanId).toBe(parent);
    expect(attr(turn, "gen_ai.operation.name")).toBe("invoke_agent");
    expect(attr(turn, "gen_ai.conversation.id")).toBeDefined();

    const chats = all.filter((x) => x.name.startsWith("chat "));
    expect(chats.length).toBeGreaterThanOrEqual(2);
    for (const c of chats) {
      expect(c.traceId).toBe(traceId);
      expect(c.parentSpanId).toBe(turn.spanId);
      expect(attr(c, "gen_ai.operation.name")).toBe("chat");
      expect(attr(c, "gen_ai.request.model")).toBe("claude-mock");
      expect(Number(attr(c, "gen_ai.usage.output_tokens"))).toBeGreaterThan(0);
    }
    expect(chats.map((c) => attr(c, "gen_ai.response.finish_reasons"))).toContainEqual(expect.objectContaining({ values: [{ stringValue: "tool_use" }] }));

    const tool = all.find((x) => x.name.startsWith("execute_tool "))!;
    expect(tool).toBeDefined();
    expect(tool.parentSpanId).toBe(turn.spanId);
    expect(attr(tool, "gen_ai.tool.call.id")).toBeDefined();

    // The session's start: its own invoke_agent span with each phase a child, and the first
    // turn's wait for its first model byte under the turn.
    const start = all.find((x) => x.name === "invoke_agent pi" && attr(x, "berth.session.phase") === "start")!;
    expect(start, all.map((x) => x.name).join(", ")).toBeDefined();
    for (const phase of ["install", "sandbox_start", "initialize", "session_new"]) expect(all.find((x) => x.name === `berth.${phase}`)?.parentSpanId, phase).toBe(start.spanId);
    expect(all.find((x) => x.name === "berth.first_model_byte")?.parentSpanId).toBe(turn.spanId);

    // Both signals arrived as protobuf, the specification's default encoding.
    expect(new Set(receiver.received.map((r) => `${r.path} ${r.encoding}`))).toEqual(new Set(["/v1/traces protobuf", "/v1/metrics protobuf"]));
    const tokens = histogramPoints(receiver, "gen_ai.client.token.usage");
    const typeOf = (p: { attributes: Span["attributes"] }) => Object.values(p.attributes.find((a) => a.key === "gen_ai.token.type")!.value)[0];
    expect(tokens.map(typeOf).sort()).toEqual(["input", "output"]);
    expect(tokens.every((p) => Number(p.count) === chats.length)).toBe(true);
    expect(histogramPoints(receiver, "gen_ai.client.operation.duration").reduce((n, p) => n + Number(p.count), 0)).toBe(chats.length);

    const payload = receiver.received.map((r) => r.raw).join("");
    expect(payload).not.toContain(CANARY);
    expect(payload).not.toMatch(/bgt_[A-Za-z0-9_-]{20,}/);
  });
});
