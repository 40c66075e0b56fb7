// Per-session spending limits (issue: the gateway "enforces per-session budgets"). The
// gateway reports each model call's usage and cost; the budget adds them up and, once a
// limit is reached, berth refuses the session's further model calls and turns.

/** Limits a session may not exceed; absent fields are unlimited. */
export interface BudgetLimits {
  /** Tokens the provider reported: input (cached included) + output. */
  maxTokens?: number;
  /** USD, priced from the provider registry's table for the session's model. */
  maxCostUsd?: number;
}

export interface BudgetSpent {
  tokens: number;
  costUsd: number;
}

export interface BudgetExceeded {
  limit: "tokens" | "cost";
  used: number;
  max: number;
  message: string;
}

export class SessionBudget {
  readonly spent: BudgetSpent;
  /** Set once a limit is reached; it stays set (spending only grows). */
  private over?: BudgetExceeded;

  constructor(
    readonly limits: BudgetLimits,
    spent: BudgetSpent = { tokens: 0, costUsd: 0 },
  ) {
    this.spent = { ...spent };
    this.over = this.evaluate();
  }

  get limited(): boolean {
    return this.limits.maxTokens !== undefined || this.limits.maxCostUsd !== undefined;
  }

  /** Adds one model call. Returns the breach when this call is the one that reached a limit. */
  charge(tokens: number, costUsd = 0): BudgetExceeded | undefined {
    this.spent.tokens += tokens;
    this.spent.costUsd += costUsd;
    if (this.over) return undefined;
    this.over = this.evaluate();
    return this.over;
  }

  /** Why the session may spend no more, or undefined while it may. */
  exceeded(): BudgetExceeded | undefined {
    return this.over;
  }

  private evaluate(): BudgetExceeded | undefined {
    const { maxTokens, maxCostUsd } = this.limits;
    if (maxTokens !== undefined && this.spent.tokens >= maxTokens)
      return {
        limit: "tokens",
        used: this.spent.tokens,
        max: maxTokens,
        message: `the session's token budget is spent: ${this.spent.tokens} of ${maxTokens} tokens used; berth refuses its further model calls`,
      };
    if (maxCostUsd !== undefined && this.spent.costUsd >= maxCostUsd)
      return {
        limit: "cost",
        used: round(this.spent.costUsd),
        max: maxCostUsd,
        message: `the session's cost budget is spent: $${round(this.spent.costUsd)} of $${maxCostUsd} used; berth refuses its further model calls`,
      };
    return undefined;
  }
}

function round(usd: number): number {
  return Math.round(usd * 1e6) / 1e6;
}
