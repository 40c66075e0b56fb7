// Per-session spending limits (issue: the gateway "enforces per-session budgets"). Each
// model call reserves its maximum before it is sent and settles with the usage the
// provider reported when it ends; once a limit is reached, berth refuses the session's
// further model calls and turns.
//
// Admission rule: a call is admitted while fewer than `maxConcurrent` calls are in flight
// and, for each limit, spent + reserved (the maxima of the calls in flight) is below it.
// So the call that reaches a limit completes (the project's semantics), and whatever the
// interleaving, a session ends at most one call's maximum past a limit. A call refused
// only because in-flight calls hold the remaining room is worth retrying (429); one
// refused because spending reached the limit is not (402).

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

/** The most one model call can spend: its output cap plus its input, in tokens and priced. */
export interface CallMaximum {
  tokens: number;
  costUsd: number;
}

/** An admitted call's hold on the budget; settle it exactly once, however the call ends. */
export interface Reservation {
  /** Releases the hold and charges what the call reported. Returns the breach when this call reached a limit. Later calls do nothing. */
  settle(tokens?: number, costUsd?: number): BudgetExceeded | undefined;
}

export type Admission =
  | { ok: true; reservation: Reservation }
  | { ok: false; reason: "budget_exceeded" | "budget_reserved" | "too_many_calls"; message: string };

export class SessionBudget {
  readonly spent: BudgetSpent;
  /** The maxima of the calls in flight. */
  readonly reserved: BudgetSpent = { tokens: 0, costUsd: 0 };
  private inFlightCalls = 0;
  /** Set once a limit is reached; it stays set (spending only grows). */
  private over?: BudgetExceeded;

  constructor(
    readonly limits: BudgetLimits,
    spent: BudgetSpent = { tokens: 0, costUsd: 0 },
    /** Model calls one session may have in flight at once. */
    readonly maxConcurrent = Infinity,
  ) {
    this.spent = { ...spent };
    this.over = this.evaluate();
  }

  get inFlight(): number {
    return this.inFlightCalls;
  }

  /** Admits a call whose maximum is `max` (see the admission rule above), holding that maximum until it settles. */
  reserve(max: CallMaximum): Admission {
    if (this.over) return { ok: false, reason: "budget_exceeded", message: this.over.message };
    if (this.inFlightCalls >= this.maxConcurrent)
      return { ok: false, reason: "too_many_calls", message: `the session already has ${this.inFlightCalls} model calls in flight, the most it may have; retry when one ends` };
    const { maxTokens, maxCostUsd } = this.limits;
    if (
      (maxTokens !== undefined && this.spent.tokens + this.reserved.tokens >= maxTokens) ||
      (maxCostUsd !== undefined && this.spent.costUsd + this.reserved.costUsd >= maxCostUsd)
    )
      return { ok: false, reason: "budget_reserved", message: "the rest of the session's budget is held by its model calls in flight; retry when one ends" };
    const held = { tokens: Math.max(0, max.tokens), costUsd: Math.max(0, max.costUsd) };
    this.inFlightCalls++;
    this.reserved.tokens += held.tokens;
    this.reserved.costUsd += held.costUsd;
    let settled = false;
    return {
      ok: true,
      reservation: {
        settle: (tokens = 0, costUsd = 0) => {
          if (settled) return undefined;
          settled = true;
          this.inFlightCalls--;
          this.reserved.tokens -= held.tokens;
          this.reserved.costUsd -= held.costUsd;
          // No float residue once nothing is in flight.
          if (this.inFlightCalls === 0) this.reserved.tokens = this.reserved.costUsd = 0;
          return this.charge(tokens, costUsd);
        },
      },
    };
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
