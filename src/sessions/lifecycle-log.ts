import type { Logger } from "pino";
import type { NewEvent } from "../events/types.js";

/**
 * One log line per step of a session's life, from the events that record it: created
 * (with harness, model, tier, pool), ready, ended, failed, interrupted; turn started and
 * ended (with the stop reason); permission asked and answered; errors. Every line carries
 * `sessionId` (and `turnId` where there is one), so an operator can follow one session
 * through the server log. Event data is already redacted; the logger redacts once more.
 */
export function logLifecycle(logger: Logger, sessionId: string, ev: NewEvent): void {
  const ids = { sessionId, ...(ev.turnId ? { turnId: ev.turnId } : {}) };
  switch (ev.type) {
    case "session.status": {
      const { state, reason, detail } = ev.data;
      if (detail) return void logger.debug({ ...ids, state, detail }, "session progress");
      if (state === "starting" && "harness" in ev.data) {
        const { harness, model, provider, tier, pool } = ev.data as Record<string, unknown>;
        return void logger.info({ ...ids, harness, model, provider, tier, ...(pool ? { pool } : {}) }, "session created");
      }
      const level = state === "failed" ? "warn" : "info";
      return void logger[level]({ ...ids, state, ...(reason ? { reason } : {}) }, `session ${state}`);
    }
    case "turn.started":
      return void logger.info({ ...ids, idx: ev.data.idx }, "turn started");
    case "turn.ended":
      return void logger.info({ ...ids, stopReason: ev.data.stopReason }, "turn ended");
    case "permission.requested":
      return void logger.info({ ...ids, permissionId: ev.data.permissionId, policy: ev.data.policy, tool: ev.data.toolCall.title ?? undefined, kind: ev.data.toolCall.kind ?? undefined }, "permission asked");
    case "permission.resolved":
      return void logger.info({ ...ids, permissionId: ev.data.permissionId, outcome: ev.data.outcome, optionId: ev.data.optionId, by: ev.data.by }, "permission answered");
    case "session.error":
      return void logger.warn({ ...ids, code: ev.data.code, message: ev.data.message }, "session error");
    default:
      return;
  }
}
