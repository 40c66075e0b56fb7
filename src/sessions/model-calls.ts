import type { NewEvent } from "../events/types.js";
import { singleRoute, type ModelCallRecord, type SessionScope } from "../gateway/gateway.js";
import { admitCall } from "./admission.js";
import type { LiveSession } from "./turn-runner.js";

/**
 * What the session's gateway token may do, registered when it is minted: its route, its
 * model pinned and priced, its budget reservation (sessions/budget.ts), and its call record.
 * Settling charges the reported usage; the call that reaches a limit emits the error.
 */
export function gatewayScope(live: LiveSession, emit: (sessionId: string, ev: NewEvent) => void, onCall: (rec: ModelCallRecord) => void): SessionScope {
  const { model, requestedModel, price, provider, api, baseUrl, auth, headers } = live.route;
  return {
    upstream: singleRoute({ provider, api, baseUrl, auth, headers }),
    admit: (call) =>
      admitCall({ models: [model, requestedModel], ...(price ? { price } : {}), budget: live.budget }, call, (breach) =>
        emit(live.id, { type: "session.error", turnId: live.running, data: { code: "budget_exceeded", ...breach } }),
      ),
    onCall,
  };
}

/** A model call's events: its record under the running turn, and an error when it failed. */
export function modelCallEvents(rec: ModelCallRecord, turnId: string | undefined): NewEvent[] {
  const { sessionId: _sessionId, ...data } = rec;
  const events: NewEvent[] = [{ type: "model.call", turnId, data: { ...data } }];
  // Harnesses differ in how (or whether) they surface a failed model call; berth always does.
  if (rec.status >= 400)
    events.push({
      type: "session.error",
      turnId,
      data: { code: "model_call_failed", status: rec.status, provider: rec.provider, message: rec.error ?? `HTTP ${rec.status}` },
    });
  return events;
}
