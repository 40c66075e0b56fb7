import { describe, expect, it } from "vitest";
import { SessionBudget } from "../../src/sessions/budget.js";

describe("SessionBudget", () => {
  it("is unlimited without limits", () => {
    const b = new SessionBudget({});
    expect(b.limited).toBe(false);
    expect(b.charge(1e9, 1e6)).toBeUndefined();
    expect(b.exceeded()).toBeUndefined();
  });

  it("reports the call that reaches the token limit once, then stays exceeded", () => {
    const b = new SessionBudget({ maxTokens: 1000 });
    expect(b.charge(600)).toBeUndefined();
    expect(b.exceeded()).toBeUndefined();
    const breach = b.charge(500);
    expect(breach).toMatchObject({ limit: "tokens", used: 1100, max: 1000 });
    expect(breach!.message).toContain("1100 of 1000 tokens");
    expect(b.charge(10)).toBeUndefined(); // reported once
    expect(b.exceeded()).toMatchObject({ limit: "tokens" });
    expect(b.spent.tokens).toBe(1110);
  });

  it("counts cost in USD", () => {
    const b = new SessionBudget({ maxTokens: 1e9, maxCostUsd: 0.05 });
    expect(b.charge(10, 0.02)).toBeUndefined();
    expect(b.charge(10, 0.031)).toMatchObject({ limit: "cost", max: 0.05, used: 0.051 });
  });

  it("starts from what a resumed session already spent", () => {
    expect(new SessionBudget({ maxTokens: 100 }, { tokens: 100, costUsd: 0 }).exceeded()).toMatchObject({ limit: "tokens", used: 100 });
    expect(new SessionBudget({ maxTokens: 100 }, { tokens: 99, costUsd: 0 }).exceeded()).toBeUndefined();
  });
});

describe("SessionBudget reservations", () => {
  const call = (tokens: number, costUsd = 0) => ({ tokens, costUsd });
  const admitted = (a: ReturnType<SessionBudget["reserve"]>) => {
    if (!a.ok) throw new Error(`refused: ${a.message}`);
    return a.reservation;
  };

  it("40 interleaved calls cannot spend past the limit by more than one call's maximum", () => {
    const b = new SessionBudget({ maxTokens: 3000 });
    // All 40 ask before any completes (the race that spent 6.9x the limit on main).
    const asks = Array.from({ length: 40 }, () => b.reserve(call(1200)));
    const ok = asks.filter((a) => a.ok);
    expect(ok).toHaveLength(3); // 0, 1200, 2400 reserved < 3000 when each was admitted
    expect(asks.filter((a) => !a.ok).every((a) => !a.ok && a.reason === "budget_reserved")).toBe(true);
    for (const a of ok) if (a.ok) a.reservation.settle(1200);
    expect(b.spent.tokens).toBe(3600);
    expect(b.spent.tokens).toBeLessThanOrEqual(3000 + 1200);
    expect(b.reserve(call(1))).toMatchObject({ ok: false, reason: "budget_exceeded" });
  });

  it("settles with the reported usage, frees the rest of the hold, and admits again", () => {
    const b = new SessionBudget({ maxTokens: 1000 });
    const r = admitted(b.reserve(call(5000)));
    expect(b.reserved.tokens).toBe(5000);
    expect(b.reserve(call(10))).toMatchObject({ ok: false, reason: "budget_reserved" });
    expect(r.settle(200)).toBeUndefined();
    expect(b.reserved.tokens).toBe(0);
    expect(b.spent.tokens).toBe(200);
    expect(b.reserve(call(10)).ok).toBe(true);
  });

  it("releases the hold of a call that failed, was aborted or reported nothing; a second settle does nothing", () => {
    const b = new SessionBudget({ maxTokens: 1000 }, undefined, 2);
    const r1 = admitted(b.reserve(call(900)));
    const r2 = admitted(b.reserve(call(900)));
    expect(b.reserve(call(1))).toMatchObject({ ok: false, reason: "too_many_calls" });
    r1.settle(); // upstream failure: no usage
    r2.settle(); // client abort
    r2.settle(999); // ignored
    expect(b.inFlight).toBe(0);
    expect(b.reserved).toEqual({ tokens: 0, costUsd: 0 });
    expect(b.spent.tokens).toBe(0);
    expect(b.reserve(call(1)).ok).toBe(true);
  });

  it("the call that reaches the limit completes and reports the breach once", () => {
    const b = new SessionBudget({ maxTokens: 1000 });
    const r1 = admitted(b.reserve(call(400)));
    const r2 = admitted(b.reserve(call(400)));
    const r3 = admitted(b.reserve(call(400))); // 800 held < 1000
    expect(r1.settle(400)).toBeUndefined();
    expect(r2.settle(400)).toBeUndefined();
    expect(r3.settle(400)).toMatchObject({ limit: "tokens", used: 1200, max: 1000 });
    expect(b.reserve(call(1))).toMatchObject({ ok: false, reason: "budget_exceeded" });
  });

  it("holds cost as well as tokens", () => {
    const b = new SessionBudget({ maxCostUsd: 0.01 });
    const r = admitted(b.reserve(call(100, 0.02)));
    expect(b.reserve(call(1, 0.000001))).toMatchObject({ ok: false, reason: "budget_reserved" });
    expect(r.settle(100, 0.004)).toBeUndefined();
    const r2 = admitted(b.reserve(call(100, 0.02)));
    expect(r2.settle(100, 0.007)).toMatchObject({ limit: "cost", max: 0.01 });
    expect(b.reserve(call(0, 0))).toMatchObject({ ok: false, reason: "budget_exceeded" });
  });

  it("an unlimited budget only caps concurrency", () => {
    const b = new SessionBudget({}, undefined, 1);
    const r = admitted(b.reserve(call(1e9, 1e6)));
    expect(b.reserve(call(1))).toMatchObject({ ok: false, reason: "too_many_calls" });
    r.settle(10);
    expect(b.reserve(call(1e9)).ok).toBe(true);
  });
});
