import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BerthApiError } from "./client.js";
import { parseMockScript, startMockProvider, type MockProvider } from "../../src/mock/index.js";
import { collect, isReady, startBerth, turnEnded, type BerthProc } from "./helpers.js";

// Per-session budgets, end to end: real Pi in T1 through the gateway, usage as the mock
// reports it. The first model call spends the whole budget; the harness's next call is
// refused by the gateway before it reaches the provider, and so is the next turn.
const KEY = "sk-ant-api03-budget" + "B".repeat(40);
const script = parseMockScript(`
steps:
  - tool: { name: bash, input: { command: "echo spent > spent.txt" } }
  - text: "never reached"
`);

let mock: MockProvider;
let berth: BerthProc;

beforeAll(async () => {
  mock = await startMockProvider({ script, requireKey: KEY });
  // A priced provider in front of the mock, for the cost limit.
  const dir = mkdtempSync(join(tmpdir(), "berth-budget-"));
  writeFileSync(
    join(dir, "providers.yaml"),
    `providers:
  - id: priced
    api: anthropic-messages
    baseUrl: ${mock.url}
    auth: { header: x-api-key, secret: ANTHROPIC_API_KEY }
    models: ["priced-*"]
    prices: { "priced-*": { input: 3, output: 15 } }
`,
  );
  berth = await startBerth({ env: { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: mock.url, BERTH_PROVIDERS: join(dir, "providers.yaml") } });
});
afterAll(async () => {
  await berth?.stop();
  await mock?.close();
});

describe("session budgets", () => {
  for (const [label, model, budget] of [
    ["tokens", undefined, { maxTokens: 1 }],
    ["cost", "priced-1", { maxCostUsd: 0.000001 }],
  ] as const) {
    it(`a spent ${label} budget stops the session's model calls and turns with a clear error`, async () => {
      mock.requests.length = 0;
      const s = await berth.client.createSession({ harness: "pi", ...(model ? { model } : {}), budget });
      await collect(berth.client, s.id, isReady);
      const t = await berth.client.postTurn(s.id, "spend it");
      const events = await collect(berth.client, s.id, turnEnded(t.id), { timeoutMs: 120_000 });

      const calls = events.filter((e) => e.type === "model.call");
      const refusals = events.filter((e) => e.type === "session.error" && (e.data as any).code === "budget_exceeded");
      // The first call went through and was charged; it is the one that reached the limit.
      expect((calls[0]!.data as any).status).toBe(200);
      expect(refusals).toHaveLength(1);
      expect(refusals[0]!.data).toMatchObject({ limit: label, max: Object.values(budget)[0] });
      expect((refusals[0]!.data as any).message).toMatch(/budget is spent/);
      expect(events.indexOf(refusals[0]!)).toBeGreaterThan(events.indexOf(calls[0]!));
      // The harness's follow-up call (with the tool result) never reached the provider.
      const modelRequests = mock.requests.filter((r) => r.path.startsWith("/v1/messages") && !r.path.includes("count_tokens"));
      expect(modelRequests).toHaveLength(1);

      const after = await berth.client.getSession(s.id);
      expect(after.budget).toMatchObject(budget);
      expect(after.budget!.spent.tokens).toBeGreaterThan(0);
      if (label === "cost") expect(after.budget!.spent.costUsd).toBeGreaterThan(0.000001);
      // A new turn is refused outright.
      const err = await berth.client.postTurn(s.id, "more").catch((e) => e);
      expect(err).toBeInstanceOf(BerthApiError);
      expect(err).toMatchObject({ status: 409, code: "budget_exceeded" });
      await berth.client.endSession(s.id);
      // Ended, the session's spend is counted from its stored log: the same as its live budget said, in its view and in the list.
      expect((await berth.client.getSession(s.id)).budget!.spent).toEqual(after.budget!.spent);
      expect((await berth.client.listSessions()).find((x) => x.id === s.id)?.spent).toEqual(after.budget!.spent);
    }, 180_000);
  }

  it("the server's token ceiling (BERTH_MAX_SESSION_TOKENS) is the budget of a session that names none", async () => {
    const capped = await startBerth({ env: { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: mock.url, BERTH_MAX_SESSION_TOKENS: "1" } });
    try {
      const s = await capped.client.createSession({ harness: "pi" });
      expect(s.budget).toEqual({ maxTokens: 1, spent: { tokens: 0, costUsd: 0 } });
      await collect(capped.client, s.id, isReady);
      const t = await capped.client.postTurn(s.id, "spend it");
      const events = await collect(capped.client, s.id, turnEnded(t.id), { timeoutMs: 120_000 });
      expect(events.filter((e) => e.type === "session.error" && (e.data as any).code === "budget_exceeded")).toHaveLength(1);
      const err = await capped.client.createSession({ harness: "pi", budget: { maxTokens: 2 } }).catch((e) => e);
      expect(err).toMatchObject({ status: 400, code: "budget_over_limit" });
      await capped.client.endSession(s.id);
    } finally {
      await capped.stop();
    }
  }, 180_000);

  it("a cost limit on a model without a price is refused at creation", async () => {
    const err = await berth.client.createSession({ harness: "pi", budget: { maxCostUsd: 1 } }).catch((e) => e);
    expect(err).toMatchObject({ status: 400, code: "budget_unpriced" });
    expect(err.message).toMatch(/needs a price for model/);
  });
});
