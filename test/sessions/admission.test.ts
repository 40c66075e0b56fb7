import { describe, expect, it } from "vitest";
import type { CallRequest } from "../../src/gateway/gateway.js";
import { admitCall } from "../../src/sessions/admission.js";
import { SessionBudget, type BudgetExceeded } from "../../src/sessions/budget.js";

const call = (model: string | undefined, inputTokens = 100, outputTokens = 100): CallRequest => ({ family: "anthropic", kind: "generate", ...(model ? { model } : {}), inputTokens, outputTokens });

describe("admitCall: the session's model pin and budget hold", () => {
  it("admits only the route's model names (upstream name or the one asked for), naming the allowed one", () => {
    const scope = { models: ["glm-4.6-upstream", "glm-4.6"], budget: new SessionBudget({}) };
    expect(admitCall(scope, call("glm-4.6-upstream"), () => {}).ok).toBe(true);
    expect(admitCall(scope, call("glm-4.6"), () => {}).ok).toBe(true);
    for (const m of ["claude-opus-4-1", "GLM-4.6", "glm-4.6-upstream-20250101", "glm-4.6 ", "", undefined]) {
      const r = admitCall(scope, call(m), () => {});
      expect(r).toMatchObject({ ok: false, status: 403, code: "model_not_allowed" });
      expect(!r.ok && r.message).toContain("glm-4.6-upstream");
    }
    // A refused model holds nothing.
    expect(scope.budget.inFlight).toBe(2);
  });

  it("holds the call's priced maximum for a cost limit, and prices the call with the route's price", () => {
    const price = { input: 3, output: 15 }; // USD per Mtok
    const budget = new SessionBudget({ maxCostUsd: 1 });
    const a = admitCall({ models: ["m"], price, budget }, call("m", 10_000, 20_000), () => {});
    expect(a).toMatchObject({ ok: true, price });
    expect(budget.reserved.costUsd).toBeCloseTo(0.03 + 0.3, 9);
    expect(budget.reserved.tokens).toBe(30_000);
  });

  it("maps a spent budget to 402 and a held one or a full cap to 429 with Retry-After; the breach is reported once", () => {
    const budget = new SessionBudget({ maxTokens: 1000 }, undefined, 2);
    const breaches: BudgetExceeded[] = [];
    const scope = { models: ["m"], budget };
    const first = admitCall(scope, call("m", 500, 600), (b) => breaches.push(b));
    expect(admitCall(scope, call("m"), () => {})).toMatchObject({ ok: false, status: 429, code: "budget_reserved", retryAfterSeconds: 1 });
    if (!first.ok) throw new Error("refused");
    first.settle({ tokens: 1200 });
    first.settle({ tokens: 1200 });
    expect(breaches).toHaveLength(1);
    expect(breaches[0]).toMatchObject({ limit: "tokens", used: 1200, max: 1000 });
    expect(admitCall(scope, call("m"), () => {})).toMatchObject({ ok: false, status: 402, code: "budget_exceeded" });

    const capped = { models: ["m"], budget: new SessionBudget({}, undefined, 1) };
    const held = admitCall(capped, call("m"), () => {});
    expect(admitCall(capped, call("m"), () => {})).toMatchObject({ ok: false, status: 429, code: "too_many_calls", retryAfterSeconds: 1 });
    if (held.ok) held.settle(undefined);
    expect(admitCall(capped, call("m"), () => {}).ok).toBe(true);
  });
});
