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
