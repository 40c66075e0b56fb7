// The session's records as the API shows them (sessions/contract.ts): public fields only.
import type { SessionView, TurnView } from "./contract.js";
import type { SessionRecord, TurnRecord } from "./types.js";

/** A session as the API shows it: the record's public fields and its settings' visible ones. */
export function toSessionView(
  s: SessionRecord,
  lastSeq: number,
  spent: () => { tokens: number; costUsd: number },
  extra: { waitingForPermission?: number; turns?: number } = {},
): SessionView {
  const { settings } = s;
  const used = spent();
  return {
    id: s.id,
    harness: s.harness,
    harnessVersion: s.harnessVersion,
    model: s.model,
    tier: s.tier,
    workspace: s.workspace,
    state: s.state,
    acpSessionId: s.acpSessionId,
    error: s.error,
    permissionPolicy: settings.permissionPolicy,
    metadata: settings.metadata,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    lastSeq,
    ...((settings.route ?? settings.provider) ? { provider: settings.route ?? settings.provider } : {}),
    turns: extra.turns ?? 0,
    waitingForPermission: extra.waitingForPermission ?? 0,
    spent: used,
    ...(settings.budget ? { budget: { ...settings.budget, spent: used } } : {}),
    ...(settings.deadlines ? { deadlines: settings.deadlines } : {}),
    ...(settings.pool ? { pool: settings.pool } : {}),
  };
}

/** A turn as the API shows it. */
export function toTurnView(t: TurnRecord): TurnView {
  return { ...t, prompt: t.prompt as TurnView["prompt"] };
}
