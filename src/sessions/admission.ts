import type { CallAdmission, CallRequest } from "../gateway/gateway.js";
import { computeCost, type ModelPrice } from "../wire/usage/cost.js";
import type { BudgetExceeded, SessionBudget } from "./budget.js";

// The gateway asks before it sends a session's model call. What a session may do is one
// value (its models, its price, its budget), so that minting a gateway token can later
// register it with the gateway directly instead of the gateway asking the manager.

/** What one session's gateway token may spend, and on what. */
export interface CallScope {
  /** The model names the session's route answers to (the upstream name, and the one asked for). */
  models: readonly string[];
  /** The route's price: every admitted call is priced with it (its model is pinned). */
  price?: ModelPrice;
  budget: SessionBudget;
}

/**
 * Admits a call naming one of the scope's models, holding its maximum on the budget (see
 * the admission rule in budget.ts). 403 for another model, 402 for a spent budget (not
 * worth retrying), 429 with Retry-After for a full concurrency cap or a budget held by
 * calls in flight (worth retrying). `onBreach` runs once, for the call that reaches a limit.
 */
export function admitCall(scope: CallScope, call: CallRequest, onBreach: (b: BudgetExceeded) => void): CallAdmission {
  if (!call.model || !scope.models.includes(call.model))
    return {
      ok: false,
      status: 403,
      code: "model_not_allowed",
      message: `this session may call model ${scope.models[0]} only${call.model ? `, not ${call.model.slice(0, 100)}` : ", and the request names no model"}`,
    };
  const costUsd = computeCost({ inputTokens: call.inputTokens, outputTokens: call.outputTokens, cacheReadTokens: 0, cacheWriteTokens: 0 }, scope.price) ?? 0;
  const a = scope.budget.reserve({ tokens: call.inputTokens + call.outputTokens, costUsd });
  if (!a.ok)
    return a.reason === "budget_exceeded"
      ? { ok: false, status: 402, code: "budget_exceeded", message: a.message }
      : { ok: false, status: 429, code: a.reason, message: a.message, retryAfterSeconds: 1 };
  return {
    ok: true,
    ...(scope.price ? { price: scope.price } : {}),
    settle: (usage) => {
      const breach = a.reservation.settle(usage?.tokens, usage?.costUsd);
      if (breach) onBreach(breach);
    },
  };
}
